"""Small HTML building blocks shared by the pages."""

from __future__ import annotations

from typing import Iterable, Mapping

from dash import html

from dashboard.formatting import format_value


def reward_breakdown_table(components: Mapping[str, float], total: float) -> html.Table:
    """Build the table of weighted reward components, largest magnitude first, with the total."""
    ordered = sorted(components.items(), key=lambda item: (-abs(item[1]), item[0]))
    rows = [html.Tr([html.Td(name), html.Td(format_value(value), className="number")]) for name, value in ordered]
    rows.append(html.Tr([html.Th("total"), html.Th(format_value(total), className="number")], className="total-row"))
    return html.Table(
        [html.Thead(html.Tr([html.Th("Component"), html.Th("Weighted value")])), html.Tbody(rows)],
        className="compact-table",
    )


def value_table(rows: Iterable[tuple[str, object]]) -> html.Table:
    """Build a two-column table of labels and formatted values."""
    return html.Table(
        html.Tbody([html.Tr([html.Th(label), html.Td(format_value(value), className="number")]) for label, value in rows]),
        className="annotation-table",
    )


def alert(component_id: str, kind: str = "error") -> html.Div:
    """Build a hidden message box that a callback fills and shows; ``kind`` is ``error``, ``info`` or ``success``."""
    return html.Div(id=component_id, className=f"alert alert-{kind}", role="alert", hidden=True)

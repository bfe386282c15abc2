"""Drawing of water graphs with dash-cytoscape, shared by every page.

The functions here turn a :class:`~engine.graphs.WaterGraph`, fixed node
positions and an optional highlight into cytoscape elements. Positions are
computed once per drawing (for a pathway: once, from its final graph) and
passed in, so a water keeps its place on the screen while the graph grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import dash_cytoscape as cyto
import networkx as nx
from dash import html

from engine.descriptors import RING_SIZES
from engine.graphs import WaterGraph

#: Node position in cytoscape pixels, ``(x, y)``.
Position = tuple[float, float]

#: Pixels per layout unit. The layout spans about ``2 * sqrt(n_waters)`` units, so
#: neighbours end up a few node diameters apart at zoom 1.
LAYOUT_SCALE_PX = 60.0

#: Fill colour per undirected degree (viridis steps); the last one is for that degree and above.
DEGREE_COLOURS = ("#bdbdbd", "#fde725", "#7ad151", "#22a884", "#2a788e", "#414487")
NEW_COLOUR = "#d62728"
RING_BORDER_COLOUR = "#1b1b1b"
EDGE_COLOUR = "#8a8a8a"


@dataclass(frozen=True)
class Highlight:
    """Elements added by the last step, drawn in a distinct style.

    Attributes:
        new_water: Index of the water added in this step, or None.
        new_bond: The ``(donor, acceptor)`` bond added in this step, or None.
    """

    new_water: int | None = None
    new_bond: tuple[int, int] | None = None


def highlight_for_action(n_waters: int, donor: int, acceptor: int, new_water: bool) -> Highlight:
    """Build the highlight of a step that added ``donor -> acceptor`` and left ``n_waters`` waters.

    A new water always takes the next free index, so after the step it is
    the last water, ``n_waters - 1``.
    """
    return Highlight(new_water=n_waters - 1 if new_water else None, new_bond=(donor, acceptor))


def layout_positions(graph: WaterGraph, scale: float = LAYOUT_SCALE_PX) -> dict[int, Position]:
    """Place every water of ``graph`` in the plane with the Kamada-Kawai layout.

    The layout is deterministic (networkx starts from a circle), so the same
    graph always gets the same positions.

    Returns:
        Water index to ``(x, y)`` in pixels, rounded to 0.1 px.
    """
    raw = nx.kamada_kawai_layout(graph.to_networkx(), scale=graph.n_waters ** 0.5)
    return {int(node): (round(float(x) * scale, 1), round(float(y) * scale, 1)) for node, (x, y) in raw.items()}


def ring_membership(graph: WaterGraph) -> dict[int, tuple[int, ...]]:
    """Map each water to the sizes of the chordless rings of 3 to 6 waters it belongs to.

    Waters in no ring are left out. Rings are the same ones that
    :func:`engine.descriptors.ring_counts` counts.
    """
    sizes: dict[int, set[int]] = {}
    for cycle in nx.chordless_cycles(graph.to_networkx(), length_bound=max(RING_SIZES)):
        if len(cycle) in RING_SIZES:
            for water in cycle:
                sizes.setdefault(int(water), set()).add(len(cycle))
    return {water: tuple(sorted(found)) for water, found in sorted(sizes.items())}


def degree_class(degree: int) -> str:
    """Return the CSS class of a node of this undirected degree."""
    return f"degree-{min(int(degree), len(DEGREE_COLOURS) - 1)}"


def node_label(water: int, rings: tuple[int, ...]) -> str:
    """Return the node label: the water index, then the ring sizes it belongs to."""
    if not rings:
        return str(water)
    return f"{water} ({', '.join(str(size) for size in rings)})"


def graph_elements(
    graph: WaterGraph,
    positions: Mapping[int, Position],
    highlight: Highlight | None = None,
    placeholders: bool = False,
) -> list[dict]:
    """Build the cytoscape elements of a water graph: one node per water, one edge per bond.

    Args:
        graph: The water graph to draw.
        positions: Water index to ``(x, y)`` pixels, for at least every water of ``graph``.
        highlight: The new water and bond of this step, drawn in red.
        placeholders: Add an invisible node at every position that no water
            of ``graph`` uses. The view then fits the same area at every
            step of a pathway, so the waters stay in place on the screen.

    Raises:
        ValueError: if a water of ``graph`` has no position.
    """
    highlight = highlight or Highlight()
    missing = [water for water in range(graph.n_waters) if water not in positions]
    if missing:
        raise ValueError(f"no position for waters {missing} of a graph of {graph.n_waters} waters")

    degrees = graph.degrees()
    rings = ring_membership(graph)
    elements = []
    for water in range(graph.n_waters):
        classes = [degree_class(degrees[water])]
        if water in rings:
            classes.append("in-ring")
        if water == highlight.new_water:
            classes.append("new-water")
        x, y = positions[water]
        elements.append(
            {
                "data": {
                    "id": f"w{water}",
                    "label": node_label(water, rings.get(water, ())),
                    "degree": int(degrees[water]),
                    "rings": list(rings.get(water, ())),
                },
                "position": {"x": x, "y": y},
                "classes": " ".join(classes),
            }
        )
    if placeholders:
        for slot, (x, y) in sorted(positions.items()):
            if slot >= graph.n_waters:
                elements.append(
                    {"data": {"id": f"slot{slot}", "label": ""}, "position": {"x": x, "y": y}, "classes": "placeholder"}
                )
    for index, (donor, acceptor) in enumerate(graph.hbonds):
        is_new = (donor, acceptor) == highlight.new_bond
        elements.append(
            {
                # The index keeps ids unique when a file repeats a bond.
                "data": {"id": f"b{index}-{donor}-{acceptor}", "source": f"w{donor}", "target": f"w{acceptor}"},
                "classes": "hbond new-bond" if is_new else "hbond",
            }
        )
    return elements


def stylesheet() -> list[dict]:
    """Return the cytoscape stylesheet: degree colours, ring borders, arrows and the highlight."""
    styles = [
        {
            "selector": "node",
            "style": {
                "label": "data(label)",
                "width": 30,
                "height": 30,
                "font-size": 13,
                # Below and to the right of the node, outlined rather than boxed,
                # so that arrowheads arriving from below stay visible.
                "text-valign": "bottom",
                "text-halign": "right",
                "text-margin-x": -6,
                "text-margin-y": -2,
                "color": "#1b1b1b",
                "text-outline-color": "#ffffff",
                "text-outline-width": 2,
                "border-width": 1,
                "border-color": "#6b6b6b",
            },
        },
        {
            "selector": "edge",
            "style": {
                "width": 2,
                "line-color": EDGE_COLOUR,
                "target-arrow-color": EDGE_COLOUR,
                "target-arrow-shape": "triangle",
                "arrow-scale": 1.2,
                "curve-style": "bezier",
            },
        },
    ]
    for degree, colour in enumerate(DEGREE_COLOURS):
        styles.append({"selector": f".degree-{degree}", "style": {"background-color": colour}})
    styles += [
        {"selector": ".in-ring", "style": {"border-width": 4, "border-color": RING_BORDER_COLOUR}},
        {
            "selector": ".new-water",
            "style": {"width": 40, "height": 40, "shape": "star", "border-width": 4, "border-color": NEW_COLOUR},
        },
        {
            "selector": ".new-bond",
            "style": {"width": 6, "line-color": NEW_COLOUR, "target-arrow-color": NEW_COLOUR, "z-index": 10},
        },
        {"selector": ".placeholder", "style": {"opacity": 0, "events": "no"}},
    ]
    return styles


def degree_legend_entries() -> list[tuple[str, str]]:
    """Return ``(label, colour)`` pairs of the degree colours, the last one open-ended."""
    last = len(DEGREE_COLOURS) - 1
    return [(f"{degree}+" if degree == last else str(degree), colour) for degree, colour in enumerate(DEGREE_COLOURS)]


def legend() -> html.Div:
    """Build the legend of degree colours, ring borders and the highlight."""
    swatches = [
        html.Span([html.Span(className="swatch", style={"backgroundColor": colour}), label], className="legend-item")
        for label, colour in degree_legend_entries()
    ]
    return html.Div(
        [
            html.Span("Degree:", className="legend-title"),
            *swatches,
            html.Span([html.Span(className="swatch swatch-ring"), "in a ring (sizes in brackets)"], className="legend-item"),
            html.Span([html.Span(className="swatch swatch-new"), "new water / bond"], className="legend-item"),
            html.Span("Arrows point from donor to acceptor.", className="legend-item"),
        ],
        className="legend",
    )


def graph_component(component_id: str, height_px: int = 460) -> cyto.Cytoscape:
    """Build a cytoscape component that draws elements at their preset positions."""
    return cyto.Cytoscape(
        id=component_id,
        elements=[],
        layout={"name": "preset", "fit": True, "padding": 40},
        stylesheet=stylesheet(),
        style={"width": "100%", "height": f"{height_px}px"},
        minZoom=0.2,
        maxZoom=4.0,
        autoungrabify=True,
        userZoomingEnabled=True,
    )

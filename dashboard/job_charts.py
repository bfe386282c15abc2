"""Charts of training jobs: surrogate loss curves, policy returns, parity and error per size.

Every function is pure. It takes the rows of a ``metrics.csv`` (see
:func:`dashboard.jobs_data.read_metrics`) or a surrogate's
``test_report.json`` and returns a plotly figure. A figure built for a
job keeps the user's zoom across refreshes through ``uirevision``.
"""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

CHART_HEIGHT_PX = 360
TRAIN_COLOUR = "#2a788e"
VALIDATION_COLOUR = "#e08a00"
MAE_COLOUR = "#7a3e9d"
RETURN_COLOUR = "#9fb7c4"
BEST_COLOUR = "#d62728"
#: Name in ``test_report.json``, legend label and colour of the model and each baseline.
PREDICTORS = (
    ("model", "Surrogate", "#2a788e"),
    ("per_size_mean", "Per-size mean baseline", "#b0b0b0"),
    ("linear_descriptors", "Linear-descriptor baseline", "#e08a00"),
)
#: Key of the model's prediction in a parity point of ``test_report.json``.
PARITY_MODEL_KEY = "predicted"


def _style(figure: go.Figure, uirevision: str, height_px: int = CHART_HEIGHT_PX) -> go.Figure:
    figure.update_layout(
        margin={"l": 60, "r": 10, "t": 30, "b": 45},
        height=height_px,
        plot_bgcolor="#ffffff",
        uirevision=uirevision,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
    )
    figure.update_xaxes(gridcolor="#eeeeee", zerolinecolor="#cccccc")
    figure.update_yaxes(gridcolor="#eeeeee", zerolinecolor="#cccccc")
    return figure


def empty_chart(message: str, height_px: int = CHART_HEIGHT_PX) -> go.Figure:
    """Build a blank chart that shows ``message`` in its middle."""
    figure = go.Figure()
    figure.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 14})
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return _style(figure, "empty", height_px)


#: Up to this many epochs or episodes, the x axis has a tick at every whole number.
MAX_WHOLE_TICKS = 20


def _column(rows: Sequence[dict], name: str) -> list[float | None]:
    return [row.get(name) for row in rows]


def _whole_number_ticks(figure: go.Figure, n_values: int) -> None:
    """Put x ticks on whole numbers only: one per value when there are few, else the automatic ticks as integers."""
    if n_values <= MAX_WHOLE_TICKS:
        figure.update_xaxes(dtick=1)
    else:
        figure.update_xaxes(tickformat="d")


def surrogate_loss_figure(rows: Sequence[dict], uirevision: str = "surrogate") -> go.Figure:
    """Build the surrogate's loss curves: train and validation loss (log scale) above the validation MAE.

    Args:
        rows: Rows of the model folder's ``metrics.csv``.
        uirevision: Key that keeps the user's zoom while it stays the same, such as the job id.
    """
    if not rows:
        return empty_chart("No epoch has finished yet.")
    epochs = _column(rows, "epoch")
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4])
    figure.add_trace(
        go.Scatter(x=epochs, y=_column(rows, "train_loss"), mode="lines+markers", name="train loss",
                   line={"color": TRAIN_COLOUR}),
        row=1, col=1,
    )
    figure.add_trace(
        go.Scatter(x=epochs, y=_column(rows, "validation_loss"), mode="lines+markers", name="validation loss",
                   line={"color": VALIDATION_COLOUR}),
        row=1, col=1,
    )
    figure.add_trace(
        go.Scatter(x=epochs, y=_column(rows, "validation_mae_kcal_mol"), mode="lines+markers",
                   name="validation MAE (kcal/mol)", line={"color": MAE_COLOUR}),
        row=2, col=1,
    )
    figure.update_yaxes(title_text="loss (scaled)", type="log", row=1, col=1)
    figure.update_yaxes(title_text="MAE (kcal/mol)", row=2, col=1)
    figure.update_xaxes(title_text="epoch", row=2, col=1)
    _whole_number_ticks(figure, len(rows))
    return _style(figure, uirevision, height_px=420)


def policy_figure(rows: Sequence[dict], uirevision: str = "policy") -> go.Figure:
    """Build the policy training curves: the return of each episode and the best final reward so far.

    Args:
        rows: Rows of the policy folder's ``metrics.csv``.
        uirevision: Key that keeps the user's zoom while it stays the same, such as the job id.
    """
    if not rows:
        return empty_chart("No episode has finished yet.")
    episodes = _column(rows, "episode")
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(x=episodes, y=_column(rows, "return"), mode="markers", name="return",
                   marker={"color": RETURN_COLOUR, "size": 5})
    )
    figure.add_trace(
        go.Scatter(x=episodes, y=_column(rows, "best_final_reward"), mode="lines", name="best final reward",
                   line={"color": BEST_COLOUR, "width": 2})
    )
    figure.update_xaxes(title_text="episode")
    _whole_number_ticks(figure, len(rows))
    figure.update_yaxes(title_text="reward")
    return _style(figure, uirevision)


def parity_figure(report: dict, uirevision: str = "parity") -> go.Figure:
    """Build the parity plot of the test clusters: true against predicted energy, with the diagonal.

    The baselines' predictions are in the legend, hidden until clicked.
    """
    points = [point for point in report.get("parity") or [] if isinstance(point, dict)]
    if not points:
        return empty_chart("The test report has no parity data.")
    true = [point.get("energy") for point in points]
    figure = go.Figure()
    for key, label, colour in PREDICTORS:
        value_key = PARITY_MODEL_KEY if key == "model" else key
        if not all(value_key in point for point in points):
            continue
        figure.add_trace(
            go.Scatter(
                x=true,
                y=[point[value_key] for point in points],
                mode="markers",
                name=label,
                marker={"color": colour, "size": 7, "opacity": 0.8},
                customdata=[[point.get("n_waters"), point.get("frame")] for point in points],
                hovertemplate="true %{x:.2f}, predicted %{y:.2f} kcal/mol<br>%{customdata[0]} waters, frame %{customdata[1]}",
                visible=True if key == "model" else "legendonly",
            )
        )
    finite = [value for value in true if isinstance(value, (int, float))]
    if finite:
        low, high = min(finite), max(finite)
        figure.add_trace(
            go.Scatter(x=[low, high], y=[low, high], mode="lines", name="true = predicted",
                       line={"color": "#555555", "dash": "dash", "width": 1})
        )
    figure.update_xaxes(title_text="true energy (kcal/mol)")
    figure.update_yaxes(title_text="predicted energy (kcal/mol)")
    return _style(figure, uirevision)


def mae_by_size_figure(report: dict, uirevision: str = "mae-by-size") -> go.Figure:
    """Build grouped bars of the test MAE per cluster size for the surrogate and each baseline."""
    sizes = [row for row in report.get("per_size") or [] if isinstance(row, dict)]
    if not sizes:
        return empty_chart("The test report has no per-size errors.")
    figure = go.Figure()
    labels = [str(row.get("n_waters")) for row in sizes]
    for key, label, colour in PREDICTORS:
        values = [row[key].get("mae") if isinstance(row.get(key), dict) else None for row in sizes]
        if all(value is None for value in values):
            continue
        figure.add_trace(go.Bar(x=labels, y=values, name=label, marker={"color": colour}))
    figure.update_layout(barmode="group")
    figure.update_xaxes(title_text="waters", type="category")
    figure.update_yaxes(title_text="test MAE (kcal/mol)")
    return _style(figure, uirevision)


def summary_rows(report: dict) -> list[tuple[str, object]]:
    """Return label and value pairs of the overall test errors: counts, then MAE and RMSE of each predictor."""
    overall = report.get("overall") or {}
    rows: list[tuple[str, object]] = [
        ("Training clusters", report.get("n_train")),
        ("Test clusters", report.get("n_test")),
    ]
    for key, label, _ in PREDICTORS:
        errors = overall.get(key)
        if isinstance(errors, dict):
            rows.append((f"{label}: MAE (kcal/mol)", errors.get("mae")))
            rows.append((f"{label}: RMSE (kcal/mol)", errors.get("rmse")))
    return rows

"""Reward page: set the reward weights and see how well the reward ranks a dataset's clusters by energy.

Component ids start with ``reward-``. The page owns the app-level
``reward-weights`` store (:func:`weights_store`), kept in the browser's
session storage, which contains the last valid weights. The Pathways page
reads it to re-score a pathway. The weights include the
surrogate's weight and model; the Train and Jobs pages set the model when
the user chooses one there. The dataset choice lives in the
``reward-source`` store, also in session storage (see
:mod:`dashboard.reward_data` for its forms).

The callbacks are in :mod:`dashboard.reward_callbacks`, and this module
re-exports their :func:`register_callbacks` like the other pages do.
"""

from __future__ import annotations

from dash import dcc, html

from engine.reward import COMPONENT_GROUPS, DEFAULT_WEIGHTS

from dashboard import graph_view
from dashboard.reward_callbacks import NO_SELECTION, register_callbacks
from dashboard.reward_ids import ALL_SIZES, WEIGHTS_STORE, box_id, slider_id
from dashboard.reward_logic import (
    DEFAULT_SEED,
    DEFAULT_TOP_K,
    DEGREE_TARGET,
    DEGREE_TARGET_STEP,
    FIELD_LABELS,
    GROUP_TITLES,
    SURROGATE,
    TRAIN_FRACTION,
    WEIGHT_STEP,
    form_for_weights,
    slider_range,
)
from dashboard.uploads import CLUSTER_SUFFIXES

__all__ = ["layout", "register_callbacks", "weights_store"]


def weights_store() -> dcc.Store:
    """Build the store of the current weights, which the app shell contains so that every page can read it."""
    return dcc.Store(id=WEIGHTS_STORE, storage_type="session", data=DEFAULT_WEIGHTS.to_dict())


def alert(component_id: str, kind: str = "error") -> html.Div:
    """Build a hidden message box that a callback fills and shows."""
    return html.Div(id=component_id, className=f"alert alert-{kind}", role="alert", hidden=True)


# Layout ---------------------------------------------------------------------


def dataset_card() -> html.Div:
    """Build the dataset choice: default, upload, server path, and the progress of a table computation."""
    upload = dcc.Upload(
        id="reward-upload",
        children=html.Div(["Drop an .xyz or .extxyz file here or ", html.A("choose a file")]),
        className="upload-box",
        accept=",".join(CLUSTER_SUFFIXES),
        multiple=False,
    )
    path_row = html.Div(
        [
            html.Label("File on the server", htmlFor="reward-path"),
            dcc.Input(
                id="reward-path",
                type="text",
                placeholder=".xyz, .extxyz, .db, .tfrecord or .tfrecord.gz file",
                className="path-input",
                debounce=True,
            ),
            html.Button("Load file", id="reward-path-load", className="button"),
        ],
        className="control-row",
    )
    progress = html.Div(
        [
            html.Progress(id="reward-progress", value="0", max="1", className="progress-bar"),
            html.Span(id="reward-progress-label", className="muted"),
            html.Button("Cancel", id="reward-cancel", className="button", disabled=True),
        ],
        id="reward-progress-box",
        className="control-row progress-row",
        hidden=True,
    )
    return html.Div(
        [
            html.Div(
                [
                    html.Div("Loading the dataset…", id="reward-source-label", className="source-label"),
                    html.Button("Use the default dataset", id="reward-reset", className="button"),
                ],
                className="control-row space-between",
            ),
            upload,
            path_row,
            html.P(
                "Relative paths start at the project folder. A new dataset's reward components are computed "
                "once in the background and cached on disk. The page stays usable meanwhile.",
                className="muted",
            ),
            progress,
            alert("reward-source-error"),
            alert("reward-job-message", "info"),
        ],
        className="card",
    )


def weight_row(field: str, value: float, box_text: str) -> html.Div:
    """Build the label, slider and number box of one form field."""
    low, high = slider_range(field)
    step = DEGREE_TARGET_STEP if field == DEGREE_TARGET else WEIGHT_STEP
    return html.Div(
        [
            html.Label(
                [html.Span(FIELD_LABELS[field]), html.Code(field, className="field-name")],
                htmlFor=box_id(field),
                className="weight-label",
            ),
            dcc.Slider(
                id=slider_id(field),
                min=low,
                max=high,
                step=step,
                value=value,
                marks=None,
                allow_direct_input=False,
                updatemode="mouseup",
                className="weight-slider",
            ),
            dcc.Input(id=box_id(field), type="text", value=box_text, debounce=True, className="weight-box", inputMode="decimal"),
        ],
        className="weight-row",
    )


def weights_card() -> html.Div:
    """Build the preset controls and one slider and box per component, grouped, plus the target degree."""
    form = form_for_weights(DEFAULT_WEIGHTS)
    presets = html.Div(
        [
            html.Div(
                [
                    dcc.Dropdown(id="reward-preset", placeholder="Choose a preset", clearable=False, className="picker"),
                    html.Button("Load", id="reward-preset-load", className="button"),
                ],
                className="control-row",
            ),
            html.Div(
                [
                    dcc.Input(id="reward-preset-name", type="text", placeholder="name, e.g. my-weights", className="name-input"),
                    html.Button("Save as", id="reward-preset-save", className="button"),
                ],
                className="control-row",
            ),
            alert("reward-preset-message"),
        ]
    )
    groups = []
    for group, names in COMPONENT_GROUPS.items():
        fields = list(names) + ([DEGREE_TARGET] if group == "punishments" else [])
        groups.append(
            html.Fieldset(
                [html.Legend(GROUP_TITLES[group])]
                + [weight_row(field, form.sliders[field], form.boxes[field]) for field in fields],
                className="weight-group",
            )
        )
    groups.append(
        html.Fieldset(
            [
                html.Legend("Surrogate"),
                html.P(id="reward-surrogate-model", className="muted"),
                weight_row(SURROGATE, form.sliders[SURROGATE], form.boxes[SURROGATE]),
                html.P(
                    "The trained surrogate's energy divided by the number of waters. Lower energy is better, "
                    "so a useful weight is negative. Its predictions are computed once per dataset and model.",
                    className="muted",
                ),
            ],
            className="weight-group",
        )
    )
    return html.Div(
        [
            html.H3("Presets"),
            presets,
            html.H3("Weights"),
            html.P(
                "Sliders span −5 to 5. Type any finite number in the box and press Enter. "
                "Punishment values are 0 or negative, so a positive weight lowers the reward.",
                className="muted",
            ),
            alert("reward-weights-error"),
            *groups,
        ],
        className="card weights-card",
    )


def agreement_cards() -> html.Div:
    """Build the scatter, the agreement table and the Spearman chart."""
    controls = html.Div(
        [
            html.Label("Cluster size", htmlFor="reward-size"),
            dcc.Dropdown(
                id="reward-size",
                options=[{"label": "All sizes", "value": ALL_SIZES}],
                value=ALL_SIZES,
                clearable=False,
                className="size-picker",
            ),
            html.Label("Top-k", htmlFor="reward-top-k"),
            dcc.Input(id="reward-top-k", type="number", min=1, step=1, value=DEFAULT_TOP_K, className="number-input", debounce=True),
        ],
        className="control-row",
    )
    scatter_card = html.Div(
        [
            html.H3("Reward and energy"),
            controls,
            alert("reward-agreement-message", "info"),
            dcc.Graph(id="reward-scatter", config={"displayModeBar": False}, className="chart"),
            html.P(
                "A reward that ranks clusters like their energies puts points on a line from upper left to lower right.",
                className="muted",
            ),
        ],
        className="card",
    )
    table_card = html.Div(
        [
            html.H3("Agreement per size"),
            html.Div(id="reward-agreement-table", className="table-scroll"),
            dcc.Graph(id="reward-spearman-chart", config={"displayModeBar": False}, className="chart"),
        ],
        className="card",
    )
    return html.Div([scatter_card, table_card], className="stack")


def cluster_cards() -> html.Div:
    """Build the graph view and the reward breakdown of the selected cluster."""
    graph_card = html.Div(
        [graph_view.graph_component("reward-graph", height_px=380), graph_view.legend()],
        className="card graph-card",
    )
    detail_card = html.Div(
        [
            html.Div(html.P(NO_SELECTION, className="muted"), id="reward-cluster-details"),
            html.H3("Reward breakdown"),
            dcc.Graph(id="reward-breakdown-chart", config={"displayModeBar": False}, className="chart"),
        ],
        className="card",
    )
    return html.Div([graph_card, detail_card], className="columns columns-wide-left")


def fit_card() -> html.Div:
    """Build the weight fitting controls and results."""
    return html.Div(
        [
            html.H3("Fit weights to the energies"),
            html.P(
                f"Least squares on −energy within each size, on a random {TRAIN_FRACTION:.0%} of the clusters; "
                f"the other {1 - TRAIN_FRACTION:.0%} are held out. The punishments keep weight 1. "
                "The fitted weights replace the form, and you can save them as a preset.",
                className="muted",
            ),
            html.Div(
                [
                    html.Label("Seed", htmlFor="reward-fit-seed"),
                    dcc.Input(id="reward-fit-seed", type="number", min=0, step=1, value=DEFAULT_SEED, className="number-input"),
                    html.Button("Fit weights", id="reward-fit-button", className="button button-primary"),
                ],
                className="control-row",
            ),
            alert("reward-fit-message"),
            dcc.Loading(html.Div(id="reward-fit-results", className="table-scroll"), type="dot"),
        ],
        className="card",
    )


def layout() -> html.Div:
    """Build the Reward page."""
    stores = [
        dcc.Store(id="reward-source", storage_type="session"),
        dcc.Store(id="reward-job-request"),
        dcc.Store(id="reward-job-result"),
        dcc.Store(id="reward-dataset"),
        dcc.Store(id="reward-selected"),
        dcc.Store(id="reward-fit"),
        dcc.Store(id="reward-predictions"),
        dcc.Store(id="reward-preset-version", data=0),
    ]
    return html.Div(
        [
            *stores,
            dataset_card(),
            html.Div([weights_card(), agreement_cards()], className="columns reward-columns"),
            cluster_cards(),
            fit_card(),
        ],
        className="page",
    )

"""Pathways page: step through design pathways and see the graph, descriptors and reward at each step.

Component ids start with ``pathways-``. The pathways shown come from the
``pathways-source`` store: ``None`` for the default pathways, or a stored
upload. The store keeps its value in the browser's session storage, so an
upload stays loaded when the user switches pages or reloads.

The URL ``/pathways?job=<id>`` (or ``/?job=<id>``) opens the pathways file of
a search job, and ``&file=pathways-N.json`` picks one file of an array
search. The job id and file name are validated, and the file must lie in
the job's run folder.

The "Re-score" option scores every step's graph again with the weights set
on the Reward page (the app-level ``reward-weights`` store), draws that
reward next to the one stored in the file, and shows the current step's
re-scored breakdown above the stored one.
"""

from __future__ import annotations

import logging

import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from engine.errors import InputError
from engine.graphs import WaterGraph
from engine.pathways import PathwaysFile, StepRecord
from engine.reward import RewardBreakdown, RewardWeights, score_many

from dashboard import graph_view
from dashboard.components import reward_breakdown_table
from dashboard.context import JOB_PATHWAYS, DashboardContext
from dashboard.formatting import format_histogram, format_value
from dashboard.job_views import DEFAULT_PATHWAYS_FILE, query_value
from dashboard.reward_ids import WEIGHTS_STORE
from dashboard.reward_logic import dashboard_weights, describe_weights
from dashboard.sources import pathway_graphs, pathway_positions, pathways_file
from dashboard.uploads import PATHWAYS_SUFFIXES, StoredUpload, parse_uploaded_pathways, store_bytes

logger = logging.getLogger(__name__)

#: Descriptor field, label and component id of each annotation value.
ANNOTATIONS = (
    ("n_waters", "Waters", "pathways-n-waters"),
    ("n_hbonds", "Hydrogen bonds", "pathways-n-hbonds"),
    ("rings_3", "Rings of 3", "pathways-rings-3"),
    ("rings_4", "Rings of 4", "pathways-rings-4"),
    ("rings_5", "Rings of 5", "pathways-rings-5"),
    ("rings_6", "Rings of 6", "pathways-rings-6"),
    ("connected", "Connected", "pathways-connected"),
    ("diameter", "Diameter (bonds)", "pathways-diameter"),
    ("aspl", "Average shortest path (bonds)", "pathways-aspl"),
    ("wiener_index", "Wiener index", "pathways-wiener-index"),
    ("degree_mean", "Degree mean", "pathways-degree-mean"),
    ("degree_variance", "Degree variance", "pathways-degree-variance"),
    ("reward", "Reward", "pathways-reward"),
)
#: Time between steps while playing, in milliseconds.
PLAY_INTERVAL_MS = 1000
#: Value of the re-score checkbox when it is ticked.
RESCORE = "rescore"
RESCORED_COLOUR = "#e08a00"


# Pure helpers ---------------------------------------------------------------


def pathway_options(pathways: PathwaysFile) -> list[dict]:
    """Return dropdown options, one per pathway: rank, final reward and number of steps."""
    return [
        {
            "label": f"#{pathway.rank}: final reward {format_value(pathway.final_reward)}, {len(pathway.steps)} steps",
            "value": index,
        }
        for index, pathway in enumerate(pathways.pathways)
    ]


def describe_source(name: str, pathways: PathwaysFile) -> str:
    """Return a one-line summary of a pathways file for the page header."""
    parameters = pathways.parameters
    return (
        f"{name}: {len(pathways.pathways)} pathways from {parameters.get('start', 'an unnamed start')} "
        f"to {parameters.get('target_size', '?')} waters (branching {parameters.get('branching', '?')}, "
        f"stopped by {pathways.stopped_by})"
    )


def job_pathways_source(search: str | None) -> dict | None:
    """Return the ``pathways-source`` value for a URL query ``?job=<id>[&file=<name>]``, or None without ``job``."""
    job_id = query_value(search, "job")
    if job_id is None:
        return None
    return {"kind": JOB_PATHWAYS, "job_id": job_id, "file": query_value(search, "file") or DEFAULT_PATHWAYS_FILE}


def step_label(step: int, last_step: int) -> str:
    """Return the step counter text, for example ``Step 3 of 14``."""
    return f"Step {step} of {last_step}"


def action_text(record: StepRecord) -> str:
    """Return what the step did, in words."""
    if record.action is None:
        return f"Start graph: {record.n_waters} waters, {record.n_hbonds} hydrogen bonds"
    action = record.action
    if action.new_water:
        new = record.n_waters - 1
        return f"Added water {new} with hydrogen bond {action.donor} → {action.acceptor}"
    return f"Added hydrogen bond {action.donor} → {action.acceptor}"


def step_highlight(record: StepRecord) -> graph_view.Highlight:
    """Return the highlight of a step's new water and bond (nothing for the start graph)."""
    if record.action is None:
        return graph_view.Highlight()
    action = record.action
    return graph_view.highlight_for_action(record.n_waters, action.donor, action.acceptor, action.new_water)


def annotation_values(record: StepRecord) -> list[str]:
    """Return the display text of every :data:`ANNOTATIONS` field of a step, in that order."""
    return [format_value(getattr(record, field)) for field, _, _ in ANNOTATIONS]


def next_step(trigger: str | None, step: int, last_step: int, playing: bool) -> tuple[int, bool]:
    """Compute the step and play state after a control event.

    Args:
        trigger: Id of the component that fired: previous, next, play, the
            play interval, or anything else (a new pathway) to go to step 0.
        step: Current step.
        last_step: Index of the pathway's last step.
        playing: Whether the pathway is playing.

    Returns:
        ``(step, playing)``. Playing stops at the last step and on Previous or Next.
    """
    if trigger == "pathways-prev":
        return max(0, step - 1), False
    if trigger == "pathways-next":
        return min(last_step, step + 1), False
    if trigger == "pathways-play":
        if playing:
            return step, False
        return (0 if step >= last_step else step), last_step > 0
    if trigger == "pathways-play-interval":
        if not playing:
            return step, False
        step = min(last_step, step + 1)
        return step, step < last_step
    return 0, False


def rescore_steps(graphs: list[WaterGraph], weights: RewardWeights) -> list[RewardBreakdown]:
    """Return the reward breakdown of every step's water graph under ``weights``, scored in one batch."""
    return score_many(list(graphs), weights)


def breakdown_tables(record: StepRecord, rescored: RewardBreakdown | None) -> html.Div | html.Table:
    """Build the step's stored breakdown table, preceded by its re-scored breakdown when there is one."""
    stored = reward_breakdown_table(record.reward_components, record.reward)
    if rescored is None:
        return stored
    return html.Div(
        [
            html.H4("Re-scored with the Reward page's weights"),
            reward_breakdown_table(rescored.components, rescored.total),
            html.H4("Stored in the pathways file"),
            stored,
        ]
    )


def reward_figure(pathway_steps: list[StepRecord], current: int, rescored: list[float] | None = None) -> go.Figure:
    """Build the reward-per-step line chart with the current step marked.

    Args:
        pathway_steps: The steps of one pathway.
        current: Index of the step to mark.
        rescored: Reward of every step under other weights, drawn as a
            second line next to the stored reward; None for none.
    """
    steps = [record.step for record in pathway_steps]
    rewards = [record.reward for record in pathway_steps]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=steps, y=rewards, mode="lines+markers", name="stored reward", line={"color": "#2a788e"}))
    if rescored is not None:
        figure.add_trace(
            go.Scatter(
                x=steps,
                y=rescored,
                mode="lines+markers",
                name="re-scored",
                line={"color": RESCORED_COLOUR, "dash": "dash"},
                marker={"symbol": "diamond"},
            )
        )
    figure.add_trace(
        go.Scatter(
            x=[steps[current]],
            y=[rewards[current]],
            mode="markers",
            name="current step",
            showlegend=False,
            marker={"color": graph_view.NEW_COLOUR, "size": 14, "symbol": "circle-open", "line": {"width": 3}},
        )
    )
    figure.add_vline(x=steps[current], line={"color": graph_view.NEW_COLOUR, "dash": "dot", "width": 1})
    figure.update_layout(
        margin={"l": 50, "r": 10, "t": 10, "b": 40},
        height=260,
        showlegend=rescored is not None,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        xaxis={"title": "step", "dtick": 1, "range": [steps[0] - 0.5, steps[-1] + 0.5]},
        yaxis={"title": "reward"},
        plot_bgcolor="#ffffff",
    )
    figure.update_xaxes(gridcolor="#eeeeee")
    figure.update_yaxes(gridcolor="#eeeeee")
    return figure


def alternatives_table(record: StepRecord) -> html.Table | html.P:
    """Build the table of alternatives the search considered at a step."""
    if not record.alternatives:
        return html.P("The start graph has no alternatives.", className="muted")
    rows = [
        html.Tr(
            [
                html.Td(str(alternative.donor)),
                html.Td(str(alternative.acceptor)),
                html.Td(format_value(alternative.score), className="number"),
                html.Td("yes" if alternative.chosen else "", className="chosen" if alternative.chosen else ""),
            ],
            className="chosen-row" if alternative.chosen else "",
        )
        for alternative in record.alternatives
    ]
    header = html.Thead(html.Tr([html.Th("Donor"), html.Th("Acceptor"), html.Th("Score"), html.Th("Chosen")]))
    return html.Table([header, html.Tbody(rows)], className="compact-table")


# Layout ---------------------------------------------------------------------


def annotation_panel() -> html.Div:
    """Build the descriptor table whose value cells the step callback fills."""
    rows = [
        html.Tr([html.Th(label), html.Td(id=component_id, className="number")]) for _, label, component_id in ANNOTATIONS
    ]
    rows.insert(
        -1,
        html.Tr([html.Th("Degree histogram (degree: waters)"), html.Td(id="pathways-degree-histogram", className="number")]),
    )
    return html.Div(
        [
            html.H3("Descriptors"),
            html.Table(html.Tbody(rows), className="annotation-table"),
            html.H3("Reward breakdown"),
            html.Div(id="pathways-reward-breakdown"),
        ],
        className="card",
    )


def layout() -> html.Div:
    """Build the Pathways page."""
    upload = dcc.Upload(
        id="pathways-upload",
        children=html.Div(["Drop a pathways JSON file here or ", html.A("choose a file")]),
        className="upload-box",
        accept=",".join(PATHWAYS_SUFFIXES),
        multiple=False,
    )
    source = html.Div(
        [
            html.Div(id="pathways-source-label", className="source-label"),
            upload,
            html.Div(id="pathways-upload-error", className="alert alert-error", role="alert", hidden=True),
        ],
        className="card",
    )
    controls = html.Div(
        [
            html.Div(
                [
                    html.Label("Pathway", htmlFor="pathways-picker"),
                    dcc.Dropdown(id="pathways-picker", clearable=False, className="picker"),
                ],
                className="control-row",
            ),
            html.Div(
                [
                    html.Button("Previous", id="pathways-prev", className="button"),
                    html.Button("Next", id="pathways-next", className="button"),
                    html.Button("Play", id="pathways-play", className="button button-primary"),
                    html.Div(
                        dcc.Slider(id="pathways-step-slider", min=0, max=0, step=1, value=0, marks=None),
                        className="slider",
                    ),
                ],
                className="control-row",
            ),
            dcc.Interval(id="pathways-play-interval", interval=PLAY_INTERVAL_MS, disabled=True),
        ],
        className="card",
    )
    graph_card = html.Div(
        [
            html.Div(
                [html.H2(id="pathways-step-label"), html.Span(id="pathways-action-label", className="action-label")],
                className="step-header",
            ),
            graph_view.graph_component("pathways-graph"),
            graph_view.legend(),
        ],
        className="card graph-card",
    )
    chart_card = html.Div(
        [
            html.H3("Reward per step"),
            dcc.Checklist(
                id="pathways-rescore",
                options=[{"label": " Re-score with the current weights of the Reward page", "value": RESCORE}],
                value=[],
            ),
            html.Div(id="pathways-rescore-note", className="muted"),
            dcc.Graph(id="pathways-reward-chart", config={"displayModeBar": False}, style={"height": "260px"}),
        ],
        className="card",
    )
    alternatives_card = html.Div(
        [html.H3("Alternatives considered for this step"), html.Div(id="pathways-alternatives")],
        className="card",
    )
    return html.Div(
        [
            dcc.Store(id="pathways-source", storage_type="session"),
            source,
            controls,
            html.Div([graph_card, annotation_panel()], className="columns columns-wide-left"),
            html.Div([chart_card, alternatives_card], className="columns"),
        ],
        className="page",
    )


# Callbacks ------------------------------------------------------------------


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    """Register the callbacks of the Pathways page on ``app``."""

    def current_file(source: dict | None) -> tuple[str, PathwaysFile]:
        path, _ = context.pathways_path(source)
        return str(path), pathways_file(path)

    @app.callback(
        Output("pathways-source", "data"),
        Output("pathways-upload-error", "children"),
        Output("pathways-upload-error", "hidden"),
        Input("pathways-upload", "contents"),
        State("pathways-upload", "filename"),
        prevent_initial_call=True,
    )
    def accept_upload(contents: str | None, filename: str | None):
        if contents is None:
            raise PreventUpdate
        try:
            data, parsed = parse_uploaded_pathways(contents, filename)
        except InputError as error:
            logger.warning("rejected pathways upload %r: %s", filename, error)
            return no_update, f"Could not load the pathways file: {error}", False
        digest, path = store_bytes(data, context.uploads_dir, PATHWAYS_SUFFIXES[0])
        logger.info("loaded %d pathways from upload %r (stored as %s)", len(parsed.pathways), filename, path)
        return StoredUpload(digest, PATHWAYS_SUFFIXES[0], filename or path.name).to_dict(), "", True

    @app.callback(
        Output("pathways-source", "data", allow_duplicate=True),
        Output("pathways-upload-error", "children", allow_duplicate=True),
        Output("pathways-upload-error", "hidden", allow_duplicate=True),
        Input("url", "search"),
        prevent_initial_call="initial_duplicate",
    )
    def open_job_pathways(search: str | None):
        source = job_pathways_source(search)
        if source is None:
            raise PreventUpdate
        try:
            context.pathways_path(source)
        except InputError as error:
            logger.warning("cannot open the pathways of %r: %s", source, error)
            return no_update, f"Could not open the pathways of job {source['job_id']}: {error}", False
        logger.info("opened pathways %s of job %s", source["file"], source["job_id"])
        return source, "", True

    @app.callback(
        Output("pathways-picker", "options"),
        Output("pathways-picker", "value"),
        Output("pathways-source-label", "children"),
        Input("pathways-source", "data"),
    )
    def show_source(source: dict | None):
        try:
            path, name = context.pathways_path(source)
            pathways = pathways_file(path)
        except InputError as error:
            logger.error("cannot load pathways %r: %s", source, error)
            return [], None, f"Could not load the pathways: {error}"
        if not pathways.pathways:
            return [], None, describe_source(name, pathways) + ". The file has no pathways to show."
        return pathway_options(pathways), 0, describe_source(name, pathways)

    @app.callback(
        Output("pathways-step-slider", "value"),
        Output("pathways-step-slider", "max"),
        Output("pathways-step-slider", "marks"),
        Output("pathways-play-interval", "disabled"),
        Output("pathways-play", "children"),
        Input("pathways-picker", "value"),
        Input("pathways-prev", "n_clicks"),
        Input("pathways-next", "n_clicks"),
        Input("pathways-play", "n_clicks"),
        Input("pathways-play-interval", "n_intervals"),
        State("pathways-step-slider", "value"),
        State("pathways-play-interval", "disabled"),
        State("pathways-source", "data"),
    )
    def move_step(pathway, _prev, _next, _play, _ticks, step, stopped, source):
        if pathway is None:
            raise PreventUpdate
        _, pathways = current_file(source)
        if pathway >= len(pathways.pathways):
            raise PreventUpdate
        last_step = len(pathways.pathways[pathway].steps) - 1
        step, playing = next_step(ctx.triggered_id, min(step or 0, last_step), last_step, not stopped)
        marks = {index: str(index) for index in range(last_step + 1)}
        return step, last_step, marks, not playing, ("Pause" if playing else "Play")

    @app.callback(
        Output("pathways-graph", "elements"),
        Output("pathways-step-label", "children"),
        Output("pathways-action-label", "children"),
        *[Output(component_id, "children") for _, _, component_id in ANNOTATIONS],
        Output("pathways-degree-histogram", "children"),
        Output("pathways-reward-breakdown", "children"),
        Output("pathways-alternatives", "children"),
        Output("pathways-reward-chart", "figure"),
        Output("pathways-rescore-note", "children"),
        Input("pathways-step-slider", "value"),
        Input("pathways-picker", "value"),
        Input("pathways-rescore", "value"),
        State("pathways-source", "data"),
        State(WEIGHTS_STORE, "data"),
    )
    def show_step(step, pathway, rescore, source, stored_weights_data):
        if pathway is None or step is None:
            raise PreventUpdate
        path, pathways = current_file(source)
        if pathway >= len(pathways.pathways) or step >= len(pathways.pathways[pathway].steps):
            # A new pathway was picked and the step callback has not reset the step yet.
            raise PreventUpdate
        steps = pathways.pathways[pathway].steps
        record = steps[step]
        graph = pathway_graphs(path, pathway)[step]
        elements = graph_view.graph_elements(
            graph, pathway_positions(path, pathway), step_highlight(record), placeholders=True
        )
        rescored, note = None, ""
        if rescore and RESCORE in rescore:
            try:
                weights = dashboard_weights(stored_weights_data, context.settings.runs_dir)
                rescored = rescore_steps(pathway_graphs(path, pathway), weights)
            except InputError as error:
                note = f"Could not re-score: {error}"
            else:
                note = f"Re-scored with {describe_weights(weights)}, target degree {format_value(weights.degree_target)}."
        totals = None if rescored is None else [breakdown.total for breakdown in rescored]
        return (
            elements,
            step_label(step, len(steps) - 1),
            action_text(record),
            *annotation_values(record),
            format_histogram(record.degree_histogram),
            breakdown_tables(record, None if rescored is None else rescored[step]),
            alternatives_table(record),
            reward_figure(steps, step, totals),
            note,
        )

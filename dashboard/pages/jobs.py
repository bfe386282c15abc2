"""Jobs page: every job of the runs root, refreshed live, and the details, log and outputs of one job.

Component ids start with ``jobs-``. The table refreshes every
:data:`~dashboard.job_views.REFRESH_INTERVAL_MS`. The selected job lives in
the ``jobs-selected`` store (session storage), set by a click on a row or
by the URL ``/jobs?job=<id>``. For that job the page shows its spec, status,
the last lines of its log and, for a training job, its metrics. Buttons
cancel it, submit its spec again as a new job, open a search's pathways on
the Pathways page, or choose a trained model or policy (the app-level
``selected-surrogate`` and ``selected-policy`` stores; a chosen model also
becomes the surrogate of the session's reward weights).
"""

from __future__ import annotations

import json
import logging
import time

import dash_ag_grid as dag
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from jobs.errors import JobSpecError, SchedulerError
from jobs.status import JobState, JobStatus

from dashboard.components import alert, value_table
from dashboard.context import DashboardContext
from dashboard.job_charts import policy_figure, surrogate_loss_figure
from dashboard.job_ids import SELECTED_POLICY, SELECTED_SURROGATE
from dashboard.job_views import ERROR, INFO, REFRESH_INTERVAL_MS, job_link, pathways_href, query_value, state_badge
from dashboard.jobs_data import JobArtifactError, JobService, duration_seconds, format_duration, format_time
from dashboard.reward_ids import WEIGHTS_STORE
from dashboard.reward_logic import weights_with_model

logger = logging.getLogger(__name__)

#: Column header of each table column, in display order.
HEADERS = {
    "job_id": "Job",
    "kind": "Kind",
    "backend": "Backend",
    "state": "State",
    "progress": "Progress",
    "started": "Started (UTC)",
    "duration": "Duration",
}
NO_JOBS = "No jobs yet. Launch one on the Train or Search page."


# Pure helpers ---------------------------------------------------------------


def column_defs() -> list[dict]:
    """Return the ag-grid column definitions of the jobs table."""
    columns = []
    for key, header in HEADERS.items():
        column: dict = {"field": key, "headerName": header}
        if key == "job_id":
            column["minWidth"] = 300
        if key == "state":
            column["cellClass"] = {"function": "'state-cell state-' + params.value"}
        if key == "progress":
            column["type"] = "numericColumn"
            column["valueFormatter"] = {"function": "params.value == null ? '' : params.value.toFixed(0) + ' %'"}
        columns.append(column)
    return columns


def mark_selected(rows: list[dict], selected: str | None) -> list[dict]:
    """Return the table rows with ``selected`` true on the row of the selected job."""
    return [{**row, "selected": row["job_id"] == selected} for row in rows]


def jobs_count_text(rows: list[dict]) -> str:
    """Return the summary above the table, for example ``3 jobs: 1 running, 2 succeeded``."""
    if not rows:
        return NO_JOBS
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    states = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
    return f"{len(rows)} job{'' if len(rows) == 1 else 's'}: {states}"


def status_rows(status: JobStatus, run_dir: str) -> list[tuple[str, object]]:
    """Return the label and value pairs of a job's status table."""
    rows: list[tuple[str, object]] = [
        ("State", status.state.value),
        ("Kind", status.kind),
        ("Backend", status.backend),
        ("Submitted (UTC)", format_time(status.submitted_at)),
        ("Started (UTC)", format_time(status.started_at)),
        ("Finished (UTC)", format_time(status.finished_at)),
        ("Duration", format_duration(duration_seconds(status))),
    ]
    if status.scheduler_id:
        rows.append(("Scheduler job id", status.scheduler_id))
    if status.array_size:
        rows.append(("Array tasks", status.array_size))
    if status.exit_code is not None:
        rows.append(("Exit code", status.exit_code))
    if status.reason:
        rows.append(("Reason", status.reason))
    rows.append(("Run folder", run_dir))
    return rows


def detail_key(status: JobStatus) -> list:
    """Return what decides whether the detail panel must be built again.

    A job in a final state is built once per state. A queued or running
    job is built again on every refresh, for its log and duration.
    """
    return [status.job_id, status.state.value, None if status.state.is_final else time.monotonic()]


def spec_text(spec: dict) -> str:
    """Return a spec as indented JSON."""
    return json.dumps(spec, indent=2)


# Layout ---------------------------------------------------------------------


def layout() -> html.Div:
    """Build the Jobs page."""
    grid = dag.AgGrid(
        id="jobs-grid",
        columnDefs=column_defs(),
        rowData=[],
        defaultColDef={"sortable": True, "filter": True, "resizable": True, "minWidth": 90},
        columnSize="responsiveSizeToFit",
        getRowId="params.data.job_id",
        dashGridOptions={
            "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True},
            "animateRows": False,
            "rowClassRules": {"job-row-selected": "params.data.selected"},
        },
        className="ag-theme-quartz",
        style={"height": "320px", "width": "100%"},
    )
    table_card = html.Div(
        [
            html.Div([html.H2("Jobs"), html.Span(id="jobs-count", className="muted")], className="step-header card-header"),
            alert("jobs-message"),
            grid,
        ],
        className="card",
    )
    actions = html.Div(
        [
            html.Button("Cancel", id="jobs-cancel", className="button"),
            html.Button("Resubmit", id="jobs-resubmit", className="button"),
            html.Button("Use this model", id="jobs-use-model", className="button button-primary", hidden=True),
            html.Button("Use this policy", id="jobs-use-policy", className="button button-primary", hidden=True),
            html.Div(id="jobs-artifacts", className="control-row"),
        ],
        className="control-row action-row",
    )
    body = html.Div(
        [
            actions,
            alert("jobs-action-message", "info"),
            html.Div(
                [
                    html.Div([html.H3("Status"), html.Div(id="jobs-status")]),
                    html.Div([html.H3("Parameters"), html.Pre(id="jobs-spec", className="code-block")]),
                ],
                className="columns",
            ),
            html.Div(
                [html.H3("Metrics"), dcc.Graph(id="jobs-metrics-chart", config={"displayModeBar": False})],
                id="jobs-metrics-box",
                hidden=True,
            ),
            html.H3("Log (last lines)"),
            html.Pre(id="jobs-log", className="code-block log-block"),
        ],
        id="jobs-detail-body",
    )
    detail = html.Div(
        [html.Div(id="jobs-detail-title", className="step-header"), body],
        id="jobs-detail",
        className="card",
        hidden=True,
    )
    return html.Div(
        [
            dcc.Store(id="jobs-selected", storage_type="session"),
            dcc.Store(id="jobs-detail-key"),
            dcc.Interval(id="jobs-interval", interval=REFRESH_INTERVAL_MS),
            table_card,
            html.P("Select a job to see its parameters, log and outputs.", id="jobs-hint", className="muted"),
            detail,
        ],
        className="page",
    )


# Callbacks ------------------------------------------------------------------


def artifact_links(service: JobService, status: JobStatus) -> list:
    """Build the links to a finished search job's pathways files and the path of a trained model or policy."""
    links: list = []
    if status.kind == "search" and status.state is JobState.SUCCEEDED:
        for name in service.pathways_names(status.job_id):
            label = "Open in Pathways" if name == "pathways.json" else f"Open {name} in Pathways"
            links.append(dcc.Link(label, href=pathways_href(status.job_id, name), className="button button-link"))
    return links


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    """Register the callbacks of the Jobs page on ``app``."""
    service = context.jobs

    @app.callback(
        Output("jobs-grid", "rowData"),
        Output("jobs-count", "children"),
        Output("jobs-message", "children"),
        Output("jobs-message", "hidden"),
        Input("jobs-interval", "n_intervals"),
        Input("jobs-selected", "data"),
    )
    def refresh_table(_tick, selected):
        try:
            rows = service.rows()
        except (JobSpecError, OSError) as error:
            logger.error("cannot list the jobs in %s: %s", service.runs_dir, error)
            return no_update, "", f"Could not list the jobs in {service.runs_dir}: {error}", False
        return mark_selected(rows, selected), jobs_count_text(rows), "", True

    @app.callback(
        Output("jobs-selected", "data"),
        Input("jobs-grid", "selectedRows"),
        Input("url", "search"),
    )
    def select_job(selected_rows, search):
        if ctx.triggered_id == "jobs-grid":
            if not selected_rows:
                raise PreventUpdate
            return selected_rows[0]["job_id"]
        job_id = query_value(search, "job")
        if job_id is None:
            raise PreventUpdate
        return job_id

    @app.callback(
        Output("jobs-detail", "hidden"),
        Output("jobs-detail-body", "hidden"),
        Output("jobs-hint", "hidden"),
        Output("jobs-detail-title", "children"),
        Output("jobs-status", "children"),
        Output("jobs-spec", "children"),
        Output("jobs-log", "children"),
        Output("jobs-metrics-box", "hidden"),
        Output("jobs-metrics-chart", "figure"),
        Output("jobs-artifacts", "children"),
        Output("jobs-cancel", "disabled"),
        Output("jobs-use-model", "hidden"),
        Output("jobs-use-policy", "hidden"),
        Output("jobs-detail-key", "data"),
        Input("jobs-interval", "n_intervals"),
        Input("jobs-selected", "data"),
        State("jobs-detail-key", "data"),
    )
    def show_detail(_tick, job_id, shown_key):
        if not job_id:
            return (True, no_update, False, *([no_update] * 11))
        try:
            status = service.status(job_id)
            key = detail_key(status)
            if ctx.triggered_id == "jobs-interval" and shown_key is not None and key == shown_key:
                raise PreventUpdate
            spec = service.spec(job_id)
            log = service.log_tail(job_id)
            metrics = service.metrics(job_id, status.kind)
            links = artifact_links(service, status)
            model = service.model_dir(job_id) if status.kind == "train-surrogate" else None
            policy = service.policy_dir(job_id) if status.kind == "train-policy" else None
        except (JobSpecError, JobArtifactError) as error:
            logger.warning("cannot show job %r: %s", job_id, error)
            title = html.Div([html.H2("Job not available"), html.Span(str(error), className="muted")])
            return (False, True, True, title, "", "", "", True, no_update, [], True, True, True, None)
        succeeded = status.state is JobState.SUCCEEDED
        if status.kind == "train-policy":
            figure = policy_figure(metrics, uirevision=job_id)
        else:
            figure = surrogate_loss_figure(metrics, uirevision=job_id)
        title = [html.H2(job_id), state_badge(status.state.value)]
        return (
            False,
            False,
            True,
            title,
            value_table(status_rows(status, str(service.folder(job_id).path))),
            spec_text(spec),
            "\n".join(log) or "The log is empty.",
            status.kind not in ("train-surrogate", "train-policy"),
            figure,
            links,
            status.state.is_final,
            not (succeeded and model is not None),
            not (succeeded and policy is not None),
            key,
        )

    @app.callback(
        Output("jobs-action-message", "children"),
        Output("jobs-action-message", "hidden"),
        Output("jobs-action-message", "className"),
        Output("jobs-selected", "data", allow_duplicate=True),
        Output(SELECTED_SURROGATE, "data", allow_duplicate=True),
        Output(SELECTED_POLICY, "data", allow_duplicate=True),
        Output(WEIGHTS_STORE, "data", allow_duplicate=True),
        Input("jobs-cancel", "n_clicks"),
        Input("jobs-resubmit", "n_clicks"),
        Input("jobs-use-model", "n_clicks"),
        Input("jobs-use-policy", "n_clicks"),
        State("jobs-selected", "data"),
        State(WEIGHTS_STORE, "data"),
        prevent_initial_call=True,
    )
    def act_on_job(cancel_clicks, resubmit_clicks, use_model_clicks, use_policy_clicks, job_id, weights):
        clicks = {"jobs-cancel": cancel_clicks, "jobs-resubmit": resubmit_clicks, "jobs-use-model": use_model_clicks,
                  "jobs-use-policy": use_policy_clicks}
        # Dash also calls this when the page's buttons are rendered, with no clicks, because two outputs
        # are app-level stores that exist before the page does. Only a real click acts.
        if not job_id or not clicks.get(ctx.triggered_id):
            raise PreventUpdate
        selected, surrogate, policy, new_weights = no_update, no_update, no_update, no_update
        try:
            if ctx.triggered_id == "jobs-cancel":
                status = service.cancel(job_id)
                message = f"Job {job_id} is {status.state.value}."
            elif ctx.triggered_id == "jobs-resubmit":
                new_id = service.resubmit(job_id)
                message, selected = ["Submitted the same spec as job ", job_link(new_id), "."], new_id
            elif ctx.triggered_id == "jobs-use-model":
                surrogate, message = chosen_output(job_id, service.model_dir(job_id), "model", "surrogate for the reward")
                new_weights = weights_with_model(weights, surrogate["path"])
            else:
                policy, message = chosen_output(job_id, service.policy_dir(job_id), "policy", "policy for searches")
        except (JobSpecError, JobArtifactError) as error:
            logger.warning("action %s on job %s rejected: %s", ctx.triggered_id, job_id, error)
            return f"Could not do that: {error}", False, ERROR, no_update, no_update, no_update, no_update
        except SchedulerError as error:
            logger.error("action %s on job %s failed in the scheduler: %s", ctx.triggered_id, job_id, error)
            return f"The scheduler failed: {error}", False, ERROR, no_update, no_update, no_update, no_update
        return message, False, INFO, selected, surrogate, policy, new_weights


def chosen_output(job_id: str, path, folder_kind: str, use: str) -> tuple[dict, str]:
    """Return the store value and message for choosing a job's model or policy folder.

    Raises:
        JobArtifactError: when the job has no such folder (yet).
    """
    if path is None:
        raise JobArtifactError(f"job {job_id} has no trained {folder_kind} folder")
    return {"job_id": job_id, "path": str(path)}, f"Chose the {folder_kind} of job {job_id} as the {use}: {path}"

"""Callbacks of the Search page: the start cluster, launching searches and policy training, and following them.

Each launch resolves the form with :mod:`dashboard.job_forms` and submits
through the job layer. The job layer's :class:`~jobs.errors.JobSpecError`
(invalid input), its :class:`~jobs.errors.SchedulerError` and the page's own
checks (a target below the start size) show as a message under the button.
"""

from __future__ import annotations

import logging
import time

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from engine.errors import InputError
from engine.presets import SHIPPED_PRESETS_DIR

from jobs.errors import JobSpecError
from jobs.status import JobState

from dashboard.context import DashboardContext
from dashboard.job_charts import empty_chart, policy_figure
from dashboard.job_forms import (
    RESOURCE_NAMES,
    START_DATA,
    START_FILE,
    StartChoice,
    check_target_size,
    data_cluster_start,
    file_start,
    pentamer_start,
    policy_spec,
    resources_from_form,
    reward_note,
    reward_options,
    search_accepts_policy,
    search_spec,
    weights_argument,
)
from dashboard.job_ids import DATA_SELECTED_CLUSTER, SELECTED_POLICY
from dashboard.job_views import (
    job_link,
    newest_unless_chosen,
    pathways_href,
    register_backend_toggle,
    resource_states,
    state_badge,
    submit_job,
)
from dashboard.jobs_data import JobArtifactError, JobService
from dashboard.reward_data import resolve_source, source_from_form, source_label
from dashboard.reward_ids import WEIGHTS_STORE
from dashboard.reward_logic import SHIPPED, PresetFolders

logger = logging.getLogger(__name__)

NO_POLICY = ""
NO_POLICY_JOB = "No policy training job yet."
NO_DATA_CLUSTER = "No cluster is selected on the Data page yet."
DEFAULT_REWARD = f"{SHIPPED}/default"
POLICY_KIND = "train-policy"


# Pure helpers ---------------------------------------------------------------


def data_cluster_text(cluster: object) -> str:
    """Return the line that names the cluster selected on the Data page."""
    if not isinstance(cluster, dict) or "frame" not in cluster:
        return NO_DATA_CLUSTER
    return f"Frame {cluster['frame']} of {cluster.get('name', 'the dataset')}, {cluster.get('n_waters', '?')} waters"


def policy_options(finished_jobs: list[str], chosen: object) -> list[dict]:
    """Return the policy picker options: none, then each finished policy job, the one chosen on the Jobs page marked."""
    chosen_id = chosen.get("job_id") if isinstance(chosen, dict) else None
    options = [{"label": "None: one-step reward look-ahead", "value": NO_POLICY}]
    if chosen_id and chosen_id not in finished_jobs:
        options.append({"label": f"{chosen_id} (chosen on the Jobs page)", "value": chosen_id})
    for job_id in finished_jobs:
        suffix = " (chosen on the Jobs page)" if job_id == chosen_id else ""
        options.append({"label": job_id + suffix, "value": job_id})
    return options


def policy_note() -> str:
    """Return the note under the policy picker."""
    if search_accepts_policy():
        return ("A trained policy proposes the growth steps. Choose the reward it was trained with: "
                "a search job with another reward stops with a message that lists the weights that differ.")
    return ("NOTE: the job layer's search kind has no policy parameter yet, so a search with a trained policy "
            "cannot be submitted. Choose None.")


def policy_watch_key(job_id: str, state: JobState) -> list:
    """Return what decides whether the policy chart must be built again."""
    return [job_id, state.value, None if state.is_final else time.monotonic()]


def last_search_line(job_id: str, state: JobState, reason: str | None, has_pathways: bool) -> list:
    """Build the status line of the last search launched here, with the Pathways link once it has succeeded."""
    line: list = ["Last search: ", job_link(job_id), state_badge(state.value)]
    if state is JobState.SUCCEEDED and has_pathways:
        line.append(dcc.Link("Open in Pathways", href=pathways_href(job_id), className="button button-link",
                             id="search-open-pathways"))
    if reason:
        line.append(html.Span(reason, className="muted"))
    return line


# Callbacks ------------------------------------------------------------------


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    """Register the callbacks of the Search page on ``app``."""
    service = context.jobs
    folders = PresetFolders(SHIPPED_PRESETS_DIR, context.settings.presets_dir)
    # The Reward page's weights are written here for a job, outside the preset lists. The job
    # keeps its own copy in its run folder.
    job_weights_dir = context.settings.cache_dir / "job-weights"
    register_backend_toggle(app, "search")

    def resolve_start(kind: str, cluster: object, file_source: object, frame: object) -> StartChoice:
        if kind == START_DATA:
            source = cluster.get("source") if isinstance(cluster, dict) else None
            path, name = context.dataset_path(source)
            if isinstance(cluster, dict) and cluster.get("name") not in (None, name):
                raise InputError(f"the Data page's dataset {cluster['name']!r} is no longer on the server; "
                                 "upload it again there")
            return data_cluster_start(path, cluster)
        if kind == START_FILE:
            if not file_source:
                raise InputError("choose a start file: upload one or type its path on the server")
            dataset = resolve_source(file_source, context)
            return file_start(dataset.path, dataset.name, frame)
        return pentamer_start()

    @app.callback(
        Output("search-data-box", "hidden"),
        Output("search-file-box", "hidden"),
        Input("search-start-kind", "value"),
    )
    def toggle_start(kind):
        return kind != START_DATA, kind != START_FILE

    @app.callback(Output("search-data-cluster", "children"), Input(DATA_SELECTED_CLUSTER, "data"))
    def show_data_cluster(cluster):
        return data_cluster_text(cluster)

    @app.callback(
        Output("search-start-file", "data"),
        Output("search-start-error", "children"),
        Output("search-start-error", "hidden"),
        Input("search-start-upload", "contents"),
        Input("search-start-path-load", "n_clicks"),
        Input("search-start-path", "n_submit"),
        State("search-start-upload", "filename"),
        State("search-start-path", "value"),
        prevent_initial_call=True,
    )
    def choose_start_file(contents, _load, _submit, filename, typed_path):
        from_upload = ctx.triggered_id == "search-start-upload"
        try:
            source = source_from_form(from_upload, contents, filename, typed_path, context.uploads_dir)
        except InputError as error:
            logger.warning("rejected start file (%s): %s", ctx.triggered_id, error)
            return no_update, f"Could not use this file: {error}", False
        if source is None:
            raise PreventUpdate
        return source, "", True

    @app.callback(Output("search-start-file-label", "children"), Input("search-start-file", "data"))
    def show_start_file(source):
        if not source:
            return "No file chosen yet."
        return source_label(source, context)

    @app.callback(
        Output("search-reward", "options"),
        Output("search-reward", "value"),
        Output("search-policy-note", "children"),
        Input("search-page-ready", "data"),
        State("search-reward-choice", "data"),
    )
    def list_rewards(_ready, chosen):
        # The last choice is kept in the tab's session, so the page shows it again when opened again.
        options = reward_options(folders)
        values = [option["value"] for option in options]
        return options, chosen if chosen in values else DEFAULT_REWARD, policy_note()

    @app.callback(Output("search-reward-choice", "data"), Input("search-reward", "value"))
    def remember_reward(chosen):
        if not chosen:
            raise PreventUpdate
        return chosen

    @app.callback(Output("search-reward-note", "children"), Input("search-reward", "value"), Input(WEIGHTS_STORE, "data"))
    def describe_reward(choice, current_weights):
        if not choice:
            raise PreventUpdate
        return reward_note(choice, folders, current_weights, context.settings.runs_dir)

    @app.callback(
        Output("search-policy", "options"),
        Output("search-policy", "value"),
        Input("search-interval", "n_intervals"),
        Input(SELECTED_POLICY, "data"),
        State("search-policy", "value"),
        State("search-policy", "options"),
    )
    def list_policies(_tick, chosen_policy, value, shown_options):
        options = policy_options(finished_policy_jobs(service), chosen_policy)
        values = [option["value"] for option in options]
        if ctx.triggered_id == SELECTED_POLICY and isinstance(chosen_policy, dict):
            value = chosen_policy.get("job_id", value)
        elif (not ctx.triggered_id or not _tick) and isinstance(chosen_policy, dict):
            # When the page opens (no interval tick yet), start from the policy chosen on the Jobs page.
            value = chosen_policy.get("job_id", value)
        value = value if value in values else NO_POLICY
        if options == shown_options and ctx.triggered_id == "search-interval":
            raise PreventUpdate
        return options, value

    @app.callback(
        Output("search-message", "children"),
        Output("search-message", "hidden"),
        Output("search-message", "className"),
        Output("search-last-job-id", "data"),
        Input("search-launch", "n_clicks"),
        State("search-start-kind", "value"),
        State(DATA_SELECTED_CLUSTER, "data"),
        State("search-start-file", "data"),
        State("search-start-frame", "value"),
        State("search-target-size", "value"),
        State("search-branching", "value"),
        State("search-max-results", "value"),
        State("search-max-expansions", "value"),
        State("search-max-seconds", "value"),
        State("search-reward", "value"),
        State("search-policy", "value"),
        State(WEIGHTS_STORE, "data"),
        State("search-backend", "value"),
        *resource_states("search"),
        prevent_initial_call=True,
    )
    def launch_search(clicks, start_kind, cluster, file_source, frame, target_size, branching, max_results,
                      max_expansions, max_seconds, reward, policy, current_weights, backend, *resource_values):
        if not clicks:
            raise PreventUpdate

        def submit() -> str:
            start = resolve_start(start_kind, cluster, file_source, frame)
            check_target_size(start, target_size)
            values = {"target_size": target_size, "branching": branching, "max_results": max_results,
                      "max_expansions": max_expansions, "max_seconds": max_seconds}
            weights = None
            if reward:
                weights = weights_argument(reward, folders, current_weights, context.settings.runs_dir, job_weights_dir)
            resources = resources_from_form(backend, dict(zip(RESOURCE_NAMES, resource_values)))
            return service.submit(search_spec(start, values, weights, policy or None, resources), backend)

        job_id, message, kind = submit_job(submit, "search job")
        return message, False, kind, job_id if job_id is not None else no_update

    @app.callback(
        Output("search-policy-message", "children"),
        Output("search-policy-message", "hidden"),
        Output("search-policy-message", "className"),
        Output("search-policy-job", "options", allow_duplicate=True),
        Output("search-policy-job", "value", allow_duplicate=True),
        Input("search-policy-launch", "n_clicks"),
        State("search-start-kind", "value"),
        State(DATA_SELECTED_CLUSTER, "data"),
        State("search-start-file", "data"),
        State("search-start-frame", "value"),
        State("search-target-size", "value"),
        State("search-policy-episodes", "value"),
        State("search-policy-seed", "value"),
        State("search-reward", "value"),
        State(WEIGHTS_STORE, "data"),
        State("search-backend", "value"),
        *resource_states("search"),
        prevent_initial_call=True,
    )
    def launch_policy_training(clicks, start_kind, cluster, file_source, frame, target_size, episodes, seed, reward,
                               current_weights, backend, *resource_values):
        if not clicks:
            raise PreventUpdate

        def submit() -> str:
            start = resolve_start(start_kind, cluster, file_source, frame)
            check_target_size(start, target_size)
            values = {"target_size": target_size, "episodes": episodes, "seed": seed}
            chosen_reward = weights_argument(reward or DEFAULT_REWARD, folders, current_weights, context.settings.runs_dir,
                                             job_weights_dir)
            resources = resources_from_form(backend, dict(zip(RESOURCE_NAMES, resource_values)))
            return service.submit(policy_spec(start, values, chosen_reward, resources), backend)

        job_id, message, kind = submit_job(submit, "policy training job")
        if job_id is None:
            return message, False, kind, no_update, no_update
        return message, False, kind, policy_job_options(service.ids_of_kind(POLICY_KIND)), job_id

    @app.callback(
        Output("search-last-job", "children"),
        Input("search-interval", "n_intervals"),
        Input("search-last-job-id", "data"),
    )
    def watch_last_search(_tick, job_id):
        if not job_id:
            return html.Span("No search launched from this page yet.", className="muted")
        try:
            status = service.status(job_id)
            has_pathways = bool(service.pathways_names(job_id))
        except (JobSpecError, JobArtifactError) as error:
            return html.Span(f"Could not read job {job_id}: {error}", className="muted")
        return last_search_line(job_id, status.state, status.reason, has_pathways)

    @app.callback(
        Output("search-policy-job", "options"),
        Output("search-policy-job", "value"),
        Input("search-interval", "n_intervals"),
        State("search-policy-job", "value"),
        State("search-policy-job", "options"),
    )
    def list_policy_jobs(_tick, chosen, shown_options):
        job_ids = service.ids_of_kind(POLICY_KIND)
        options = policy_job_options(job_ids)
        value = newest_unless_chosen(job_ids, chosen)
        if options == shown_options and value == chosen:
            raise PreventUpdate
        return options, value

    @app.callback(
        Output("search-policy-status", "children"),
        Output("search-policy-chart", "figure"),
        Output("search-policy-key", "data"),
        Input("search-interval", "n_intervals"),
        Input("search-policy-job", "value"),
        State("search-policy-key", "data"),
    )
    def watch_policy_job(_tick, job_id, shown_key):
        if not job_id:
            return NO_POLICY_JOB, empty_chart(NO_POLICY_JOB), None
        try:
            status = service.status(job_id)
            key = policy_watch_key(job_id, status.state)
            if ctx.triggered_id == "search-interval" and key == shown_key:
                raise PreventUpdate
            metrics = service.metrics(job_id, POLICY_KIND)
        except (JobSpecError, JobArtifactError) as error:
            message = f"Could not read job {job_id}: {error}"
            return message, empty_chart(message), None
        line = [job_link(job_id), state_badge(status.state.value)]
        if status.reason:
            line.append(html.Span(status.reason, className="muted"))
        return line, policy_figure(metrics, uirevision=job_id), key


def policy_job_options(job_ids: list[str]) -> list[dict]:
    """Return the policy job picker options, newest first."""
    return [{"label": job_id, "value": job_id} for job_id in job_ids]


def finished_policy_jobs(service: JobService) -> list[str]:
    """Return the ids of the train-policy jobs that succeeded and have a policy, newest first."""
    finished = []
    for job_id in service.ids_of_kind(POLICY_KIND):
        try:
            if service.status(job_id).state is JobState.SUCCEEDED and service.policy_dir(job_id) is not None:
                finished.append(job_id)
        except (JobSpecError, JobArtifactError) as error:
            logger.debug("skipping policy job %s: %s", job_id, error)
    return finished

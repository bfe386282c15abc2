"""Train page: launch a surrogate training job and follow its loss curves and test results.

Component ids start with ``train-``. The dataset choice lives in the
``train-source`` store (session storage) in the forms of
:mod:`dashboard.reward_data`: the dataset of the settings, an upload, or a
cluster file on the server. The configuration is one of
``configs/surrogate*.yaml``. Edited epochs, batch size or learning rate go
into a copy of it in ``<cache_dir>/train-configs``. Launch submits a
``train-surrogate`` job through the job layer.

The chart follows the job chosen in ``train-job-picker``: the newest
training job unless the user picks another. Once a job has written its
``test_report.json`` the page shows the parity plot and the test MAE per
size. "Use this model for the reward" records the model folder in the
app-level ``selected-surrogate`` store and makes it the surrogate of the
session's reward weights (``reward-weights``), whose weight is set on the
Reward page.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from engine.errors import InputError

from jobs.errors import JobSpecError
from jobs.status import JobState

from dashboard.components import alert, value_table
from dashboard.context import DashboardContext
from dashboard.job_charts import empty_chart, mae_by_size_figure, parity_figure, surrogate_loss_figure, summary_rows
from dashboard.job_forms import (
    RESOURCE_NAMES,
    config_files,
    config_key_values,
    edited_config,
    profile_resources,
    resources_from_form,
    train_spec,
)
from dashboard.job_ids import SELECTED_SURROGATE
from dashboard.job_views import (
    ERROR,
    INFO,
    REFRESH_INTERVAL_MS,
    form_field,
    job_link,
    newest_unless_chosen,
    number_field,
    register_backend_toggle,
    resource_states,
    resources_section,
    state_badge,
    submit_job,
)
from dashboard.jobs_data import JobArtifactError
from dashboard.reward_data import resolve_source, source_from_form, source_label
from dashboard.reward_ids import WEIGHTS_STORE
from dashboard.reward_logic import weights_with_model
from dashboard.settings import PROJECT_ROOT
from dashboard.uploads import CLUSTER_SUFFIXES

logger = logging.getLogger(__name__)

KIND = "train-surrogate"
CONFIGS_DIR = PROJECT_ROOT / "configs"
#: Config selected when the page opens, if it exists.
DEFAULT_CONFIG = "surrogate.yaml"
NO_JOB = "No training job yet. Launch one above."
NO_MODEL = "No model chosen yet."


# Pure helpers ---------------------------------------------------------------


def config_options() -> list[dict]:
    """Return the config picker options: each ``configs/surrogate*.yaml``, by file name."""
    return [{"label": path.name, "value": path.name} for path in config_files(CONFIGS_DIR)]


def config_path(name: object) -> Path:
    """Return the config file of a picker value, which must be one of the listed configs.

    Raises:
        InputError: for any other value.
    """
    listed = {path.name: path for path in config_files(CONFIGS_DIR)}
    if name not in listed:
        raise InputError(f"unknown config {name!r}; choose one of {', '.join(listed) or 'none (configs/ is empty)'}")
    return listed[name]


def default_config(options: list[dict]) -> str | None:
    """Return the value of :data:`DEFAULT_CONFIG` among the options, else the first option, else None."""
    for option in options:
        if option["label"] == DEFAULT_CONFIG:
            return option["value"]
    return options[0]["value"] if options else None


def job_options(job_ids: list[str]) -> list[dict]:
    """Return the training job picker options, in the order given (newest first)."""
    return [{"label": job_id, "value": job_id} for job_id in job_ids]


def selected_model_text(chosen: object) -> str:
    """Return the line that names the model chosen for the reward."""
    if not isinstance(chosen, dict) or not chosen.get("job_id"):
        return NO_MODEL
    return f"Model of job {chosen['job_id']}: {chosen.get('path', '')}"


def watch_key(job_id: str, state: JobState, has_report: bool) -> list:
    """Return what decides whether the charts of a job must be built again (see :func:`dashboard.pages.jobs.detail_key`)."""
    return [job_id, state.value, has_report, None if state.is_final else time.monotonic()]


def no_job_outputs(status_text: str, note: str) -> tuple:
    """Return the outputs of the progress and results callback when there is no job to show."""
    return status_text, empty_chart(status_text), True, note, [], no_update, no_update, None


# Layout ---------------------------------------------------------------------


def dataset_card() -> html.Div:
    """Build the dataset choice: the default dataset, an upload or a file on the server."""
    upload = dcc.Upload(
        id="train-upload",
        children=html.Div(["Drop an .xyz or .extxyz file with energies here or ", html.A("choose a file")]),
        className="upload-box",
        accept=",".join(CLUSTER_SUFFIXES),
        multiple=False,
    )
    path_row = html.Div(
        [
            html.Label("File on the server", htmlFor="train-path"),
            dcc.Input(id="train-path", type="text", className="path-input", debounce=True,
                      placeholder=".xyz, .extxyz, .db, .tfrecord or .tfrecord.gz file"),
            html.Button("Use file", id="train-path-load", className="button"),
        ],
        className="control-row",
    )
    return html.Div(
        [
            html.H3("Dataset"),
            html.Div(
                [
                    html.Div(id="train-source-label", className="source-label"),
                    html.Button("Use the default dataset", id="train-reset", className="button"),
                ],
                className="control-row space-between",
            ),
            upload,
            path_row,
            html.P("Relative paths start at the project folder. The surrogate learns the energies in the file.",
                   className="muted"),
            alert("train-source-error"),
        ],
        className="card",
    )


def launch_card() -> html.Div:
    """Build the configuration, the backend and resources, and the Launch button."""
    options = config_options()
    defaults, note = profile_resources()
    return html.Div(
        [
            html.H3("Configuration"),
            html.Div(
                [
                    html.Label("Config file", htmlFor="train-config"),
                    dcc.Dropdown(id="train-config", options=options, value=default_config(options), clearable=False,
                                 className="picker"),
                ],
                className="control-row",
            ),
            html.Div(
                [
                    number_field("Epochs", "train-epochs"),
                    number_field("Batch size", "train-batch-size"),
                    form_field(
                        "Learning rate",
                        dcc.Input(id="train-learning-rate", type="text", inputMode="decimal", className="text-number-input"),
                        "train-learning-rate",
                    ),
                ],
                className="form-grid",
            ),
            html.P("Changed values are saved with the rest of the file as a new config for this job.",
                   className="muted"),
            html.H3("Where to run"),
            resources_section("train", defaults, note),
            html.Div(html.Button("Launch training", id="train-launch", className="button button-primary"),
                     className="control-row launch-row"),
            alert("train-message", "info"),
        ],
        className="card",
    )


def progress_card() -> html.Div:
    """Build the job picker and the loss curves of the chosen job."""
    return html.Div(
        [
            html.H3("Training progress"),
            html.Div(
                [
                    html.Label("Training job", htmlFor="train-job-picker"),
                    dcc.Dropdown(id="train-job-picker", placeholder="newest training job", clearable=False, className="picker"),
                ],
                className="control-row",
            ),
            html.Div(id="train-job-status", className="control-row job-status-row"),
            dcc.Graph(id="train-loss-chart", figure=empty_chart(NO_JOB), config={"displayModeBar": False}),
        ],
        className="card",
    )


def results_card() -> html.Div:
    """Build the test results of a finished model and the button that chooses it for the reward."""
    return html.Div(
        [
            html.H3("Test results"),
            html.P(id="train-results-note", className="muted"),
            html.Div(
                [
                    html.Div(
                        [
                            html.Div(id="train-test-summary"),
                            html.Div(
                                html.Button("Use this model for the reward", id="train-use-model",
                                            className="button button-primary"),
                                className="control-row launch-row",
                            ),
                        ]
                    ),
                    dcc.Graph(id="train-parity-chart", config={"displayModeBar": False}),
                    dcc.Graph(id="train-mae-chart", config={"displayModeBar": False}),
                ],
                id="train-results",
                className="columns columns-three",
                hidden=True,
            ),
            alert("train-model-message", "info"),
            html.Div(
                [html.Strong("Model for the reward: "), html.Span(NO_MODEL, id="train-selected-model")],
                className="control-row",
            ),
            html.P("The chosen model predicts the reward's “predicted energy per water” component; "
                   "set its weight on the Reward page.", className="muted"),
        ],
        className="card",
    )


def layout() -> html.Div:
    """Build the Train page."""
    return html.Div(
        [
            dcc.Store(id="train-source", storage_type="session"),
            dcc.Store(id="train-watch-key"),
            dcc.Interval(id="train-interval", interval=REFRESH_INTERVAL_MS),
            html.Div([dataset_card(), launch_card()], className="columns"),
            progress_card(),
            results_card(),
        ],
        className="page",
    )


# Callbacks ------------------------------------------------------------------


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    """Register the callbacks of the Train page on ``app``."""
    service = context.jobs
    register_backend_toggle(app, "train")

    @app.callback(
        Output("train-source", "data"),
        Output("train-source-error", "children"),
        Output("train-source-error", "hidden"),
        Input("train-upload", "contents"),
        Input("train-path-load", "n_clicks"),
        Input("train-path", "n_submit"),
        Input("train-reset", "n_clicks"),
        State("train-upload", "filename"),
        State("train-path", "value"),
        prevent_initial_call=True,
    )
    def choose_dataset(contents, _load, _submit, _reset, filename, typed_path):
        if ctx.triggered_id == "train-reset":
            return None, "", True
        from_upload = ctx.triggered_id == "train-upload"
        try:
            source = source_from_form(from_upload, contents, filename, typed_path, context.uploads_dir)
        except InputError as error:
            logger.warning("rejected training dataset (%s): %s", ctx.triggered_id, error)
            return no_update, f"Could not use this dataset: {error}", False
        if source is None:
            raise PreventUpdate
        return source, "", True

    @app.callback(Output("train-source-label", "children"), Input("train-source", "data"))
    def show_dataset(source):
        return source_label(source, context)

    @app.callback(
        Output("train-epochs", "value"),
        Output("train-batch-size", "value"),
        Output("train-learning-rate", "value"),
        Output("train-message", "children", allow_duplicate=True),
        Output("train-message", "hidden", allow_duplicate=True),
        Output("train-message", "className", allow_duplicate=True),
        Input("train-config", "value"),
        prevent_initial_call="initial_duplicate",
    )
    def fill_config_fields(config):
        if not config:
            raise PreventUpdate
        try:
            values = config_key_values(config_path(config))
        except InputError as error:
            return None, None, None, f"Could not read the config: {error}", False, ERROR
        return values["epochs"], values["batch_size"], f"{values['learning_rate']:g}", "", True, INFO

    @app.callback(
        Output("train-message", "children"),
        Output("train-message", "hidden"),
        Output("train-message", "className"),
        Output("train-job-picker", "options", allow_duplicate=True),
        Output("train-job-picker", "value", allow_duplicate=True),
        Input("train-launch", "n_clicks"),
        State("train-source", "data"),
        State("train-config", "value"),
        State("train-epochs", "value"),
        State("train-batch-size", "value"),
        State("train-learning-rate", "value"),
        State("train-backend", "value"),
        *resource_states("train"),
        prevent_initial_call=True,
    )
    def launch(clicks, source, config, epochs, batch_size, learning_rate, backend, *resource_values):
        if not clicks:
            raise PreventUpdate

        def submit() -> str:
            dataset = resolve_source(source, context)
            chosen_config = None
            if config:
                chosen_config = edited_config(
                    config_path(config),
                    {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate},
                    context.settings.cache_dir / "train-configs",
                )
            resources = resources_from_form(backend, dict(zip(RESOURCE_NAMES, resource_values)))
            return service.submit(train_spec(dataset.path, chosen_config, resources), backend)

        job_id, message, kind = submit_job(submit, "training job")
        if job_id is None:
            return message, False, kind, no_update, no_update
        return message, False, kind, job_options(service.ids_of_kind(KIND)), job_id

    @app.callback(
        Output("train-job-picker", "options"),
        Output("train-job-picker", "value"),
        Input("train-interval", "n_intervals"),
        State("train-job-picker", "value"),
        State("train-job-picker", "options"),
    )
    def list_jobs(_tick, chosen, shown_options):
        try:
            job_ids = service.ids_of_kind(KIND)
        except (JobSpecError, OSError) as error:
            logger.error("cannot list the training jobs: %s", error)
            raise PreventUpdate from None
        options = job_options(job_ids)
        value = newest_unless_chosen(job_ids, chosen)
        if options == shown_options and value == chosen:
            raise PreventUpdate
        return options, value

    @app.callback(
        Output("train-job-status", "children"),
        Output("train-loss-chart", "figure"),
        Output("train-results", "hidden"),
        Output("train-results-note", "children"),
        Output("train-test-summary", "children"),
        Output("train-parity-chart", "figure"),
        Output("train-mae-chart", "figure"),
        Output("train-watch-key", "data"),
        Input("train-interval", "n_intervals"),
        Input("train-job-picker", "value"),
        State("train-watch-key", "data"),
    )
    def watch_job(_tick, job_id, shown_key):
        if not job_id:
            return no_job_outputs(NO_JOB, "Results appear when a training job has finished.")
        try:
            status = service.status(job_id)
            report = service.test_report(job_id)
            key = watch_key(job_id, status.state, report is not None)
            if ctx.triggered_id == "train-interval" and key == shown_key:
                raise PreventUpdate
            metrics = service.metrics(job_id, KIND)
        except (JobSpecError, JobArtifactError) as error:
            logger.warning("cannot show training job %r: %s", job_id, error)
            return no_job_outputs(f"Could not read job {job_id}: {error}", "")
        line = [job_link(job_id), state_badge(status.state.value)]
        if status.reason:
            line.append(html.Span(status.reason, className="muted"))
        figure = surrogate_loss_figure(metrics, uirevision=job_id)
        if report is None:
            note = "This job wrote no test report." if status.state.is_final else "Results appear when the job has finished."
            return line, figure, True, note, [], no_update, no_update, key
        note = (f"Test set of job {job_id}, in kcal/mol. Click a legend entry to show or hide a baseline. "
                "Sizes without a test cluster have no bar.")
        summary = value_table(summary_rows(report))
        parity = parity_figure(report, uirevision=job_id)
        by_size = mae_by_size_figure(report, uirevision=job_id)
        return line, figure, False, note, summary, parity, by_size, key

    @app.callback(
        Output(SELECTED_SURROGATE, "data", allow_duplicate=True),
        Output(WEIGHTS_STORE, "data", allow_duplicate=True),
        Output("train-model-message", "children"),
        Output("train-model-message", "hidden"),
        Output("train-model-message", "className"),
        Input("train-use-model", "n_clicks"),
        State("train-job-picker", "value"),
        State(WEIGHTS_STORE, "data"),
        prevent_initial_call=True,
    )
    def use_model(clicks, job_id, weights):
        # Called without a click when the page is rendered, because the store output exists before the page.
        if not clicks or not job_id:
            raise PreventUpdate
        try:
            path = service.model_dir(job_id)
        except JobArtifactError as error:
            return no_update, no_update, f"Could not choose this model: {error}", False, ERROR
        if path is None:
            return no_update, no_update, f"Job {job_id} has no trained model yet.", False, ERROR
        logger.info("model of job %s chosen for the reward: %s", job_id, path)
        message = f"Chose the model of job {job_id}. Give it a weight on the Reward page to use it in the reward."
        return {"job_id": job_id, "path": str(path)}, weights_with_model(weights, str(path)), message, False, INFO

    @app.callback(Output("train-selected-model", "children"), Input(SELECTED_SURROGATE, "data"))
    def show_selected_model(chosen):
        return selected_model_text(chosen)

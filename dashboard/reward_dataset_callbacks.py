"""Callbacks that choose the Reward page's dataset and compute its component table in the background.

The stores involved, in the order a new dataset passes through them:

``reward-source`` (session)
    The user's choice, in the forms that :mod:`dashboard.reward_data` describes.
``reward-job-request``
    Set when the chosen dataset's table is not in this server's memory, or
    when the weights give the surrogate's component a weight and the chosen
    model's predictions for the dataset are not in memory. It starts the
    background callback, which computes the table (and the predictions)
    into the on-disk cache in a separate process, with a progress bar and a
    cancel button.
``reward-job-result``
    The background callback's outcome: the number of clusters, or an error.
``reward-dataset``
    The dataset whose table the charts show. It changes only once the
    table is in memory, so a failed or cancelled computation leaves the
    charts as they were.
``reward-predictions``
    Changes whenever a model's predictions arrive in memory (or fail), so
    the charts that use them are drawn again.
"""

from __future__ import annotations

import logging
import time

from dash import Dash, Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from engine.errors import InputError

from dashboard.context import DashboardContext
from dashboard.reward_data import (
    ComponentTables,
    compute_into_cache,
    predict_into_cache,
    resolve_source,
    source_from_form,
)
from dashboard.reward_ids import WEIGHTS_STORE
from dashboard.reward_logic import confined_model_folder, dashboard_weights

logger = logging.getLogger(__name__)

#: Milliseconds between two polls of a running background job.
POLL_INTERVAL_MS = 400
#: Message shown when the user cancelled a model's predictions.
CANCELLED = "the prediction was cancelled; change a weight or load the dataset again to restart it"


def fallback_source(current: dict | None) -> dict | None:
    """Return the ``reward-source`` value of the dataset shown now, or None (the default dataset)."""
    return current.get("source") if current else None


def pending(request: dict | None, result: dict | None, source: object, model: str | None) -> bool:
    """Return whether a background computation for ``source`` and ``model`` was requested and has not returned yet."""
    if not request or request.get("source") != source or request.get("model") != model:
        return False
    return not result or result.get("request") != request


def register_dataset_callbacks(app: Dash, context: DashboardContext, tables: ComponentTables) -> None:
    """Register the dataset choice and background table callbacks of the Reward page."""
    runs_dir = context.settings.runs_dir

    def needed_model(stored: object) -> str | None:
        """Return the surrogate model whose predictions the weights need, or None."""
        try:
            weights = dashboard_weights(stored, runs_dir)
        except InputError:
            return None  # the weights form and the charts report invalid weights
        return weights.surrogate_model if weights.uses_surrogate else None

    @app.callback(
        Output("reward-source", "data", allow_duplicate=True),
        Output("reward-source-error", "children", allow_duplicate=True),
        Output("reward-source-error", "hidden", allow_duplicate=True),
        Input("reward-upload", "contents"),
        Input("reward-path-load", "n_clicks"),
        Input("reward-path", "n_submit"),
        Input("reward-reset", "n_clicks"),
        State("reward-upload", "filename"),
        State("reward-path", "value"),
        prevent_initial_call=True,
    )
    def choose_source(contents, _load, _submit, _reset, filename, typed_path):
        trigger = ctx.triggered_id
        if trigger == "reward-reset":
            return None, "", True
        try:
            source = source_from_form(trigger == "reward-upload", contents, filename, typed_path, context.uploads_dir)
        except InputError as error:
            logger.warning("rejected dataset choice (%s): %s", trigger, error)
            return no_update, f"Could not use this dataset: {error}", False
        if source is None:
            raise PreventUpdate
        return source, "", True

    @app.callback(
        Output("reward-dataset", "data"),
        Output("reward-job-request", "data"),
        Output("reward-source", "data"),
        Output("reward-source-error", "children"),
        Output("reward-source-error", "hidden"),
        Output("reward-job-message", "hidden", allow_duplicate=True),
        Input("reward-source", "data"),
        Input(WEIGHTS_STORE, "data"),
        State("reward-dataset", "data"),
        State("reward-job-request", "data"),
        State("reward-job-result", "data"),
        prevent_initial_call="initial_duplicate",
    )
    def request_table(source, stored, shown_dataset, last_request, last_result):
        message, hidden = "", True
        try:
            dataset = resolve_source(source, context)
        except InputError as error:
            logger.warning("dataset choice %r cannot be used: %s", source, error)
            message, hidden = f"Could not use the chosen dataset, so the default dataset is shown: {error}", False
            dataset, source = resolve_source(None, context), None
        else:
            source = no_update
            if ctx.triggered_id == WEIGHTS_STORE:
                # Only a new dataset choice changes the message about the dataset choice.
                message, hidden = no_update, no_update
        model = needed_model(stored)
        try:
            held = tables.in_memory(dataset)
        except InputError as error:
            logger.error("cannot read dataset %s: %s", dataset.path, error)
            return no_update, no_update, source, f"Could not read the dataset: {error}", False, no_update
        # A cancelled prediction starts again on the user's next change of the weights or the dataset.
        failed = model is not None and tables.failure(dataset, model, retry=ctx.triggered_id is not None) is not None
        try:
            # Predictions dropped from memory are read back from the disk cache here.
            ready = model is None or tables.cached_predictions(dataset, model) is not None
        except (InputError, OSError) as error:
            # The background computation then reports the problem on the page.
            logger.info("predictions of %s by %s not read from the cache: %s", dataset.name, model, error)
            ready = False
        # A dataset that is already shown is not sent again, because that would select its best cluster anew.
        dataset_output = no_update if shown_dataset == dataset.to_dict() else dataset.to_dict()
        if held is not None and (ready or failed):
            return dataset_output, no_update, source, message, hidden, no_update
        if pending(last_request, last_result, dataset.source, model):
            return no_update, no_update, source, message, hidden, no_update
        request = {"source": dataset.source, "model": model, "requested_at": time.time()}
        # A new computation hides the outcome of the previous one.
        return (dataset_output if held is not None else no_update), request, source, message, hidden, True

    @app.callback(
        Output("reward-job-result", "data"),
        Input("reward-job-request", "data"),
        background=True,
        progress=[
            Output("reward-progress", "value"),
            Output("reward-progress", "max"),
            Output("reward-progress-label", "children"),
        ],
        progress_default=["0", "1", ""],
        running=[
            (Output("reward-progress-box", "hidden"), False, True),
            (Output("reward-cancel", "disabled"), False, True),
        ],
        cancel=[Input("reward-cancel", "n_clicks")],
        interval=POLL_INTERVAL_MS,
        prevent_initial_call=True,
    )
    def compute_table(set_progress, request):
        # Runs in a separate process: it stores the table, and the predictions
        # when a model is requested, in the on-disk cache, and the server
        # process reads them from there.
        if not request:
            raise PreventUpdate
        try:
            dataset = resolve_source(request.get("source"), context)
            set_progress((None, "1", f"Reading the clusters of {dataset.name}…"))

            def report(done: int, total: int) -> bool:
                set_progress((str(done), str(total), f"Computing reward components: {done} of {total} clusters"))
                return True

            n_clusters = compute_into_cache(tables.cache_dir, dataset, report)
        except InputError as error:
            logger.warning("component table of %r failed: %s", request.get("source"), error)
            return {"request": request, "error": str(error)}
        except OSError as error:
            logger.error("component table of %r failed: %s", request.get("source"), error)
            return {"request": request, "error": f"cannot read or cache the dataset ({error})"}
        outcome = {"request": request, "n_clusters": n_clusters, "error": None, "prediction_error": None}
        model = request.get("model")
        if model:
            try:
                model = confined_model_folder(model, runs_dir)

                def report_prediction(done: int, total: int) -> bool:
                    set_progress((str(done), str(total), f"Predicting energies with the surrogate: {done} of {total} clusters"))
                    return True

                set_progress((None, "1", f"Loading the surrogate model {model}…"))
                predict_into_cache(tables.cache_dir, dataset, model, report_prediction)
            except InputError as error:
                logger.warning("energies of %r not predicted with %s: %s", request.get("source"), model, error)
                outcome["prediction_error"] = str(error)
            except OSError as error:
                logger.error("energies of %r not predicted with %s: %s", request.get("source"), model, error)
                outcome["prediction_error"] = f"cannot read the model or cache the predictions ({error})"
            except Exception as error:  # noqa: BLE001 - a damaged model file may raise anything; the page must hear of it
                logger.exception("energies of %r not predicted with %s", request.get("source"), model)
                outcome["prediction_error"] = f"the model failed ({type(error).__name__}: {error})"
        return outcome

    @app.callback(
        Output("reward-dataset", "data", allow_duplicate=True),
        Output("reward-source", "data", allow_duplicate=True),
        Output("reward-job-message", "children"),
        Output("reward-job-message", "hidden"),
        Output("reward-job-message", "className"),
        Output("reward-predictions", "data"),
        Input("reward-job-result", "data"),
        State("reward-dataset", "data"),
        prevent_initial_call=True,
    )
    def accept_table(result, current):
        if not result or result.get("cancelled"):
            raise PreventUpdate
        request = result.get("request", {})
        source, model = request.get("source"), request.get("model")
        error = result.get("error")
        if error is None:
            try:
                dataset = resolve_source(source, context)
                tables.load(dataset)
            except InputError as load_error:
                logger.error("component table of %r computed but not loaded: %s", source, load_error)
                error = str(load_error)
            else:
                dataset_output = no_update if current == dataset.to_dict() else dataset.to_dict()
                if not model:
                    return dataset_output, no_update, "", True, "alert alert-info", no_update
                message, hidden = "", True
                prediction_error = result.get("prediction_error")
                if prediction_error is None:
                    try:
                        if tables.cached_predictions(dataset, model) is None:
                            logger.warning("predictions of %r by %s missing from the cache after computing", source, model)
                            prediction_error = (
                                "the predictions are missing from the cache, so the model may have changed; "
                                "change a weight to predict again"
                            )
                    except (InputError, OSError) as load_error:
                        logger.error("predictions of %r by %s computed but not loaded: %s", source, model, load_error)
                        prediction_error = str(load_error)
                if prediction_error is not None:
                    tables.record_failure(dataset, model, prediction_error)
                    message, hidden = f"Could not predict the energies with the surrogate: {prediction_error}.", False
                return dataset_output, no_update, message, hidden, "alert alert-error", {"model": model, "at": time.time()}
        revert = fallback_source(current)
        shown = f"still showing {current['name']}" if current else "no dataset is loaded"
        message = f"Could not compute the reward components: {error}. The dataset choice was reset; {shown}."
        return no_update, (revert if revert != source else no_update), message, False, "alert alert-error", no_update

    @app.callback(
        Output("reward-source", "data", allow_duplicate=True),
        Output("reward-job-message", "children", allow_duplicate=True),
        Output("reward-job-message", "hidden", allow_duplicate=True),
        Output("reward-job-message", "className", allow_duplicate=True),
        Output("reward-job-result", "data", allow_duplicate=True),
        Output("reward-predictions", "data", allow_duplicate=True),
        Input("reward-cancel", "n_clicks"),
        State("reward-dataset", "data"),
        State("reward-source", "data"),
        State("reward-job-request", "data"),
        prevent_initial_call=True,
    )
    def report_cancel(_clicks, current, requested, request):
        revert = fallback_source(current)
        shown = f"Still showing {current['name']}." if current else "No dataset is loaded."
        logger.info("component table computation of %r cancelled", requested)
        # The cancelled computation never returns, so its result is written here: a later
        # change of the weights may then request it again.
        cancelled_result = {"request": request, "cancelled": True} if request else no_update
        refreshed = no_update
        if request and request.get("model"):
            try:
                dataset = resolve_source(request.get("source"), context)
                tables.record_failure(dataset, request["model"], CANCELLED, retry=True)
                refreshed = {"model": request["model"], "at": time.time()}
            except InputError as error:
                logger.warning("cancelled prediction of %r not recorded: %s", request.get("source"), error)
        return (
            revert if revert != requested else no_update,
            f"Computation cancelled. {shown}",
            False,
            "alert alert-info",
            cancelled_result,
            refreshed,
        )

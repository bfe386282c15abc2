"""Callbacks that choose the Reward page's dataset and compute its component table in the background.

The stores involved, in the order a new dataset passes through them:

``reward-source`` (session)
    The user's choice, in the forms that :mod:`dashboard.reward_data` describes.
``reward-job-request``
    Set when the chosen dataset's table is not in this server's memory.
    It starts the background callback, which computes the table into the
    on-disk cache in a separate process, with a progress bar and a cancel
    button.
``reward-job-result``
    The background callback's outcome: the number of clusters, or an error.
``reward-dataset``
    The dataset whose table the charts show. It changes only once the
    table is in memory, so a failed or cancelled computation leaves the
    charts as they were.
"""

from __future__ import annotations

import logging
import time

from dash import Dash, Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from engine.errors import InputError

from dashboard.context import DashboardContext
from dashboard.reward_data import ComponentTables, compute_into_cache, resolve_source, server_path_source, upload_source

logger = logging.getLogger(__name__)

#: Milliseconds between two polls of a running background job.
POLL_INTERVAL_MS = 400


def fallback_source(current: dict | None) -> dict | None:
    """Return the ``reward-source`` value of the dataset shown now, or None (the default dataset)."""
    return current.get("source") if current else None


def register_dataset_callbacks(app: Dash, context: DashboardContext, tables: ComponentTables) -> None:
    """Register the dataset choice and background table callbacks of the Reward page."""

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
            if trigger == "reward-upload":
                if contents is None:
                    raise PreventUpdate
                source = upload_source(contents, filename, context.uploads_dir)
            else:
                source = server_path_source(typed_path)
        except InputError as error:
            logger.warning("rejected dataset choice (%s): %s", trigger, error)
            return no_update, f"Could not use this dataset: {error}", False
        return source, "", True

    @app.callback(
        Output("reward-dataset", "data"),
        Output("reward-job-request", "data"),
        Output("reward-source", "data"),
        Output("reward-source-error", "children"),
        Output("reward-source-error", "hidden"),
        Input("reward-source", "data"),
    )
    def request_table(source):
        message, hidden = "", True
        try:
            dataset = resolve_source(source, context)
        except InputError as error:
            logger.warning("dataset choice %r cannot be used: %s", source, error)
            message, hidden = f"Could not use the chosen dataset, so the default dataset is shown: {error}", False
            dataset, source = resolve_source(None, context), None
        else:
            source = no_update
        try:
            held = tables.in_memory(dataset)
        except InputError as error:
            logger.error("cannot read dataset %s: %s", dataset.path, error)
            return no_update, no_update, source, f"Could not read the dataset: {error}", False
        if held is not None:
            return dataset.to_dict(), no_update, source, message, hidden
        request = {"source": dataset.source, "requested_at": time.time()}
        return no_update, request, source, message, hidden

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
        # Runs in a separate process: it stores the table in the on-disk
        # cache, and the server process reads it from there.
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
        return {"request": request, "n_clusters": n_clusters, "error": None}

    @app.callback(
        Output("reward-dataset", "data", allow_duplicate=True),
        Output("reward-source", "data", allow_duplicate=True),
        Output("reward-job-message", "children"),
        Output("reward-job-message", "hidden"),
        Output("reward-job-message", "className"),
        Input("reward-job-result", "data"),
        State("reward-dataset", "data"),
        prevent_initial_call=True,
    )
    def accept_table(result, current):
        if not result:
            raise PreventUpdate
        source = result.get("request", {}).get("source")
        error = result.get("error")
        if error is None:
            try:
                dataset = resolve_source(source, context)
                tables.load(dataset)
            except InputError as load_error:
                logger.error("component table of %r computed but not loaded: %s", source, load_error)
                error = str(load_error)
            else:
                return dataset.to_dict(), no_update, "", True, "alert alert-info"
        revert = fallback_source(current)
        shown = f"still showing {current['name']}" if current else "no dataset is loaded"
        message = f"Could not compute the reward components: {error}. The dataset choice was reset; {shown}."
        return no_update, (revert if revert != source else no_update), message, False, "alert alert-error"

    @app.callback(
        Output("reward-source", "data", allow_duplicate=True),
        Output("reward-job-message", "children", allow_duplicate=True),
        Output("reward-job-message", "hidden", allow_duplicate=True),
        Output("reward-job-message", "className", allow_duplicate=True),
        Input("reward-cancel", "n_clicks"),
        State("reward-dataset", "data"),
        State("reward-source", "data"),
        prevent_initial_call=True,
    )
    def report_cancel(_clicks, current, requested):
        revert = fallback_source(current)
        shown = f"Still showing {current['name']}." if current else "No dataset is loaded."
        logger.info("component table computation of %r cancelled", requested)
        return (revert if revert != requested else no_update), f"Computation cancelled. {shown}", False, "alert alert-info"


"""Callbacks of the Reward page: the weights form, presets, agreement charts, the selected cluster and fitting.

Each callback parses its inputs with :mod:`dashboard.reward_logic`, calls
the engine, and builds components with :mod:`dashboard.reward_views`. Bad
input shows a message and leaves the charts as they were.
"""

from __future__ import annotations

import logging

import numpy as np
from dash import Dash, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from engine.agreement import NoEnergiesError, agreement_by_size
from engine.components import ComponentTable
from engine.errors import InputError
from engine.fitting import FitResult, fit_with_split
from engine.presets import SHIPPED_PRESETS_DIR
from engine.reward import DEFAULT_WEIGHTS, RewardWeights

from dashboard import graph_view
from dashboard.context import DashboardContext
from dashboard.reward_ids import ALL_SIZES, WEIGHTS_STORE, box_id, slider_id
from dashboard.reward_data import ComponentTables, DatasetFile, resolve_source, water_graphs
from dashboard.reward_dataset_callbacks import CANCELLED, register_dataset_callbacks
from dashboard.reward_logic import (
    FIELDS,
    check_surrogate_model,
    dashboard_weights,
    surrogate_text,
    with_surrogate,
    TRAIN_FRACTION,
    FormState,
    PresetFolders,
    dataset_label,
    form_for_weights,
    load_preset_choice,
    nonzero_weights,
    parse_seed,
    parse_top_k,
    preset_options,
    save_preset_as,
    stored_weights,
    update_form,
)
from dashboard.reward_views import (
    agreement_table,
    breakdown_figure,
    cluster_summary,
    empty_figure,
    fit_table,
    reward_histogram,
    scatter_figure,
    spearman_figure,
)

logger = logging.getLogger(__name__)

INFO = "alert alert-info"
ERROR = "alert alert-error"
NO_SELECTION = "Click a point of the chart to see that cluster's hydrogen-bond graph and reward breakdown."
PREDICTING = (
    "The chosen surrogate is predicting this dataset's energies in the background; "
    "the charts include its component when the predictions are ready."
)
NO_ENERGIES = (
    "The agreement views need cluster energies, and this dataset has none. "
    "The reward is still computed: the chart shows its histogram."
)


def form_outputs(state: FormState) -> dict:
    """Return the slider, box, store and message outputs of the weights form for ``state``."""
    return {
        "sliders": {field: state.sliders[field] for field in FIELDS},
        "boxes": {field: state.boxes[field] for field in FIELDS},
        "box_classes": {field: "weight-box invalid" if field in state.invalid else "weight-box" for field in FIELDS},
        "weights": state.weights.to_dict() if state.weights is not None else no_update,
        "error": " ".join(f"Invalid weight: {error}." for error in state.errors) if state.errors else "",
        "error_hidden": not state.errors,
    }


def preset_message(text: str | None, kind: str) -> dict:
    """Return the preset message outputs: ``text`` in the style ``kind``, or no change when ``text`` is None."""
    if text is None:
        return {"preset_message": no_update, "preset_hidden": no_update, "preset_class": no_update}
    return {"preset_message": text, "preset_hidden": False, "preset_class": kind}


def fit_store(fit: FitResult, seed: int, dataset_name: str) -> dict:
    """Return the JSON form of a fit result kept in the ``reward-fit`` store."""
    return {
        "weights": fit.weights.to_dict(),
        "seed": seed,
        "train_fraction": TRAIN_FRACTION,
        "n_train": int(len(fit.train_index)),
        "n_test": int(len(fit.test_index)),
        "held_out_rmse_kcal_mol": fit.rmse_kcal_mol if np.isfinite(fit.rmse_kcal_mol) else None,
        "dataset": dataset_name,
        "train": [entry.to_dict() for entry in fit.train_agreement],
        "test": [entry.to_dict() for entry in fit.test_agreement],
    }


def preset_metadata(weights: RewardWeights, fit: dict | None) -> dict:
    """Return the metadata saved with a preset: how it was fitted when the weights are the last fit's."""
    if fit:
        try:
            fitted = nonzero_weights(RewardWeights.from_dict(fit.get("weights"), "fitted weights"))
        except InputError:
            fitted = None
        if fitted == nonzero_weights(weights):
            details = {key: value for key, value in fit.items() if key != "weights"}
            return {"description": f"Weights fitted on {fit.get('dataset')} on the Reward page.", "fitted": details}
    return {"description": "Weights saved from the Reward page."}


class PredictionsNotReady(InputError):
    """Raised when the weights use the surrogate and its predictions for the dataset are not available.

    Attributes:
        failed: Whether the predictions failed, rather than being computed or cancelled by the user.
    """

    def __init__(self, message: str, failed: bool = True):
        super().__init__(message)
        self.failed = failed


def without_surrogate(weights: RewardWeights) -> RewardWeights:
    """Return ``weights`` with the surrogate's weight set to 0 (the model stays recorded)."""
    return with_surrogate(weights, weights.surrogate_model, 0.0)


def register_callbacks(app: Dash, context: DashboardContext) -> None:
    """Register every callback of the Reward page on ``app``."""
    tables = ComponentTables(context.settings.cache_dir / "components")
    folders = PresetFolders(SHIPPED_PRESETS_DIR, context.settings.presets_dir)
    register_dataset_callbacks(app, context, tables)

    runs_dir = context.settings.runs_dir

    def loaded_table(dataset_data: dict) -> tuple[DatasetFile, ComponentTable]:
        dataset = resolve_source(dataset_data.get("source"), context)
        return dataset, tables.load(dataset)

    def predictions(dataset: DatasetFile, weights: RewardWeights):
        """Return the surrogate's predictions that ``weights`` need for ``dataset`` (None when they need none).

        Raises:
            PredictionsNotReady: while they are computed, or with the reason they failed.
        """
        if not weights.uses_surrogate:
            return None
        failure = tables.failure(dataset, weights.surrogate_model)
        if failure is not None:
            raise PredictionsNotReady(f"the surrogate's energies are missing: {failure}", failed=failure != CANCELLED)
        try:
            predicted = tables.cached_predictions(dataset, weights.surrogate_model)
        except InputError as error:
            raise PredictionsNotReady(f"the surrogate's energies are missing: {error}") from None
        except OSError as error:
            raise InputError(f"cannot read {dataset.name} ({error})") from None
        if predicted is None:
            raise PredictionsNotReady(PREDICTING, failed=False)
        return predicted

    @app.callback(
        Output("reward-source-label", "children"),
        Output("reward-size", "options"),
        Output("reward-size", "value"),
        Input("reward-dataset", "data"),
        State("reward-size", "value"),
    )
    def show_dataset(dataset_data, size):
        if not dataset_data:
            raise PreventUpdate
        try:
            dataset, table = loaded_table(dataset_data)
        except InputError as error:
            logger.error("cannot load dataset %r: %s", dataset_data.get("name"), error)
            return f"Could not load the dataset: {error}", no_update, no_update
        sizes, counts = np.unique(table.n_waters, return_counts=True)
        label = dataset_label(
            dataset.origin, dataset.name, len(table), sizes.tolist(), int(np.count_nonzero(~np.isnan(table.energies)))
        )
        options = [{"label": "All sizes", "value": ALL_SIZES}]
        options += [{"label": f"{size} waters ({count})", "value": int(size)} for size, count in zip(sizes, counts)]
        keep = size if size in sizes.tolist() else ALL_SIZES
        return label, options, keep

    @app.callback(
        output={
            "sliders": {field: Output(slider_id(field), "value") for field in FIELDS},
            "boxes": {field: Output(box_id(field), "value") for field in FIELDS},
            "box_classes": {field: Output(box_id(field), "className") for field in FIELDS},
            "weights": Output(WEIGHTS_STORE, "data"),
            "error": Output("reward-weights-error", "children"),
            "error_hidden": Output("reward-weights-error", "hidden"),
            "preset_message": Output("reward-preset-message", "children"),
            "preset_hidden": Output("reward-preset-message", "hidden"),
            "preset_class": Output("reward-preset-message", "className"),
        },
        inputs={
            "sliders": {field: Input(slider_id(field), "value") for field in FIELDS},
            "boxes": {field: Input(box_id(field), "value") for field in FIELDS},
            "load": Input("reward-preset-load", "n_clicks"),
            "fit": Input("reward-fit", "data"),
        },
        state={"choice": State("reward-preset", "value"), "stored": State(WEIGHTS_STORE, "data")},
    )
    def update_weights(sliders, boxes, load, fit, choice, stored):
        trigger = ctx.triggered_id
        try:
            current = stored_weights(stored)
        except InputError as error:
            logger.warning("ignoring invalid weights in the browser session: %s", error)
            current = DEFAULT_WEIGHTS

        if trigger == "reward-preset-load" and len(ctx.triggered_prop_ids) == 1:
            try:
                loaded = check_surrogate_model(load_preset_choice(choice, folders), runs_dir)
                if loaded.surrogate_model is None:
                    # A preset without a surrogate keeps the chosen model, at weight 0.
                    loaded = with_surrogate(loaded, current.surrogate_model, 0.0)
            except InputError as error:
                logger.info("preset %r not loaded: %s", choice, error)
                form = {key: no_update for key in ("sliders", "boxes", "box_classes", "weights", "error", "error_hidden")}
                return {**form, **preset_message(f"Could not load the preset: {error}", ERROR)}
            text = f"Loaded preset {choice.partition('/')[2]!r}."
            if current.uses_surrogate and not loaded.uses_surrogate:
                text += " It gives the surrogate no weight, so its weight is now 0."
            return {**form_outputs(form_for_weights(loaded)), **preset_message(text, INFO)}

        # A user's edit triggers exactly one input. When the page is rendered, Dash calls this
        # once with every input of the new layout listed as triggered, or with none.
        if trigger is None or len(ctx.triggered_prop_ids) > 1:
            state = form_for_weights(current)
        elif trigger == "reward-fit":
            if not fit:
                raise PreventUpdate
            fitted = RewardWeights.from_dict(fit.get("weights"), "fitted weights")
            state = form_for_weights(with_surrogate(fitted, current.surrogate_model, 0.0))
        else:
            kind = "slider" if trigger.startswith("reward-slider-") else "box"
            field = trigger.split("-", 2)[2]
            state = update_form((kind, field), sliders, boxes, current)
        return {**form_outputs(state), **preset_message(None, INFO)}

    # The page's own store is an input too, so that the text is filled in when the page is rendered.
    @app.callback(
        Output("reward-surrogate-model", "children"), Input(WEIGHTS_STORE, "data"), Input("reward-preset-version", "data")
    )
    def show_surrogate_model(stored, _version):
        try:
            return surrogate_text(dashboard_weights(stored, runs_dir), runs_dir)
        except InputError as error:
            return f"The surrogate of these weights cannot be used: {error}."

    @app.callback(Output("reward-preset", "options"), Input("reward-preset-version", "data"))
    def list_presets(_version):
        return preset_options(folders)

    @app.callback(
        Output("reward-preset-version", "data"),
        Output("reward-preset", "value"),
        Output("reward-preset-message", "children", allow_duplicate=True),
        Output("reward-preset-message", "hidden", allow_duplicate=True),
        Output("reward-preset-message", "className", allow_duplicate=True),
        Input("reward-preset-save", "n_clicks"),
        State("reward-preset-name", "value"),
        State(WEIGHTS_STORE, "data"),
        State("reward-weights-error", "hidden"),
        State("reward-fit", "data"),
        State("reward-preset-version", "data"),
        prevent_initial_call=True,
    )
    def save_preset(_clicks, name, stored, error_hidden, fit, version):
        if error_hidden is False:
            return no_update, no_update, "Fix the invalid weights before saving a preset.", False, ERROR
        try:
            weights = dashboard_weights(stored, runs_dir)
            choice = save_preset_as(name, weights, folders, preset_metadata(weights, fit))
        except InputError as error:
            logger.info("preset not saved: %s", error)
            return no_update, no_update, f"Could not save the preset: {error}", False, ERROR
        logger.info("saved preset %s in %s", choice, folders.saved)
        return (version or 0) + 1, choice, f"Saved preset {choice.partition('/')[2]!r} in {folders.saved}.", False, INFO

    @app.callback(
        Output("reward-scatter", "figure"),
        Output("reward-agreement-table", "children"),
        Output("reward-spearman-chart", "figure"),
        Output("reward-agreement-message", "children"),
        Output("reward-agreement-message", "hidden"),
        Output("reward-agreement-message", "className"),
        Input(WEIGHTS_STORE, "data"),
        Input("reward-dataset", "data"),
        Input("reward-size", "value"),
        Input("reward-top-k", "value"),
        Input("reward-selected", "data"),
        Input("reward-predictions", "data"),
    )
    def update_agreement(stored, dataset_data, size, top_k, selected, _predictions):
        if not dataset_data:
            raise PreventUpdate
        try:
            k = parse_top_k(top_k)
            weights = dashboard_weights(stored, runs_dir)
            dataset, table = loaded_table(dataset_data)
        except InputError as error:
            logger.info("charts of %r not updated: %s", dataset_data.get("name"), error)
            return no_update, no_update, no_update, f"The charts were not updated: {error}.", False, ERROR
        notes, kind = [], INFO
        try:
            predicted = predictions(dataset, weights)
        except PredictionsNotReady as waiting:
            # Until the predictions are there (or when they failed), the charts show the other components.
            predicted, weights = None, without_surrogate(weights)
            notes.append(f"The charts leave out the surrogate's component: {str(waiting).rstrip('.')}.")
            kind = ERROR if waiting.failed else INFO
            if waiting.failed:
                logger.info("charts of %r drawn without the surrogate: %s", dataset_data.get("name"), waiting)
        except InputError as error:
            logger.info("charts of %r not updated: %s", dataset_data.get("name"), error)
            return no_update, no_update, no_update, f"The charts were not updated: {error}.", False, ERROR
        size = None if size in (None, ALL_SIZES) else int(size)
        rewards = table.rewards(weights, predicted)
        index = selected.get("index") if selected else None
        try:
            agreement = agreement_by_size(rewards, table.energies, table.n_waters, k)
        except NoEnergiesError:
            figures = reward_histogram(table, rewards, size), html.P(NO_ENERGIES, className="muted"), empty_figure(
                "No energies: no rank correlation."
            )
            return *figures, " ".join([*notes, NO_ENERGIES]), False, kind
        missing = int(np.count_nonzero(np.isnan(table.energies)))
        if missing:
            notes.append(f"{missing} cluster(s) without an energy are left out of the chart and the table.")
        figures = scatter_figure(table, rewards, size, index), agreement_table(agreement), spearman_figure(agreement)
        return *figures, " ".join(notes), not notes, kind

    @app.callback(
        Output("reward-selected", "data"),
        Input("reward-scatter", "clickData"),
        Input("reward-dataset", "data"),
        State(WEIGHTS_STORE, "data"),
        prevent_initial_call=True,
    )
    def select_cluster(click, dataset_data, stored):
        if ctx.triggered_id == "reward-dataset":
            # A new dataset starts with its highest-reward cluster selected.
            if not dataset_data:
                return None
            try:
                dataset, table = loaded_table(dataset_data)
                weights = dashboard_weights(stored, runs_dir)
                try:
                    best = int(np.argmax(table.rewards(weights, predictions(dataset, weights))))
                except PredictionsNotReady:
                    best = int(np.argmax(table.rewards(without_surrogate(weights))))
            except InputError as error:
                logger.warning("no cluster selected in %r: %s", dataset_data.get("name"), error)
                return None
            return {"index": best}
        points = (click or {}).get("points") or []
        point_data = points[0].get("customdata") if points else None
        if not isinstance(point_data, list) or not point_data:
            raise PreventUpdate
        # customdata is [table row, frame, waters], as reward_views.point_data builds it.
        return {"index": int(point_data[0])}

    @app.callback(
        Output("reward-graph", "elements"),
        Output("reward-cluster-details", "children"),
        Output("reward-breakdown-chart", "figure"),
        Input("reward-selected", "data"),
        Input(WEIGHTS_STORE, "data"),
        Input("reward-predictions", "data"),
        State("reward-dataset", "data"),
    )
    def show_cluster(selected, stored, _predictions, dataset_data):
        if not selected or not dataset_data:
            return [], html.P(NO_SELECTION, className="muted"), empty_figure("No cluster selected.")
        try:
            weights = dashboard_weights(stored, runs_dir)
            dataset, table = loaded_table(dataset_data)
        except InputError as error:
            logger.warning("cannot show the selected cluster: %s", error)
            raise PreventUpdate from None
        index = int(selected["index"])
        if not 0 <= index < len(table):
            raise PreventUpdate
        graphs = water_graphs(dataset.path)
        if len(graphs) != len(table):
            logger.warning("not drawing the cluster: %s has %d clusters but its table has %d", dataset.name, len(graphs), len(table))
            raise PreventUpdate
        graph = graphs[index]
        elements = graph_view.graph_elements(graph, graph_view.layout_positions(graph))
        note = None
        try:
            predicted = predictions(dataset, weights)
        except PredictionsNotReady as waiting:
            predicted, weights = None, without_surrogate(weights)
            note = f"The reward below leaves out the surrogate's component: {waiting}"
        reward = float(table.rewards(weights, predicted)[index])
        figure = breakdown_figure(table.breakdown(index, weights, predicted), table.absent(index))
        shown_prediction = None if predicted is None else float(predicted[index])
        return elements, cluster_summary(table, index, reward, shown_prediction, note), figure

    @app.callback(
        Output("reward-fit", "data"),
        Output("reward-fit-results", "children"),
        Output("reward-fit-message", "children"),
        Output("reward-fit-message", "hidden"),
        Input("reward-fit-button", "n_clicks"),
        State("reward-fit-seed", "value"),
        State("reward-top-k", "value"),
        State("reward-dataset", "data"),
        prevent_initial_call=True,
    )
    def fit(_clicks, seed_value, top_k, dataset_data):
        if not dataset_data:
            return no_update, no_update, "Wait until the dataset is loaded.", False
        try:
            seed = parse_seed(seed_value)
            k = parse_top_k(top_k)
            dataset, table = loaded_table(dataset_data)
            result = fit_with_split(table, TRAIN_FRACTION, seed, k)
        except (InputError, NoEnergiesError) as error:
            logger.info("fit on %r not run: %s", dataset_data.get("name"), error)
            return no_update, no_update, f"Could not fit the weights: {error}.", False
        logger.info("fitted weights on %s with seed %d", dataset.name, seed)
        rmse = result.rmse_kcal_mol
        summary = html.P(
            f"Fitted on {len(result.train_index)} clusters, {len(result.test_index)} held out (seed {seed}). "
            f"Held-out RMSE within sizes: "
            f"{'n/a (no held-out cluster)' if not np.isfinite(rmse) else f'{rmse:.3f} kcal/mol'}. "
            "The fitted weights are now in the form. The fit uses the graph components only, "
            "so the surrogate's weight is set to 0.",
            id="reward-fit-summary",
        )
        children = [summary, fit_table(result.train_agreement, result.test_agreement)]
        return fit_store(result, seed, dataset.name), children, "", True

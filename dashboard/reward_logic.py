"""Pure helpers of the Reward page: the weights form, presets, parameters and agreement rows.

Nothing here imports Dash. The callbacks in :mod:`dashboard.reward_callbacks`
pass browser values in and turn the results into components.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from engine.agreement import SizeAgreement
from engine.errors import InputError
from engine.presets import check_preset_name, list_presets, load_preset, save_preset
from engine.reward import COMPONENTS, DEFAULT_DEGREE_TARGET, DEFAULT_WEIGHTS, SURROGATE_COMPONENT, RewardWeights
from engine.surrogate.modeldir import ModelDirectory

from dashboard.formatting import MISSING, format_value

#: Name of the form field that sets the target degree ``x``.
DEGREE_TARGET = "degree_target"
#: Name of the form field of the surrogate's weight.
SURROGATE = SURROGATE_COMPONENT
#: Every field of the weights form: one per component, the surrogate's weight, then the target degree.
FIELDS = COMPONENTS + (SURROGATE, DEGREE_TARGET)

#: Label shown next to each form field.
FIELD_LABELS = {
    "degree": "Degree term E(D) − √var(D)",
    "n_hbonds": "Hydrogen bonds",
    "rings_3": "Rings of 3",
    "rings_4": "Rings of 4",
    "rings_5": "Rings of 5",
    "rings_6": "Rings of 6",
    "diameter": "Diameter",
    "aspl": "Average shortest path",
    "wiener_index": "Wiener index",
    "isolated_waters": "Waters without a bond",
    "excess_degree": "Degree above 4",
    "like_atom_bonds": "O–O or H–H bonds",
    "covalent_count": "Covalent bond count error",
    "hbond_count": "Hydrogen bonds above the limit",
    "degree_square_deviation": "Squared deviation from x",
    "degree_excess": "Degree above x",
    SURROGATE: "Predicted energy per water (kcal/mol)",
    DEGREE_TARGET: "Target degree x",
}
#: Heading of each component group of :data:`engine.reward.COMPONENT_GROUPS`.
GROUP_TITLES = {"degree": "Degree", "rings": "Rings", "paths": "Paths", "punishments": "Punishments"}

#: Slider range of a weight. The box next to the slider takes any finite number.
WEIGHT_RANGE = (-5.0, 5.0)
WEIGHT_STEP = 0.01
#: Slider range of the target degree.
DEGREE_TARGET_RANGE = (0.0, 6.0)
DEGREE_TARGET_STEP = 0.1
#: Significant digits of a weight shown in its box.
WEIGHT_DIGITS = 6

#: Share of the clusters used for fitting. The rest is held out.
TRAIN_FRACTION = 0.8
DEFAULT_TOP_K = 10
DEFAULT_SEED = 0

#: Prefix of a preset choice, by the folder it comes from.
SHIPPED = "shipped"
SAVED = "saved"


# Weights form ---------------------------------------------------------------


def slider_range(field: str) -> tuple[float, float]:
    """Return the ``(min, max)`` of a field's slider."""
    return DEGREE_TARGET_RANGE if field == DEGREE_TARGET else WEIGHT_RANGE


def format_weight(value: float) -> str:
    """Return the box text of a weight: up to 6 significant digits, ``0`` without a sign."""
    if value == 0:
        return "0"
    return f"{value:.{WEIGHT_DIGITS}g}"


def clamp_to_slider(field: str, value: float) -> float:
    """Return ``value`` limited to the slider range of ``field``."""
    low, high = slider_range(field)
    return min(high, max(low, value))


def parse_weight(text: object, field: str) -> float:
    """Parse the text of one form box into a finite number.

    Raises:
        InputError: naming the field and the text when the box is empty, not
            a number, or not finite (``nan``, ``inf``, ``1e999``).
    """
    label = FIELD_LABELS.get(field, field)
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        stripped = str(text if text is not None else "").strip()
        if not stripped:
            raise InputError(f"{label} ({field}): the box is empty; type a number")
        try:
            value = float(stripped)
        except ValueError:
            raise InputError(f"{label} ({field}): {stripped!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{label} ({field}): the weight must be a finite number, got {text!r}")
    return value


def weights_values(weights: RewardWeights) -> dict[str, float]:
    """Return every form field's value under ``weights``, with 0 for components without a weight."""
    values = {name: weights.weight(name) for name in COMPONENTS}
    values[SURROGATE] = float(weights.surrogate_weight)
    values[DEGREE_TARGET] = float(weights.degree_target)
    return values


def weights_from_values(values: Mapping[str, float], surrogate_model: str | None = None) -> RewardWeights:
    """Build weights from form field values.

    Args:
        values: Field to value.
        surrogate_model: Folder of the model that predicts the surrogate's component.

    Raises:
        InputError: from :func:`engine.reward.validate_weights` for an unknown
            name or a value that is not a finite number, and for a surrogate
            weight without a model.
    """
    surrogate_weight = values.get(SURROGATE, 0.0)
    if surrogate_weight != 0.0 and not surrogate_model:
        raise InputError(
            f"{FIELD_LABELS[SURROGATE]} ({SURROGATE}): no surrogate model is chosen; train one on the Train page "
            "and choose it with “Use this model” before giving this component a weight"
        )
    weights = {name: value for name, value in values.items() if name not in (DEGREE_TARGET, SURROGATE)}
    return RewardWeights(weights, values.get(DEGREE_TARGET, DEFAULT_DEGREE_TARGET), surrogate_weight, surrogate_model)


@dataclass(frozen=True)
class FormState:
    """Values to show in the weights form after an event.

    Attributes:
        sliders: Field to slider value, inside the slider range.
        boxes: Field to box text.
        weights: The weights the form shows, or None while a box contains
            an invalid value. The charts then keep the last valid weights.
        errors: One message per invalid box, in form order.
        invalid: The fields whose box contains an invalid value.
    """

    sliders: dict[str, float]
    boxes: dict[str, str]
    weights: RewardWeights | None
    errors: tuple[str, ...] = ()
    invalid: frozenset[str] = frozenset()


def form_for_weights(weights: RewardWeights) -> FormState:
    """Return the form that shows ``weights``: every slider and box set, no errors."""
    values = weights_values(weights)
    return FormState(
        {field: clamp_to_slider(field, values[field]) for field in FIELDS},
        {field: format_weight(values[field]) for field in FIELDS},
        weights,
    )


def update_form(
    changed: tuple[str, str] | None,
    sliders: Mapping[str, object],
    boxes: Mapping[str, object],
    current: RewardWeights,
) -> FormState:
    """Apply one slider or box change to the form and work out the new weights.

    The weights of ``current`` are exact, while a box shows a value rounded
    to 6 significant digits. So a box whose text still shows the current
    value keeps the exact value, and any other box counts as typed by the
    user and is parsed.

    Args:
        changed: ``("slider", field)`` or ``("box", field)`` for the control
            that changed, or None to keep every control as it is.
        sliders: Field to slider value, as sent by the browser.
        boxes: Field to box text, as sent by the browser.
        current: The last valid weights.

    Returns:
        The new form. A moved slider sets its box, and a valid box moves its slider.
    """
    new_sliders = {field: sliders.get(field) for field in FIELDS}
    new_boxes = {field: "" if boxes.get(field) is None else str(boxes.get(field)) for field in FIELDS}
    if changed is not None:
        kind, field = changed
        if kind == "slider" and isinstance(sliders.get(field), (int, float)):
            new_boxes[field] = format_weight(float(sliders[field]))
        elif kind == "box":
            try:
                new_sliders[field] = clamp_to_slider(field, parse_weight(new_boxes[field], field))
            except InputError:
                pass  # reported below with every other invalid box

    current_values = weights_values(current)
    values: dict[str, float] = {}
    errors: list[str] = []
    invalid: set[str] = set()
    for field in FIELDS:
        if new_boxes[field].strip() == format_weight(current_values[field]):
            values[field] = current_values[field]
            continue
        try:
            values[field] = parse_weight(new_boxes[field], field)
        except InputError as error:
            errors.append(str(error))
            invalid.add(field)
    if errors:
        return FormState(new_sliders, new_boxes, None, tuple(errors), frozenset(invalid))
    try:
        weights = weights_from_values(values, current.surrogate_model)
    except InputError as error:
        return FormState(new_sliders, new_boxes, None, (str(error),))
    return FormState(new_sliders, new_boxes, weights)


def stored_weights(data: object) -> RewardWeights:
    """Parse the weights kept in the browser's session store.

    Raises:
        InputError: if the stored value is not a valid weights object.
    """
    return RewardWeights.from_dict(data, where="weights in the browser session")


def describe_weights(weights: RewardWeights) -> str:
    """Return the non-zero weights as ``name = value`` pairs, for messages and notes."""
    pairs = [f"{name} = {format_weight(weights.weight(name))}" for name in COMPONENTS if weights.weight(name) != 0.0]
    if weights.uses_surrogate:
        pairs.append(f"{SURROGATE} = {format_weight(weights.surrogate_weight)}")
    return ", ".join(pairs) if pairs else "every weight 0"


def nonzero_weights(weights: RewardWeights) -> RewardWeights:
    """Return the same weights without the components that weigh 0; the surrogate's model is kept."""
    kept = {name: weights.weight(name) for name in COMPONENTS if weights.weight(name) != 0.0}
    return RewardWeights(kept, weights.degree_target, weights.surrogate_weight, weights.surrogate_model)


def with_surrogate(weights: RewardWeights, model: str | None, weight: float | None = None) -> RewardWeights:
    """Return ``weights`` with another surrogate model and, when given, another surrogate weight."""
    return RewardWeights(
        dict(weights.weights), weights.degree_target, weights.surrogate_weight if weight is None else weight, model
    )


def check_surrogate_model(weights: RewardWeights, runs_dir: Path) -> RewardWeights:
    """Check that the surrogate model of ``weights``, if any, is a model folder inside ``runs_dir``.

    The dashboard only uses models trained by its own jobs, and their
    folders lie in the runs folder. A path from the browser or a preset that
    points elsewhere is rejected.

    Returns:
        ``weights`` with the model as an absolute, resolved path, so that
        everything after the check loads the folder that was checked.

    Raises:
        InputError: naming the path, when it is relative, outside ``runs_dir`` or not a model folder.
    """
    if weights.surrogate_model is None:
        return weights
    return with_surrogate(weights, confined_model_folder(weights.surrogate_model, runs_dir))


def confined_model_folder(model: str, runs_dir: Path) -> str:
    """Return the absolute, resolved path of a surrogate model folder inside ``runs_dir``.

    Raises:
        InputError: naming the path, when it is relative, outside ``runs_dir`` or not a model folder.
    """
    path = Path(model)
    if not path.is_absolute():
        raise InputError(f"surrogate model {model!r} must be an absolute path")
    resolved = path.resolve()
    if not resolved.is_relative_to(runs_dir.resolve()):
        raise InputError(
            f"surrogate model {model!r} is outside the runs folder {runs_dir}; "
            "the dashboard uses models trained by its own jobs"
        )
    if not ModelDirectory(resolved).exists():
        raise InputError(f"surrogate model {model!r} is not a trained model folder (no model.json)")
    return str(resolved)


def dashboard_weights(data: object, runs_dir: Path) -> RewardWeights:
    """Parse the weights of the browser session and check their surrogate model (:func:`check_surrogate_model`).

    Raises:
        InputError: for invalid weights or a surrogate model the dashboard does not use.
    """
    return check_surrogate_model(stored_weights(data), runs_dir)


def weights_with_model(data: object, model: str) -> dict:
    """Return the session's weights, or the default ones when they are invalid, with ``model`` as the surrogate.

    The surrogate's weight is kept, so a user who already weighted the
    surrogate goes on with the newly chosen model.
    """
    try:
        weights = stored_weights(data)
    except InputError:
        weights = DEFAULT_WEIGHTS
    return with_surrogate(weights, model).to_dict()


def surrogate_text(weights: RewardWeights, runs_dir: Path) -> str:
    """Describe the surrogate model of ``weights`` for the weights form."""
    if weights.surrogate_model is None:
        return "No model chosen. Train a surrogate on the Train page, then choose it there with “Use this model”."
    path = Path(weights.surrogate_model)
    try:
        job = path.resolve().relative_to(runs_dir.resolve()).parts[0]
    except (ValueError, IndexError):
        return f"Model: {path}"
    return f"Model of job {job}: {path}"


# Presets --------------------------------------------------------------------


@dataclass(frozen=True)
class PresetFolders:
    """The two folders the preset picker lists.

    Attributes:
        shipped: Presets that ship with the product, read-only.
        saved: Presets saved from the dashboard.
    """

    shipped: Path
    saved: Path


def preset_options(folders: PresetFolders) -> list[dict]:
    """Return the picker options: shipped presets first, then saved ones, each sorted by name.

    An option's value is ``shipped/<name>`` or ``saved/<name>``.
    """
    options = [{"label": f"{name} (shipped)", "value": f"{SHIPPED}/{name}"} for name in list_presets(folders.shipped)]
    options += [{"label": f"{name} (saved)", "value": f"{SAVED}/{name}"} for name in list_presets(folders.saved)]
    return options


def split_choice(choice: object) -> tuple[str, str]:
    """Split a picker value into ``(folder kind, name)``.

    Raises:
        InputError: if nothing is chosen or the value is not ``shipped/<name>`` or ``saved/<name>``.
    """
    if not choice:
        raise InputError("choose a preset to load")
    kind, separator, name = str(choice).partition("/")
    if not separator or kind not in (SHIPPED, SAVED):
        raise InputError(f"invalid preset choice {choice!r}; expected '{SHIPPED}/<name>' or '{SAVED}/<name>'")
    return kind, check_preset_name(name)


def load_preset_choice(choice: object, folders: PresetFolders) -> RewardWeights:
    """Load the preset a picker value names.

    Raises:
        InputError: for an invalid choice, a missing file, bad JSON, unknown
            components or weights that are not finite numbers. The message
            names the file and the problem.
    """
    kind, name = split_choice(choice)
    return load_preset(name, folders.shipped if kind == SHIPPED else folders.saved)


def save_preset_as(
    name: object, weights: RewardWeights, folders: PresetFolders, metadata: dict | None = None
) -> str:
    """Save ``weights`` under ``name`` in the saved-presets folder and return the picker value.

    Components with weight 0 are left out of the file.

    Raises:
        InputError: for an empty or invalid name, the name of a shipped
            preset, or a saved preset that already has this name.
    """
    text = str(name or "").strip()
    if not text:
        raise InputError("type a name for the preset")
    check_preset_name(text)
    if text in list_presets(folders.shipped):
        raise InputError(f"preset {text!r} is a shipped preset and cannot be replaced; choose another name")
    save_preset(text, nonzero_weights(weights), folders.saved, metadata)
    return f"{SAVED}/{text}"


# Parameters -----------------------------------------------------------------


def parse_top_k(value: object) -> int:
    """Parse the top-k box: a whole number of at least 1.

    Raises:
        InputError: for an empty box, a fraction or a number below 1.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"top-k must be a whole number of at least 1, got {value!r}")
    if value != int(value) or value < 1:
        raise InputError(f"top-k must be a whole number of at least 1, got {value!r}")
    return int(value)


def parse_seed(value: object) -> int:
    """Parse the seed box: a whole number from 0 to 2**32 - 1.

    Raises:
        InputError: for an empty box, a fraction or a number out of range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"the seed must be a whole number from 0 to 4294967295, got {value!r}")
    if value != int(value) or not 0 <= value < 2**32:
        raise InputError(f"the seed must be a whole number from 0 to 4294967295, got {value!r}")
    return int(value)


# Dataset and agreement text -------------------------------------------------------------


def dataset_label(origin: str, name: str, n_clusters: int, sizes: Sequence[int], n_with_energy: int) -> str:
    """Return the one-line description of a loaded dataset.

    For example ``Dataset: clusters.extxyz, 300 clusters of 3–12 waters, 300 with an energy``.
    """
    if not sizes:
        size_text = "no waters"
    elif len(sizes) == 1:
        size_text = f"{sizes[0]} waters"
    else:
        size_text = f"{min(sizes)}–{max(sizes)} waters"
    plural = "" if n_clusters == 1 else "s"
    return f"{origin}: {name}, {n_clusters} cluster{plural} of {size_text}, {n_with_energy} with an energy"


def spearman_text(entry: SizeAgreement) -> str:
    """Return the display text of a size's Spearman rho: 3 decimals, or ``n/a`` when undefined."""
    return format_value(entry.spearman)


def agreement_rows(agreement: Sequence[SizeAgreement]) -> list[dict]:
    """Return the display text of every agreement value, one dict per size.

    A Spearman rho that is undefined (fewer than 3 clusters, ties) shows as
    ``n/a``, and the row's note gives the reason. No value is ever shown as NaN.
    """
    rows = []
    for entry in agreement:
        rows.append(
            {
                "n_waters": entry.n_waters,
                "n_clusters": str(entry.n_clusters),
                "spearman": spearman_text(entry),
                "top_k": str(entry.top_k),
                "top_k_overlap": format_value(entry.top_k_overlap),
                "best_reward_energy": format_value(entry.best_reward_energy),
                "lowest_energy": format_value(entry.lowest_energy),
                "note": entry.note,
            }
        )
    return rows


def fit_rows(train: Sequence[SizeAgreement], test: Sequence[SizeAgreement]) -> list[dict]:
    """Pair in-sample and held-out agreement by size, one dict of display text per size.

    A size missing from one part (all its clusters fell in the other part)
    shows ``n/a`` there, with a note.
    """
    by_size_train = {entry.n_waters: entry for entry in train}
    by_size_test = {entry.n_waters: entry for entry in test}
    rows = []
    for size in sorted(set(by_size_train) | set(by_size_test)):
        row = {"n_waters": size}
        notes = []
        for part, entries in (("train", by_size_train), ("test", by_size_test)):
            entry = entries.get(size)
            row[f"{part}_clusters"] = str(entry.n_clusters) if entry else "0"
            row[f"{part}_spearman"] = spearman_text(entry) if entry else MISSING
            if entry is None:
                notes.append(f"{'training' if part == 'train' else 'held-out'} part: no cluster of this size")
            elif entry.note:
                notes.append(f"{'training' if part == 'train' else 'held-out'} part: {entry.note}")
        row["note"] = "; ".join(notes)
        rows.append(row)
    return rows

"""Tests of the Reward page's pure helpers: the weights form, parameters, presets and agreement rows."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dashboard.reward_logic import (
    DEGREE_TARGET,
    FIELDS,
    SURROGATE,
    PresetFolders,
    agreement_rows,
    check_surrogate_model,
    dashboard_weights,
    dataset_label,
    describe_weights,
    fit_rows,
    form_for_weights,
    format_weight,
    load_preset_choice,
    nonzero_weights,
    parse_seed,
    parse_top_k,
    parse_weight,
    preset_options,
    save_preset_as,
    split_choice,
    stored_weights,
    surrogate_text,
    update_form,
    weights_with_model,
    with_surrogate,
)
from engine.agreement import SizeAgreement, agreement_by_size
from engine.errors import InputError
from engine.presets import SHIPPED_PRESETS_DIR, load_preset
from engine.reward import COMPONENTS, DEFAULT_WEIGHTS, RewardWeights


@pytest.fixture
def folders(tmp_path) -> PresetFolders:
    return PresetFolders(SHIPPED_PRESETS_DIR, tmp_path / "presets")


def current_form(weights: RewardWeights) -> tuple[dict, dict]:
    form = form_for_weights(weights)
    return dict(form.sliders), dict(form.boxes)


# Parsing one box ------------------------------------------------------------


@pytest.mark.parametrize("text, value", [("2", 2.0), (" -0.25 ", -0.25), ("1e3", 1000.0), (3, 3.0), (0.5, 0.5)])
def test_parse_weight_accepts_finite_numbers(text, value):
    assert parse_weight(text, "rings_4") == value


@pytest.mark.parametrize(
    "text, problem",
    [
        ("nan", "finite number"),
        ("inf", "finite number"),
        ("-inf", "finite number"),
        ("1e999", "finite number"),
        ("abc", "'abc' is not a number"),
        ("1,5", "'1,5' is not a number"),
        ("", "the box is empty"),
        ("   ", "the box is empty"),
        (None, "the box is empty"),
        (float("nan"), "finite number"),
    ],
)
def test_parse_weight_rejects_bad_text(text, problem):
    with pytest.raises(InputError, match=problem) as raised:
        parse_weight(text, "rings_4")

    assert "rings_4" in str(raised.value)


def test_format_weight_rounds_to_six_digits():
    assert format_weight(0.0) == "0"
    assert format_weight(-0.0) == "0"
    assert format_weight(1.0) == "1"
    assert format_weight(-0.6575487103290912) == "-0.657549"
    assert format_weight(1e-7) == "1e-07"


# Form updates ---------------------------------------------------------------


def test_form_for_weights_shows_every_field():
    form = form_for_weights(DEFAULT_WEIGHTS)

    assert set(form.sliders) == set(FIELDS)
    assert form.boxes["degree"] == "1"
    assert form.boxes["rings_4"] == "0"
    assert form.boxes[DEGREE_TARGET] == "4"
    assert form.weights == DEFAULT_WEIGHTS
    assert form.errors == ()


def test_form_clamps_slider_but_keeps_box_value():
    weights = RewardWeights({"aspl": -12.5}, 4.0)

    form = form_for_weights(weights)

    assert form.sliders["aspl"] == -5.0
    assert form.boxes["aspl"] == "-12.5"


def test_update_form_slider_sets_box():
    sliders, boxes = current_form(DEFAULT_WEIGHTS)
    sliders["rings_4"] = 1.25

    form = update_form(("slider", "rings_4"), sliders, boxes, DEFAULT_WEIGHTS)

    assert form.boxes["rings_4"] == "1.25"
    assert form.weights.weight("rings_4") == 1.25
    assert form.weights.weight("degree") == 1.0
    assert form.errors == ()


def test_update_form_box_moves_slider():
    sliders, boxes = current_form(DEFAULT_WEIGHTS)
    boxes["rings_5"] = "7.5"

    form = update_form(("box", "rings_5"), sliders, boxes, DEFAULT_WEIGHTS)

    assert form.sliders["rings_5"] == 5.0
    assert form.weights.weight("rings_5") == 7.5


def test_update_form_degree_target():
    sliders, boxes = current_form(DEFAULT_WEIGHTS)
    boxes[DEGREE_TARGET] = "3.5"

    form = update_form(("box", DEGREE_TARGET), sliders, boxes, DEFAULT_WEIGHTS)

    assert form.weights.degree_target == 3.5
    assert form.sliders[DEGREE_TARGET] == 3.5


@pytest.mark.parametrize("text", ["nan", "1e999", "abc", ""])
def test_update_form_invalid_box_keeps_no_weights(text):
    sliders, boxes = current_form(DEFAULT_WEIGHTS)
    boxes["rings_5"] = text

    form = update_form(("box", "rings_5"), sliders, boxes, DEFAULT_WEIGHTS)

    assert form.weights is None
    assert form.invalid == frozenset({"rings_5"})
    assert len(form.errors) == 1
    assert "rings_5" in form.errors[0]
    assert form.sliders["rings_5"] == 0.0


def test_update_form_other_edit_waits_for_invalid_box():
    sliders, boxes = current_form(DEFAULT_WEIGHTS)
    boxes["rings_5"] = "nan"
    boxes["rings_6"] = "2"

    blocked = update_form(("box", "rings_6"), sliders, boxes, DEFAULT_WEIGHTS)
    boxes["rings_5"] = "1"
    fixed = update_form(("box", "rings_5"), sliders, boxes, DEFAULT_WEIGHTS)

    assert blocked.weights is None
    assert blocked.invalid == frozenset({"rings_5"})
    assert fixed.weights.weight("rings_5") == 1.0
    assert fixed.weights.weight("rings_6") == 2.0
    assert fixed.errors == ()


def test_update_form_keeps_exact_values_of_untouched_fields():
    fitted = load_preset("fitted-hydronet")
    sliders, boxes = current_form(fitted)
    boxes["rings_6"] = "0.5"

    form = update_form(("box", "rings_6"), sliders, boxes, fitted)

    assert form.weights.weight("aspl") == fitted.weight("aspl")
    assert form.weights.weight("degree") == fitted.weight("degree")
    assert form.weights.weight("rings_6") == 0.5


def test_update_form_without_change_returns_current():
    fitted = load_preset("fitted-hydronet")
    sliders, boxes = current_form(fitted)

    form = update_form(None, sliders, boxes, fitted)

    assert form.weights == RewardWeights({name: fitted.weight(name) for name in COMPONENTS}, fitted.degree_target)


def test_stored_weights_rejects_tampered_store():
    with pytest.raises(InputError, match="unknown reward component 'bogus'"):
        stored_weights({"weights": {"bogus": 1.0}, "degree_target": 4.0})
    with pytest.raises(InputError, match="finite number"):
        stored_weights({"weights": {"degree": float("nan")}, "degree_target": 4.0})
    assert stored_weights(DEFAULT_WEIGHTS.to_dict()) == DEFAULT_WEIGHTS


def test_describe_weights_lists_nonzero():
    text = describe_weights(RewardWeights({"degree": 1.0, "rings_4": 0.0, "aspl": -0.5}))

    assert text == "degree = 1, aspl = -0.5"
    assert describe_weights(RewardWeights({})) == "every weight 0"


# Parameters -----------------------------------------------------------------


@pytest.mark.parametrize("value, parsed", [(1, 1), (10, 10), (5.0, 5)])
def test_parse_top_k_accepts_whole_numbers(value, parsed):
    assert parse_top_k(value) == parsed


@pytest.mark.parametrize("value", [0, -3, 2.5, None, "10", float("nan"), True])
def test_parse_top_k_rejects(value):
    with pytest.raises(InputError, match="top-k must be a whole number of at least 1"):
        parse_top_k(value)


@pytest.mark.parametrize("value", [-1, 0.5, None, 2**32, float("inf")])
def test_parse_seed_rejects(value):
    with pytest.raises(InputError, match="seed must be a whole number"):
        parse_seed(value)


def test_parse_seed_accepts_zero_and_large():
    assert parse_seed(0) == 0
    assert parse_seed(2**32 - 1) == 2**32 - 1


# Presets --------------------------------------------------------------------


def test_preset_options_list_shipped_then_saved(folders):
    save_preset_as("mine", DEFAULT_WEIGHTS, folders)

    options = preset_options(folders)

    values = [option["value"] for option in options]
    assert values[:2] == ["shipped/default", "shipped/fitted-hydronet"]
    assert values[-1] == "saved/mine"
    assert options[-1]["label"] == "mine (saved)"


def test_save_then_load_preset_round_trip(folders):
    weights = RewardWeights({"degree": 1.5, "rings_4": -0.25, "aspl": 0.0, "degree_excess": 2.0}, 3.0)

    choice = save_preset_as("  my-weights_1 ", weights, folders, {"description": "test"})
    loaded = load_preset_choice(choice, folders)

    assert choice == "saved/my-weights_1"
    assert loaded.weights == {"degree": 1.5, "rings_4": -0.25, "degree_excess": 2.0}
    assert loaded.degree_target == 3.0
    saved = json.loads((folders.saved / "my-weights_1.json").read_text())
    assert saved["description"] == "test"
    assert "aspl" not in saved["weights"]


@pytest.mark.parametrize("name, problem", [("", "type a name"), (None, "type a name"), ("bad name", "invalid preset name"),
                                           ("../escape", "invalid preset name"), ("-dash", "invalid preset name")])
def test_save_preset_rejects_invalid_names(folders, name, problem):
    with pytest.raises(InputError, match=problem):
        save_preset_as(name, DEFAULT_WEIGHTS, folders)

    assert not folders.saved.exists() or list(folders.saved.iterdir()) == []


def test_save_preset_rejects_shipped_and_existing_names(folders):
    save_preset_as("mine", DEFAULT_WEIGHTS, folders)

    with pytest.raises(InputError, match="'default' is a shipped preset"):
        save_preset_as("default", DEFAULT_WEIGHTS, folders)
    with pytest.raises(InputError, match="'mine' already exists"):
        save_preset_as("mine", RewardWeights({"degree": 2.0}), folders)
    assert load_preset_choice("saved/mine", folders) == RewardWeights(DEFAULT_WEIGHTS.weights, DEFAULT_WEIGHTS.degree_target)


def test_load_malformed_preset_names_file(folders):
    folders.saved.mkdir(parents=True)
    (folders.saved / "broken.json").write_text("{not json")

    with pytest.raises(InputError, match=r"broken\.json: not a valid JSON file"):
        load_preset_choice("saved/broken", folders)


def test_load_preset_with_unknown_component_names_it(folders):
    folders.saved.mkdir(parents=True)
    (folders.saved / "odd.json").write_text(json.dumps({"weights": {"degree": 1.0, "ring_7": 2.0}}))

    with pytest.raises(InputError, match=r"odd\.json: unknown reward component 'ring_7'"):
        load_preset_choice("saved/odd", folders)


def test_load_preset_with_non_finite_weight(folders):
    folders.saved.mkdir(parents=True)
    (folders.saved / "huge.json").write_text('{"weights": {"degree": 1e999}}')

    with pytest.raises(InputError, match="weight of 'degree' must be a finite number"):
        load_preset_choice("saved/huge", folders)


@pytest.mark.parametrize("choice, problem", [(None, "choose a preset"), ("", "choose a preset"),
                                             ("default", "invalid preset choice"), ("other/default", "invalid preset choice"),
                                             ("saved/../x", "invalid preset name")])
def test_split_choice_rejects(choice, problem):
    with pytest.raises(InputError, match=problem):
        split_choice(choice)


def test_load_missing_preset(folders):
    with pytest.raises(InputError, match="preset 'gone' not found"):
        load_preset_choice("saved/gone", folders)


# Agreement rows -------------------------------------------------------------


def test_agreement_rows_small_size_na():
    rewards = np.array([1.0, 2.0, 3.0, 4.0, 0.5, 0.7])
    energies = np.array([-4.0, -3.0, -2.0, -1.0, -10.0, -11.0])
    sizes = np.array([3, 3, 3, 3, 4, 4])

    rows = agreement_rows(agreement_by_size(rewards, energies, sizes, 2))

    assert [row["n_waters"] for row in rows] == [3, 4]
    assert rows[0]["spearman"] == "-1.000"
    assert rows[0]["note"] == ""
    assert rows[1]["spearman"] == "n/a"
    assert "at least 3" in rows[1]["note"]
    assert rows[1]["top_k"] == "2"
    assert rows[1]["best_reward_energy"] == "-11.000"
    assert rows[1]["lowest_energy"] == "-11.000"
    assert not any("nan" in value.lower() for row in rows for value in row.values() if isinstance(value, str))


def test_agreement_rows_tied_rewards_are_na():
    rows = agreement_rows(agreement_by_size(np.ones(4), np.array([-1.0, -2.0, -3.0, -4.0]), np.full(4, 5), 10))

    assert rows[0]["spearman"] == "n/a"
    assert "same reward" in rows[0]["note"]


def test_fit_rows_pair_parts_by_size():
    train = [SizeAgreement(3, 5, 0.5, 5, 1.0, -1.0, -1.0), SizeAgreement(4, 2, None, 2, 1.0, -2.0, -2.0, "only 2")]
    test = [SizeAgreement(3, 3, 0.25, 3, 1.0, -1.0, -1.0)]

    rows = fit_rows(train, test)

    assert rows[0] == {"n_waters": 3, "train_clusters": "5", "train_spearman": "0.500", "test_clusters": "3",
                       "test_spearman": "0.250", "note": ""}
    assert rows[1]["train_spearman"] == "n/a"
    assert rows[1]["test_spearman"] == "n/a"
    assert rows[1]["test_clusters"] == "0"
    assert rows[1]["note"] == "training part: only 2; held-out part: no cluster of this size"


def test_dataset_label():
    assert dataset_label("Dataset", "a.xyz", 300, [3, 4, 12], 300) == "Dataset: a.xyz, 300 clusters of 3–12 waters, 300 with an energy"
    assert dataset_label("Uploaded file", "b.xyz", 1, [2], 0) == "Uploaded file: b.xyz, 1 cluster of 2 waters, 0 with an energy"


def test_weights_round_trip_through_boxes_is_close():
    fitted = load_preset("fitted-hydronet")
    form = form_for_weights(fitted)

    for name in COMPONENTS:
        assert math.isclose(parse_weight(form.boxes[name], name), fitted.weight(name), rel_tol=1e-5)


# Surrogate ------------------------------------------------------------------


def fake_model_folder(path):
    """Make a folder that :func:`check_surrogate_model` accepts: one with a ``model.json``."""
    path.mkdir(parents=True)
    (path / "model.json").write_text("{}")
    return str(path)


def test_surrogate_box_without_model_is_an_error():
    sliders = {field: 0.0 for field in FIELDS}
    boxes = {field: "0" for field in FIELDS}
    boxes[SURROGATE] = "-1"
    state = update_form(("box", SURROGATE), sliders, boxes, DEFAULT_WEIGHTS)
    assert state.weights is None
    assert state.invalid == frozenset()
    assert "no surrogate model is chosen" in state.errors[0]


def test_surrogate_box_with_model_sets_weight(tmp_path):
    model = fake_model_folder(tmp_path / "runs" / "job" / "model")
    current = with_surrogate(DEFAULT_WEIGHTS, model)
    form = form_for_weights(current)
    boxes = dict(form.boxes, **{SURROGATE: "-2.5"})
    state = update_form(("box", SURROGATE), form.sliders, boxes, current)
    assert nonzero_weights(state.weights) == RewardWeights(dict(DEFAULT_WEIGHTS.weights), DEFAULT_WEIGHTS.degree_target, -2.5, model)
    assert state.sliders[SURROGATE] == -2.5
    assert describe_weights(state.weights).endswith(f"{SURROGATE} = -2.5")


def test_weights_with_model_keeps_weight_and_replaces_model(tmp_path):
    old = with_surrogate(DEFAULT_WEIGHTS, "old-model", -1.0)
    data = weights_with_model(old.to_dict(), "new-model")
    assert data["surrogate"] == {"model": "new-model", "weight": -1.0}
    assert data["weights"] == DEFAULT_WEIGHTS.weights
    # Invalid session weights fall back to the defaults, so choosing a model never fails.
    assert weights_with_model({"weights": {"nonsense": 1}}, "m")["weights"] == DEFAULT_WEIGHTS.weights


def test_check_surrogate_model_confines_to_runs_folder(tmp_path):
    runs = tmp_path / "runs"
    inside = fake_model_folder(runs / "20261204-0001" / "artifacts" / "model")
    outside = fake_model_folder(tmp_path / "elsewhere" / "model")
    weights = with_surrogate(DEFAULT_WEIGHTS, inside, -1.0)
    assert check_surrogate_model(weights, runs) == weights
    # The checked folder is returned resolved, so later steps load exactly that folder.
    roundabout = str(runs / "20261204-0001" / ".." / "20261204-0001" / "artifacts" / "model")
    assert check_surrogate_model(with_surrogate(DEFAULT_WEIGHTS, roundabout), runs).surrogate_model == inside
    with pytest.raises(InputError, match="must be an absolute path"):
        check_surrogate_model(with_surrogate(DEFAULT_WEIGHTS, "20261204-0001/artifacts/model"), runs)
    with pytest.raises(InputError, match="outside the runs folder"):
        check_surrogate_model(with_surrogate(DEFAULT_WEIGHTS, outside, -1.0), runs)
    with pytest.raises(InputError, match="outside the runs folder"):
        check_surrogate_model(with_surrogate(DEFAULT_WEIGHTS, str(runs / ".." / "elsewhere" / "model")), runs)
    (runs / "empty").mkdir()
    with pytest.raises(InputError, match="not a trained model folder"):
        check_surrogate_model(with_surrogate(DEFAULT_WEIGHTS, str(runs / "empty")), runs)
    with pytest.raises(InputError, match="outside the runs folder"):
        dashboard_weights(with_surrogate(DEFAULT_WEIGHTS, outside).to_dict(), runs)
    assert dashboard_weights(DEFAULT_WEIGHTS.to_dict(), runs) == DEFAULT_WEIGHTS


def test_surrogate_text_names_job(tmp_path):
    runs = tmp_path / "runs"
    model = fake_model_folder(runs / "20261204-0001" / "artifacts" / "model")
    assert surrogate_text(with_surrogate(DEFAULT_WEIGHTS, model), runs) == f"Model of job 20261204-0001: {model}"
    assert surrogate_text(DEFAULT_WEIGHTS, runs).startswith("No model chosen.")


def test_preset_round_trip_keeps_surrogate(folders, tmp_path):
    model = fake_model_folder(tmp_path / "model")
    weights = with_surrogate(RewardWeights({"degree": 1.0, "rings_4": 0.0}), model, -0.75)
    choice = save_preset_as("with-surrogate", weights, folders)
    loaded = load_preset_choice(choice, folders)
    assert loaded == RewardWeights({"degree": 1.0}, surrogate_weight=-0.75, surrogate_model=model)

"""Tests of the Search page helpers: form values, reward and start choices, and the specs they build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard import search_callbacks
from dashboard.job_forms import (
    CURRENT_WEIGHTS,
    RESOURCE_NAMES,
    check_target_size,
    data_cluster_start,
    file_start,
    form_number,
    pentamer_start,
    policy_spec,
    resources_from_form,
    reward_note,
    reward_options,
    search_accepts_policy,
    search_spec,
    set_fields,
    weights_argument,
)
from dashboard.reward_logic import PresetFolders, preset_options
from engine.defaults import DEFAULT_DATASET
from engine.errors import InputError
from engine.presets import SHIPPED_PRESETS_DIR
from engine.reward import DEFAULT_WEIGHTS, load_weights
from jobs.errors import JobSpecError
from jobs.spec import parse_spec
from jobs.status import JobState

SEARCH_VALUES = {"target_size": 7, "branching": 2, "max_results": None, "max_expansions": "", "max_seconds": 30}


@pytest.fixture
def folders(tmp_path):
    return PresetFolders(SHIPPED_PRESETS_DIR, tmp_path / "presets")


# Form values ------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [(7.0, 7), (7.5, 7.5), (3, 3), ("x", "x"), (None, None)])
def test_form_number(value, expected):
    assert form_number(value) == expected
    assert type(form_number(value)) is type(expected)


def test_set_fields_drops_unset_values():
    assert set_fields({"a": None, "b": "", "c": "  ", "d": " debug ", "e": 0, "f": 2.0}) == {"d": "debug", "e": 0, "f": 2}


def test_local_resources_keep_only_cpus():
    values = dict(zip(RESOURCE_NAMES, ("debug", 2, 1, 4, 1, 8.0, 30)))

    assert resources_from_form("local", values) == {"cpus_per_task": 4}
    assert resources_from_form("slurm", values) == {"partition": "debug", "nodes": 2, "tasks_per_node": 1,
                                                    "cpus_per_task": 4, "gpus_per_node": 1, "mem_gb": 8, "time_min": 30}
    assert resources_from_form("slurm", dict.fromkeys(RESOURCE_NAMES)) == {}


# Rewards ----------------------------------------------------------------------


def test_reward_options_start_with_current_weights(folders):
    options = reward_options(folders)

    assert options[0]["value"] == CURRENT_WEIGHTS
    assert {"label": "default (shipped)", "value": "shipped/default"} in options


def test_weights_argument_of_shipped_preset(folders):
    assert weights_argument("shipped/default", folders, None) == "default"


def test_weights_argument_of_saved_preset(folders):
    folders.saved.mkdir(parents=True)
    (folders.saved / "mine.json").write_text(json.dumps(DEFAULT_WEIGHTS.to_dict()))

    assert weights_argument("saved/mine", folders, None) == str(folders.saved / "mine.json")
    with pytest.raises(InputError, match="not found"):
        weights_argument("saved/other", folders, None)


def test_current_weights_saved_once_as_preset(folders):
    weights = DEFAULT_WEIGHTS.to_dict()
    weights["weights"]["rings_4"] = 0.5

    first = weights_argument(CURRENT_WEIGHTS, folders, weights)
    second = weights_argument(CURRENT_WEIGHTS, folders, weights)

    assert first == second
    assert first.startswith(str(folders.saved / "reward-page-"))
    assert load_weights(first).weight("rings_4") == 0.5
    assert [path.name for path in folders.saved.iterdir()] == [first.rsplit("/", 1)[-1]]


def test_job_weights_not_listed_as_presets(folders, tmp_path):
    written = weights_argument(CURRENT_WEIGHTS, folders, DEFAULT_WEIGHTS.to_dict(), weights_dir=tmp_path / "job-weights")
    assert Path(written).parent == tmp_path / "job-weights"
    assert load_weights(written) == DEFAULT_WEIGHTS
    assert preset_options(folders) == preset_options(PresetFolders(SHIPPED_PRESETS_DIR, tmp_path / "empty"))


@pytest.mark.parametrize("choice", [None, "", "elsewhere/x", "shipped/../x"])
def test_weights_argument_rejects_bad_choice(folders, choice):
    with pytest.raises(InputError):
        weights_argument(choice, folders, None)


def test_invalid_current_weights(folders):
    with pytest.raises(InputError):
        weights_argument(CURRENT_WEIGHTS, folders, {"weights": {"nonsense": 1.0}})


def model_folder(path):
    path.mkdir(parents=True)
    (path / "model.json").write_text("{}")
    return str(path)


def test_current_weights_pass_the_surrogate_to_the_job(folders, tmp_path):
    runs = tmp_path / "runs"
    model = model_folder(runs / "job" / "artifacts" / "model")
    current = {**DEFAULT_WEIGHTS.to_dict(), "surrogate": {"model": model, "weight": -1.0}}
    preset = weights_argument(CURRENT_WEIGHTS, folders, current, runs)
    assert json.loads(Path(preset).read_text())["surrogate"] == {"model": model, "weight": -1.0}
    assert load_weights(preset).surrogate_model == model

    elsewhere = {**DEFAULT_WEIGHTS.to_dict(), "surrogate": {"model": model_folder(tmp_path / "other"), "weight": -1.0}}
    with pytest.raises(InputError, match="outside the runs folder"):
        weights_argument(CURRENT_WEIGHTS, folders, elsewhere, runs)

    # A saved preset file is checked the same way before a job gets it.
    folders.saved.mkdir(parents=True, exist_ok=True)
    (folders.saved / "outside.json").write_text(json.dumps(elsewhere))
    with pytest.raises(InputError, match="outside the runs folder"):
        weights_argument("saved/outside", folders, None, runs)
    assert reward_note("saved/outside", folders, None, runs).startswith("This reward cannot be used: surrogate model")


def test_reward_note_describes_choice(folders, tmp_path):
    runs = tmp_path / "runs"
    model = model_folder(runs / "job" / "artifacts" / "model")
    current = {"weights": {"degree": 1.0}, "surrogate": {"model": model, "weight": -2.0}}
    assert reward_note(CURRENT_WEIGHTS, folders, current, runs) == (
        f"Weights: degree = 1, predicted_energy_per_water = -2; target degree 4. Surrogate model: {model}."
    )
    assert reward_note("shipped/default", folders, None, runs).startswith("Weights: degree = 1, isolated_waters = 1")
    assert reward_note("saved/missing", folders, None, runs).startswith("This reward cannot be used: ")


# Start clusters ------------------------------------------------------------------


def test_pentamer_start():
    start = pentamer_start()

    assert start.params() == {"start": "pentamer"}
    assert start.n_waters == 5


def test_data_cluster_start():
    cluster = {"source": None, "frame": 12, "n_waters": 6, "name": "default_clusters.extxyz"}

    start = data_cluster_start(DEFAULT_DATASET, cluster)

    assert start.params() == {"start": str(DEFAULT_DATASET), "frame": 12}
    assert start.n_waters == 6
    assert "Frame 12" in start.label
    with pytest.raises(InputError, match="no cluster is selected"):
        data_cluster_start(DEFAULT_DATASET, None)


@pytest.mark.parametrize("frame, expected", [(None, 0), ("", 0), (3, 3), (2.0, 2)])
def test_file_start_frame(frame, expected):
    assert file_start(DEFAULT_DATASET, "clusters", frame).frame == expected


@pytest.mark.parametrize("frame", [-1, 1.5, "x"])
def test_file_start_rejects_bad_frame(frame):
    with pytest.raises(InputError, match="invalid frame"):
        file_start(DEFAULT_DATASET, "clusters", frame)


def test_target_size_must_exceed_start():
    start = pentamer_start()

    check_target_size(start, 6)
    check_target_size(file_start(DEFAULT_DATASET, "clusters", 0), 3)
    for target in (5, 4, 5.0):
        with pytest.raises(InputError, match="must be above the start graph's 5 waters"):
            check_target_size(start, target)


# Specs ------------------------------------------------------------------------


def test_search_spec_is_valid_for_the_job_layer():
    spec = search_spec(pentamer_start(), SEARCH_VALUES, "default", None, {})

    parsed = parse_spec(spec)

    assert spec["params"] == {"start": "pentamer", "target_size": 7, "branching": 2, "max_seconds": 30,
                              "weights": "default"}
    assert parsed.params.max_results == 10
    assert parsed.params.weights == str(SHIPPED_PRESETS_DIR / "default.json")


def test_search_spec_from_data_cluster():
    start = data_cluster_start(DEFAULT_DATASET, {"frame": 3, "n_waters": 6, "name": "x"})

    parsed = parse_spec(search_spec(start, SEARCH_VALUES, None, None, {}))

    assert parsed.params.start == str(DEFAULT_DATASET.resolve())
    assert parsed.params.frame == 3


@pytest.mark.parametrize("values, field", [({"target_size": 7, "branching": 0}, "branching"),
                                           ({"target_size": 7.5}, "target_size"),
                                           ({"target_size": None}, "target_size"),
                                           ({"target_size": 7, "max_seconds": -1}, "max_seconds")])
def test_invalid_search_values_rejected_by_job_layer(values, field):
    with pytest.raises(JobSpecError, match=f"params.{field}"):
        parse_spec(search_spec(pentamer_start(), values, None, None, {}))


def test_search_spec_with_policy():
    job_id = "20261204-203000-train-policy-ab12cd"
    if search_accepts_policy():
        assert search_spec(pentamer_start(), SEARCH_VALUES, None, job_id, {})["params"]["policy"] == job_id
    else:
        with pytest.raises(InputError, match="cannot run a search with a trained policy"):
            search_spec(pentamer_start(), SEARCH_VALUES, None, job_id, {})


def test_policy_spec_is_valid_for_the_job_layer():
    spec = policy_spec(pentamer_start(), {"target_size": 7, "episodes": 6, "seed": None}, "default", {"cpus_per_task": 1})

    parsed = parse_spec(spec)

    assert spec["params"] == {"start": "pentamer", "reward": "default", "target_size": 7, "episodes": 6}
    assert parsed.params.episodes == 6
    assert parsed.resources.cpus_per_task == 1


# Page helpers -------------------------------------------------------------------


def test_data_cluster_text():
    assert search_callbacks.data_cluster_text(None) == search_callbacks.NO_DATA_CLUSTER
    text = search_callbacks.data_cluster_text({"frame": 4, "name": "a.xyz", "n_waters": 6})
    assert text == "Frame 4 of a.xyz, 6 waters"


def test_policy_options_mark_chosen_policy():
    finished = ["20261204-203001-train-policy-aaaaaa", "20261204-203000-train-policy-bbbbbb"]

    options = search_callbacks.policy_options(finished, {"job_id": finished[1], "path": "/x"})
    unknown = search_callbacks.policy_options([], {"job_id": "20261204-203002-train-policy-cccccc"})

    assert [option["value"] for option in options] == ["", *finished]
    assert options[2]["label"].endswith("(chosen on the Jobs page)")
    assert [option["value"] for option in unknown] == ["", "20261204-203002-train-policy-cccccc"]


def test_last_search_line_links_pathways_only_after_success():
    job_id = "20261204-203000-search-ab12cd"

    done = search_callbacks.last_search_line(job_id, JobState.SUCCEEDED, None, True)
    running = search_callbacks.last_search_line(job_id, JobState.RUNNING, None, False)

    assert done[-1].href == f"/pathways?job={job_id}"
    assert all(getattr(part, "id", None) != "search-open-pathways" for part in running)

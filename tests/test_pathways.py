"""The pathways file: write-then-load round trip, step contents and files of the wrong shape."""

from __future__ import annotations

import copy
import json

import pytest

from engine.errors import InputError
from engine.pathways import PathwaysFormatError, load_pathways, parse_pathways, result_to_dict, write_pathways
from engine.reward import DEFAULT_WEIGHTS
from engine.search import Limits, RewardLookahead, Target, cyclic_pentamer, search
from engine.summary import DESCRIPTOR_KEYS

TARGET = Target(7)
BRANCHING = 2
LIMITS = Limits(max_results=3)
STEP_KEYS = {"step", "action", "graph", "alternatives", *DESCRIPTOR_KEYS, "reward", "reward_components"}


@pytest.fixture(scope="module")
def search_result():
    model = RewardLookahead(DEFAULT_WEIGHTS)
    return search(cyclic_pentamer(), TARGET, BRANCHING, model, DEFAULT_WEIGHTS, LIMITS)


@pytest.fixture()
def content(search_result) -> dict:
    return result_to_dict(search_result, "pentamer", TARGET, BRANCHING, "reward-lookahead", DEFAULT_WEIGHTS, LIMITS)


@pytest.fixture()
def written(tmp_path, content):
    path = tmp_path / "pathways.json"
    write_pathways(content, path)
    return path


def load_error(path) -> PathwaysFormatError:
    with pytest.raises(PathwaysFormatError) as caught:
        load_pathways(path)
    return caught.value


def write_json(tmp_path, data) -> object:
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    return path


# --- round trip ----------------------------------------------------------------------------


def test_round_trip_graphs(written, search_result):
    loaded = load_pathways(written)
    assert len(loaded.pathways) == len(search_result.pathways) == 3
    for index, pathway in enumerate(search_result.pathways):
        assert loaded.water_graphs(index) == [step.graph for step in pathway]


def test_round_trip_header(written, content, search_result):
    loaded = load_pathways(written)
    assert loaded.format == "water-pathways"
    assert loaded.version == 1
    assert loaded.stopped_by == search_result.stopped_by
    assert loaded.expansions == search_result.expansions
    assert loaded.reward_evaluations == search_result.reward_evaluations
    assert loaded.parameters == content["parameters"]
    assert loaded.parameters["weights"] == DEFAULT_WEIGHTS.to_dict()


def test_round_trip_rewards(written, search_result):
    loaded = load_pathways(written)
    assert [p.rank for p in loaded.pathways] == [0, 1, 2]
    for record, pathway in zip(loaded.pathways, search_result.pathways):
        assert record.final_reward == pathway[-1].reward.total
        assert [s.reward for s in record.steps] == [s.reward.total for s in pathway]
        assert [s.reward_components for s in record.steps] == [s.reward.components for s in pathway]


def test_round_trip_actions(written, search_result):
    loaded = load_pathways(written)
    for record, pathway in zip(loaded.pathways, search_result.pathways):
        assert record.steps[0].action is None
        for saved, step in zip(record.steps[1:], pathway[1:]):
            assert (saved.action.donor, saved.action.acceptor) == (step.action.donor, step.action.acceptor)
            assert saved.action.new_water == step.new_water
            assert [(a.donor, a.acceptor, a.score) for a in saved.alternatives] == [
                (a.action.donor, a.action.acceptor, a.score) for a in step.alternatives
            ]
            assert [a.chosen for a in saved.alternatives].count(True) == 1


def test_step_keys(written):
    data = json.loads(written.read_text())
    for pathway in data["pathways"]:
        for index, step in enumerate(pathway["steps"]):
            assert step["step"] == index
            assert set(step) == STEP_KEYS


def test_steps_lack_cluster_keys(written):
    # source, frame and energy belong to clusters read from files, which `describe` prints.
    step = json.loads(written.read_text())["pathways"][0]["steps"][0]
    assert "source" not in step
    assert "frame" not in step
    assert "energy" not in step


def test_step_descriptor_values(written, search_result):
    step = json.loads(written.read_text())["pathways"][0]["steps"][-1]
    descriptors = search_result.pathways[0][-1].descriptors.as_dict()
    assert {key: step[key] for key in DESCRIPTOR_KEYS} == {key: descriptors[key] for key in DESCRIPTOR_KEYS}


def test_write_leaves_no_partial(written):
    assert [p.name for p in written.parent.iterdir()] == ["pathways.json"]


def test_write_replaces_file(tmp_path, content):
    path = tmp_path / "pathways.json"
    path.write_text("old")
    write_pathways(content, path)
    assert load_pathways(path).stopped_by == content["stopped_by"]


# --- files of the wrong shape ---------------------------------------------------------------


def test_error_is_input_error():
    assert issubclass(PathwaysFormatError, InputError)


def test_missing_file(tmp_path):
    error = load_error(tmp_path / "absent.json")
    assert "pathways file not found" in str(error)


def test_not_json(tmp_path):
    path = tmp_path / "text.json"
    path.write_text("pathways: none\n")
    error = load_error(path)
    assert str(path) in str(error)
    assert "not a JSON file" in str(error)


def test_binary_file(tmp_path):
    path = tmp_path / "binary.json"
    path.write_bytes(bytes(range(128, 256)))
    assert "not a JSON file" in str(load_error(path))


def test_missing_field(tmp_path, content):
    data = copy.deepcopy(content)
    del data["stopped_by"]
    path = write_json(tmp_path, data)
    error = load_error(path)
    assert str(path) in str(error)
    assert "field stopped_by" in str(error)


def test_wrong_type(tmp_path, content):
    data = copy.deepcopy(content)
    data["expansions"] = "many"
    assert "field expansions" in str(load_error(write_json(tmp_path, data)))


def test_wrong_format_name(tmp_path, content):
    data = copy.deepcopy(content)
    data["format"] = "something-else"
    assert "field format" in str(load_error(write_json(tmp_path, data)))


def test_wrong_version(tmp_path, content):
    data = copy.deepcopy(content)
    data["version"] = 2
    assert "field version" in str(load_error(write_json(tmp_path, data)))


def test_unknown_top_field(tmp_path, content):
    data = copy.deepcopy(content)
    data["extra"] = 1
    assert "field extra" in str(load_error(write_json(tmp_path, data)))


def test_top_level_list(tmp_path):
    error = load_error(write_json(tmp_path, [1, 2, 3]))
    assert "not a pathways file" in str(error)


def test_step_missing_reward(tmp_path, content):
    data = copy.deepcopy(content)
    del data["pathways"][1]["steps"][2]["reward"]
    assert "field pathways.1.steps.2.reward" in str(load_error(write_json(tmp_path, data)))


def test_step_bad_action(tmp_path, content):
    data = copy.deepcopy(content)
    data["pathways"][0]["steps"][1]["action"]["donor"] = "first"
    assert "field pathways.0.steps.1.action.donor" in str(load_error(write_json(tmp_path, data)))


def test_empty_steps(tmp_path, content):
    data = copy.deepcopy(content)
    data["pathways"][0]["steps"] = []
    error = load_error(write_json(tmp_path, data))
    assert "field pathways.0.steps" in str(error)
    assert "at least its start step" in str(error)


def test_bond_index_out_of_range(tmp_path, content):
    data = copy.deepcopy(content)
    data["pathways"][0]["steps"][1]["graph"]["hbonds"].append([0, 42])
    path = write_json(tmp_path, data)
    error = load_error(path)
    assert str(path) in str(error)
    assert "field pathways.0.steps.1.graph" in str(error)
    assert "0 -> 42" in str(error)


def test_bond_not_pair(tmp_path, content):
    data = copy.deepcopy(content)
    data["pathways"][0]["steps"][0]["graph"]["hbonds"][0] = [0, 1, 2]
    assert "field pathways.0.steps.0.graph.hbonds.0" in str(load_error(write_json(tmp_path, data)))


def test_parse_names_source(content):
    data = copy.deepcopy(content)
    del data["pathways"]
    with pytest.raises(PathwaysFormatError, match="^upload.json: not a pathways file: field pathways"):
        parse_pathways(data, "upload.json")

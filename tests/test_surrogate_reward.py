"""The surrogate's prediction as a reward component."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.components import compute_table
from engine.errors import InputError
from engine.graphs import WaterGraph, atomic_graph_from_water
from engine.cluster import Cluster
from engine.reward import DEFAULT_WEIGHTS, SURROGATE_COMPONENT, RewardWeights, load_weights, save_weights, score
from engine.rl.env import GrowthEnv
from engine.search import Limits, RewardLookahead, Target, cyclic_pentamer, search
from engine.surrogate.predict import predict_water_graphs

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "engine" / "data" / "default_clusters.extxyz"
TINY_CONFIG = ROOT / "configs" / "surrogate-tiny.yaml"


def run_engine(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *arguments], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("surrogate") / "model"
    trained = run_engine("train", "--data", str(DATASET), "--out", str(out), "--config", str(TINY_CONFIG))
    assert trained.returncode == 0, trained.stderr
    return str(out)


def surrogate_weights(model_dir: str, weight: float = -2.0) -> RewardWeights:
    return RewardWeights(dict(DEFAULT_WEIGHTS.weights), surrogate_weight=weight, surrogate_model=model_dir)


def test_component_is_prediction_per_water(model_dir):
    graph = cyclic_pentamer()
    breakdown = score(graph, surrogate_weights(model_dir))
    predicted = float(predict_water_graphs(model_dir, [graph])[0])
    assert breakdown.components[SURROGATE_COMPONENT] == -2.0 * predicted / 5
    base = score(graph, DEFAULT_WEIGHTS)
    # The total is a sum of floats in another order than the base reward's.
    assert breakdown.total == pytest.approx(base.total + breakdown.components[SURROGATE_COMPONENT], abs=1e-12)


def test_weights_without_model_rejected():
    with pytest.raises(InputError, match="no surrogate model"):
        RewardWeights({"degree": 1.0}, surrogate_weight=1.0)


def test_surrogate_weight_must_be_finite(model_dir):
    with pytest.raises(InputError, match="finite number"):
        RewardWeights({}, surrogate_weight=float("nan"), surrogate_model=model_dir)


def test_preset_round_trip_keeps_surrogate(tmp_path, model_dir):
    weights = surrogate_weights(model_dir, -0.5)
    save_weights(weights, tmp_path / "preset.json")
    assert load_weights(tmp_path / "preset.json") == weights
    assert json.loads((tmp_path / "preset.json").read_text())["surrogate"] == {"model": model_dir, "weight": -0.5}


def test_preset_with_bad_surrogate_field(tmp_path):
    (tmp_path / "preset.json").write_text('{"weights": {"degree": 1}, "surrogate": {"modle": "x", "weight": 1}}')
    with pytest.raises(InputError, match="field 'surrogate'"):
        load_weights(tmp_path / "preset.json")


def test_missing_model_folder_is_clear(tmp_path):
    weights = surrogate_weights(str(tmp_path / "no-such-model"))
    with pytest.raises(InputError):
        score(cyclic_pentamer(), weights)


def test_table_refuses_surrogate_weights(model_dir):
    graph = cyclic_pentamer()
    table = compute_table([Cluster("hand-made", 0, None, graph, atomic_graph_from_water(graph))])
    with pytest.raises(InputError, match="no surrogate predictions"):
        table.rewards(surrogate_weights(model_dir))


def test_search_and_environment_use_surrogate(model_dir):
    weights = surrogate_weights(model_dir)
    result = search(cyclic_pentamer(), Target(6), 2, RewardLookahead(weights), weights, Limits(max_results=2))
    assert result.pathways
    final = result.pathways[0][-1]
    assert final.reward.components[SURROGATE_COMPONENT] == score(final.graph, weights).components[SURROGATE_COMPONENT]

    env = GrowthEnv(cyclic_pentamer(), 6, weights)
    env.step(env.valid_actions()[0])
    assert env.current_reward == score(env.graph, weights).total


def test_cli_describe_with_surrogate_preset(tmp_path, model_dir):
    preset = tmp_path / "preset.json"
    save_weights(surrogate_weights(model_dir), preset)
    minimum = ROOT.parent / "shared" / "data" / "minima" / "w5_lowest.xyz"
    source = minimum if minimum.is_file() else DATASET
    described = run_engine("describe", str(source), "--weights", str(preset))
    assert described.returncode == 0, described.stderr
    record = json.loads(described.stdout.splitlines()[0])
    assert SURROGATE_COMPONENT in record["reward_components"]

    save_weights(surrogate_weights(str(tmp_path / "missing")), preset)
    refused = run_engine("describe", str(source), "--weights", str(preset))
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: ")

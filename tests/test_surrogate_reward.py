"""The surrogate's prediction as a reward component."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.components import Cancelled, ComponentCache, compute_table, predict_clusters
from engine.enumeration import best_graphs
from engine.io import read_clusters
from engine.surrogate.modeldir import ModelDirectory
from engine.errors import InputError
from engine.graphs import atomic_graph_from_water
from engine.cluster import Cluster
from engine import reward as reward_module
from engine.reward import (
    DEFAULT_WEIGHTS,
    SURROGATE_COMPONENT,
    RewardWeights,
    load_weights,
    predicted_energies,
    save_weights,
    score,
    score_many,
)
from engine.rl.env import GrowthEnv
from engine.search import Limits, RewardLookahead, Target, cyclic_pentamer, search, valid_actions
from engine.surrogate.predict import predict_file, predict_water_graphs

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


def test_score_many_matches_single_scores(model_dir):
    pentamer = cyclic_pentamer()
    graphs = [action.apply(pentamer) for action in valid_actions(pentamer)][:8]
    weights = surrogate_weights(model_dir)
    together = score_many(graphs, weights)
    reward_module._predictions.clear()
    for graph, breakdown in zip(graphs, together):
        alone = score(graph, weights)
        assert alone.components.keys() == breakdown.components.keys()
        # One batch against one graph at a time: float32 round-off of the predicted energy.
        assert alone.total == pytest.approx(breakdown.total, abs=1e-4)


def test_predictions_follow_rewritten_weights(tmp_path, model_dir):
    changing = tmp_path / "model"
    shutil.copytree(model_dir, changing)
    graph = cyclic_pentamer()
    before = predicted_energies([graph], str(changing))[0]
    assert predicted_energies([graph], str(changing))[0] == before
    shifted_weights(ModelDirectory(changing))
    assert predicted_energies([graph], str(changing))[0] != before


def test_score_many_rejects_atomic_for_several():
    pentamer = cyclic_pentamer()
    with pytest.raises(ValueError, match="single water graph"):
        score_many([pentamer, pentamer], DEFAULT_WEIGHTS, atomic=atomic_graph_from_water(pentamer))


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


def test_table_rejects_missing_predictions(model_dir):
    graph = cyclic_pentamer()
    table = compute_table([Cluster("hand-made", 0, None, graph, atomic_graph_from_water(graph))])
    with pytest.raises(InputError, match="no predictions were given"):
        table.rewards(surrogate_weights(model_dir))
    with pytest.raises(InputError, match="expected 1 predicted energies"):
        table.rewards(surrogate_weights(model_dir), np.zeros(2))


def test_table_rewards_add_predictions_per_water(model_dir):
    clusters = list(read_clusters(DATASET))[:40]
    table = compute_table(clusters)
    predicted = predict_clusters(clusters, model_dir)
    weights = surrogate_weights(model_dir, -1.5)
    rewards = table.rewards(weights, predicted)
    # Same base rewards, plus weight * energy / waters: exact up to one addition's rounding.
    np.testing.assert_allclose(rewards, table.rewards(DEFAULT_WEIGHTS) - 1.5 * predicted / table.n_waters, rtol=0, atol=1e-12)
    for index in (0, 17, 39):
        parts = table.breakdown(index, weights, predicted)
        assert parts[SURROGATE_COMPONENT] == -1.5 * predicted[index] / table.n_waters[index]
        assert sum(parts.values()) == pytest.approx(rewards[index], abs=1e-12)


def test_table_predictions_match_predict_file(model_dir):
    clusters = list(read_clusters(DATASET))
    predicted = predict_clusters(clusters, model_dir)
    records = list(predict_file(model_dir, DATASET))
    assert len(predicted) == len(records) == len(clusters)
    # Both run the same float32 model; batches are cut differently, which may change the last bits.
    np.testing.assert_allclose(predicted, [record["predicted_energy"] for record in records], rtol=0, atol=1e-4)


def test_predictions_cached_per_file_and_model(tmp_path, model_dir):
    cache = ComponentCache(tmp_path / "cache")
    try:
        first = cache.predictions_for_file(DATASET, model_dir)
        second = cache.predictions_for_file(DATASET, model_dir)
        assert (cache.misses, cache.hits) == (1, 1)
        np.testing.assert_array_equal(first, second)

        # Rewritten weights are another model: the cache must not return the old predictions.
        changed = tmp_path / "changed-model"
        shutil.copytree(model_dir, changed)
        shifted_weights(ModelDirectory(changed))
        third = cache.predictions_for_file(DATASET, changed)
        assert cache.misses == 2
        assert not np.array_equal(first, third)
    finally:
        cache.close()


def shifted_weights(directory: ModelDirectory) -> None:
    """Rewrite a model folder's weights with one bias moved, as a retraining would."""
    saved = directory.load_weights()
    state = {name: tensor.clone() for name, tensor in saved["state_dict"].items()}
    bias = next(name for name in state if name.endswith("bias") and state[name].dtype.is_floating_point)
    state[bias] += 0.5
    directory.save_weights(state, int(saved["epoch"]))


def test_weights_rewritten_while_predicting_not_cached(tmp_path, model_dir):
    changing = tmp_path / "changing-model"
    shutil.copytree(model_dir, changing)
    cache = ComponentCache(tmp_path / "cache")
    try:
        with pytest.raises(InputError, match="changed while predicting"):
            cache.predictions_for_file(DATASET, changing, lambda done, total: shifted_weights(ModelDirectory(changing)))
        assert cache.cached_predictions(DATASET, changing) is None
    finally:
        cache.close()


def test_prediction_progress_and_cancel(model_dir):
    clusters = list(read_clusters(DATASET))
    reports = []
    predict_clusters(clusters, model_dir, lambda done, total: reports.append((done, total)))
    assert reports[-1] == (len(clusters), len(clusters))
    with pytest.raises(Cancelled):
        predict_clusters(clusters, model_dir, lambda done, total: False)


def test_prediction_with_missing_model_is_clear(tmp_path):
    with pytest.raises(InputError, match="not a model directory|not a usable model folder"):
        ComponentCache(tmp_path / "cache").predictions_for_file(DATASET, tmp_path / "no-model")


def test_enumeration_scores_with_surrogate(model_dir):
    weights = surrogate_weights(model_dir)
    best, count = best_graphs(5, weights, top=3)
    assert count > 3
    for reward, graph in best:
        # Enumeration predicts a batch of graphs, score() one graph: float32 round-off of the energy.
        assert reward == pytest.approx(score(graph, weights).total, abs=1e-4)


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


def test_dashboard_tables_load_predictions_and_remember_failures(tmp_path, model_dir):
    from dashboard.reward_data import ComponentTables, DatasetFile, predict_into_cache

    dataset = DatasetFile(None, DATASET, DATASET.name, "Dataset")
    tables = ComponentTables(tmp_path / "cache")
    assert tables.predictions_in_memory(dataset, model_dir) is None
    assert tables.cached_predictions(dataset, model_dir) is None
    # A background process fills the disk cache; the server then reads the predictions from there.
    assert predict_into_cache(tmp_path / "cache", dataset, model_dir) == 300
    loaded = tables.cached_predictions(dataset, model_dir)
    np.testing.assert_array_equal(loaded, predict_clusters(list(read_clusters(DATASET)), model_dir))
    assert tables.predictions_in_memory(dataset, model_dir) is loaded

    missing = str(tmp_path / "missing-model")
    tables.record_failure(dataset, missing, "no model")
    assert tables.failure(dataset, missing, retry=True) == "no model"
    tables.record_failure(dataset, missing, "cancelled", retry=True)
    assert tables.failure(dataset, missing) == "cancelled"
    assert tables.failure(dataset, missing, retry=True) is None
    assert tables.failure(dataset, missing) is None


def test_request_pending_until_result():
    from dashboard.reward_dataset_callbacks import pending

    request = {"source": None, "model": "m", "requested_at": 1.0}
    assert pending(request, None, None, "m")
    assert not pending(request, None, None, "other")
    assert not pending(request, {"request": request, "error": None}, None, "m")
    assert not pending(request, {"request": request, "cancelled": True}, None, "m")
    assert pending(request, {"request": {**request, "requested_at": 0.5}}, None, "m")
    assert not pending(None, None, None, None)

"""Component table, compiled kernels, agreement, fitting and presets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from engine.agreement import NoEnergiesError, agreement_by_size
from engine.cluster import Cluster
from engine.components import ComponentCache, compute_table, compute_table_chunked, Cancelled
from engine.descriptors import describe, describe_networkx
from engine.errors import InputError
from engine.fitting import FIT_COMPONENTS, fit_weights, fit_with_split, split_indices
from engine.graphs import WaterGraph, atomic_graph_from_water
from engine.io import read_clusters
from engine.presets import check_preset_name, list_presets, load_preset, save_preset
from engine.reward import COMPONENTS, DEFAULT_WEIGHTS, RewardWeights, component_values, score

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TFRECORD = DATA / "hydronet" / "water_clusters_train.tfrecord.gz"
MINIMA = DATA / "minima"


def cluster_of(graph: WaterGraph, energy: float | None = None, frame: int = 0) -> Cluster:
    return Cluster("hand-made", frame, energy, graph, atomic_graph_from_water(graph))


def random_valid_graph(rng: np.random.Generator, n_waters: int, attempts: int) -> WaterGraph:
    graph = WaterGraph(n_waters)
    for _ in range(attempts):
        donor, acceptor = rng.integers(0, n_waters, size=2)
        if graph.can_add(int(donor), int(acceptor)):
            graph = graph.add_hbond(int(donor), int(acceptor))
    return graph


@pytest.fixture(scope="module")
def hydronet_clusters():
    if not TFRECORD.is_file():
        pytest.skip(f"real data not found at {TFRECORD}")
    return list(read_clusters(TFRECORD))


@pytest.fixture(scope="module")
def minima_clusters():
    if not MINIMA.is_dir():
        pytest.skip(f"real data not found at {MINIMA}")
    return [next(read_clusters(MINIMA / f"w{n}_lowest.xyz")) for n in range(3, 31)]


# Hand-made graphs: pentamer ring, chain of 4, triangle plus isolated water.
PENTAMER = WaterGraph(5, ((0, 1), (1, 2), (2, 3), (3, 4), (4, 0)))
CHAIN = WaterGraph(4, ((0, 1), (1, 2), (2, 3)))
SPLIT = WaterGraph(4, ((0, 1), (1, 2), (2, 0)))


def test_table_pins_hand_made_values():
    table = compute_table([cluster_of(PENTAMER), cluster_of(CHAIN), cluster_of(SPLIT)])
    column = {name: table.values[:, i] for i, name in enumerate(COMPONENTS)}
    assert column["degree"].tolist() == [2.0, 1.0, 1.5 - math.sqrt(0.75)]
    assert column["rings_5"].tolist() == [1, 0, 0]
    assert column["rings_3"].tolist() == [0, 0, 1]
    assert column["diameter"].tolist() == [2, 3, 0]
    assert column["wiener_index"].tolist() == [15, 10, 0]
    assert column["aspl"].tolist() == [1.5, 10 / 6, 0.0]
    assert column["isolated_waters"].tolist() == [0, 0, -1]
    assert table.connected.tolist() == [True, True, False]
    assert table.absent(2) == ("diameter", "aspl", "wiener_index")


def test_table_pins_minima_values(minima_clusters):
    table = compute_table(minima_clusters)
    rings = table.values[:, [COMPONENTS.index(f"rings_{k}") for k in (3, 4, 5, 6)]]
    wiener = table.values[:, COMPONENTS.index("wiener_index")]
    by_size = {int(n): i for i, n in enumerate(table.n_waters)}
    assert rings[by_size[5]].tolist() == [0, 0, 1, 0]
    assert rings[by_size[6]].tolist() == [0, 5, 0, 0]
    assert rings[by_size[10]].tolist() == [0, 5, 2, 0]
    assert wiener[by_size[5]] == 15
    assert wiener[by_size[6]] == 23
    assert wiener[by_size[10]] == 85
    assert table.values[by_size[6], COMPONENTS.index("aspl")] == 23 / 15


def test_kernels_match_networkx_on_real_data(hydronet_clusters, minima_clusters):
    for cluster in hydronet_clusters[::7] + minima_clusters:
        assert describe(cluster.water_graph) == describe_networkx(cluster.water_graph), cluster.frame


def test_kernels_match_networkx_on_random_graphs():
    rng = np.random.default_rng(7)
    for _ in range(300):
        n_waters = int(rng.integers(1, 40))
        graph = random_valid_graph(rng, n_waters, int(rng.integers(0, 3 * n_waters + 1)))
        assert describe(graph) == describe_networkx(graph), graph


def test_rescoring_equals_full_recomputation(hydronet_clusters, minima_clusters):
    clusters = hydronet_clusters[::5] + minima_clusters
    table = compute_table(clusters)
    weights = RewardWeights({name: 0.1 * (i + 1) for i, name in enumerate(COMPONENTS)}, degree_target=3.5)
    rewards = table.rewards(weights)
    for index in range(0, len(clusters), 37):
        cluster = clusters[index]
        full = score(cluster.water_graph, weights, atomic=cluster.atomic_graph).total
        # Summation order differs between a dot product and a Python sum.
        assert rewards[index] == pytest.approx(full, rel=1e-12, abs=1e-9)


def test_table_rows_equal_component_values(minima_clusters):
    table = compute_table(minima_clusters)
    matrix = table.component_matrix(2.5)
    for row, cluster in zip(matrix, minima_clusters):
        values, _ = component_values(cluster.water_graph, atomic=cluster.atomic_graph, degree_target=2.5)
        # Means and variances come from histograms in the table, from numpy in component_values.
        assert row == pytest.approx([values[name] for name in COMPONENTS], abs=1e-12)


def test_breakdown_sums_to_reward(minima_clusters):
    table = compute_table(minima_clusters)
    rewards = table.rewards(DEFAULT_WEIGHTS)
    for index in range(len(table)):
        # Summation order of the two paths differs.
        assert sum(table.breakdown(index, DEFAULT_WEIGHTS).values()) == pytest.approx(rewards[index], abs=1e-12)


def test_chunked_table_reports_and_cancels():
    clusters = [cluster_of(PENTAMER, frame=i) for i in range(4500)]
    seen = []
    table = compute_table_chunked(clusters, lambda done, total: seen.append((done, total)))
    assert seen == [(2000, 4500), (4000, 4500), (4500, 4500)]
    assert len(table) == 4500
    with pytest.raises(Cancelled):
        compute_table_chunked(clusters, lambda done, total: False)


def test_cache_hit_on_second_load(tmp_path, minima_clusters):
    source = MINIMA / "w10_lowest.xyz"
    cache = ComponentCache(tmp_path / "cache")
    first = cache.table_for_file(source)
    second = cache.table_for_file(source)
    assert (cache.hits, cache.misses) == (1, 1)
    assert np.array_equal(first.values, second.values)
    cache.close()

    reopened = ComponentCache(tmp_path / "cache")
    reopened.table_for_clusters(minima_clusters)
    reopened.table_for_clusters(minima_clusters)
    reopened.table_for_file(source)
    assert (reopened.hits, reopened.misses) == (2, 1)
    reopened.close()


def test_cache_misses_changed_file(tmp_path):
    path = tmp_path / "cluster.xyz"
    path.write_text((MINIMA / "w5_lowest.xyz").read_text())
    cache = ComponentCache(tmp_path / "cache")
    cache.table_for_file(path)
    path.write_text((MINIMA / "w6_lowest.xyz").read_text())
    table = cache.table_for_file(path)
    assert cache.misses == 2
    assert table.n_waters.tolist() == [6]
    cache.close()


def test_empty_dataset_rejected():
    with pytest.raises(ValueError, match="empty dataset"):
        compute_table([])


def test_agreement_perfect_and_reversed():
    sizes = np.array([5] * 6 + [6] * 4)
    energies = np.array([-1.0, -2, -3, -4, -5, -6, -10, -11, -12, -13])
    agreement = agreement_by_size(-energies, energies, sizes, k=2)
    assert [a.spearman for a in agreement] == [1.0, 1.0]
    assert [a.top_k_overlap for a in agreement] == [1.0, 1.0]
    assert agreement[0].best_reward_energy == agreement[0].lowest_energy == -6.0
    reversed_agreement = agreement_by_size(energies, energies, sizes, k=2)
    assert [a.spearman for a in reversed_agreement] == [-1.0, -1.0]
    assert [a.top_k_overlap for a in reversed_agreement] == [0.0, 0.0]
    assert reversed_agreement[1].best_reward_energy == -10.0


def test_agreement_small_size_says_why():
    agreement = agreement_by_size(np.array([1.0, 2.0]), np.array([-1.0, -2.0]), np.array([4, 4]))
    assert agreement[0].spearman is None
    assert "at least 3" in agreement[0].note


def test_agreement_constant_reward_says_why():
    agreement = agreement_by_size(np.ones(4), np.array([-1.0, -2, -3, -4]), np.full(4, 7))
    assert agreement[0].spearman is None
    assert "same reward" in agreement[0].note


def test_agreement_needs_energies():
    with pytest.raises(NoEnergiesError, match="needs cluster energies"):
        agreement_by_size(np.ones(4), np.full(4, np.nan), np.full(4, 5))


def test_fit_recovers_known_weights():
    rng = np.random.default_rng(11)
    clusters = []
    for index in range(600):
        n_waters = int(rng.integers(6, 11))
        graph = random_valid_graph(rng, n_waters, int(rng.integers(n_waters, 4 * n_waters)))
        clusters.append(cluster_of(graph, 0.0, index))
    table = compute_table(clusters)
    fitted_names = ("degree", "rings_3", "rings_4", "rings_5", "rings_6", "diameter", "aspl")
    truth = {"degree": 2.0, "rings_3": -1.5, "rings_4": 0.75, "rings_5": 1.25, "rings_6": 0.5, "diameter": -0.3, "aspl": -2.0}
    vector = np.array([truth.get(name, 0.0) for name in COMPONENTS])
    size_offset = -9.5 * table.n_waters
    table.energies = -(table.component_matrix(4.0) @ vector) + size_offset
    weights = fit_weights(table, np.arange(len(table)), fitted_names, fixed={})
    for name, value in truth.items():
        # Exact data: only floating-point round-off separates the fit from the truth.
        assert weights.weight(name) == pytest.approx(value, abs=1e-8), name


def test_fit_split_is_seeded():
    first = split_indices(100, 0.8, seed=3)
    second = split_indices(100, 0.8, seed=3)
    assert np.array_equal(first[0], second[0])
    assert len(first[0]) == 80
    assert len(np.intersect1d(*first)) == 0
    assert not np.array_equal(first[0], split_indices(100, 0.8, seed=4)[0])


def test_fit_rejects_bad_fraction():
    with pytest.raises(InputError, match="train fraction"):
        split_indices(10, 1.0, seed=0)


def test_fit_beats_default_on_held_out(hydronet_clusters):
    table = compute_table(hydronet_clusters)
    result = fit_with_split(table, 0.8, seed=0, k=10)
    default_rewards = table.rewards(DEFAULT_WEIGHTS)
    test = result.test_index
    default = {a.n_waters: a.spearman for a in agreement_by_size(
        default_rewards[test], table.energies[test], table.n_waters[test])}
    fitted = {a.n_waters: a.spearman for a in result.test_agreement}
    for size in (9, 10, 11):
        assert fitted[size] > default[size], size
    assert set(result.weights.weights) >= set(FIT_COMPONENTS)


def test_fit_reward_cli_writes_preset(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "fitted.json"
    data = tmp_path / "minima.xyz"
    data.write_text("\n".join((MINIMA / f"w{n}_lowest.xyz").read_text().rstrip("\n") for n in range(3, 31)) + "\n")
    completed = subprocess.run(
        [sys.executable, "-m", "engine", "fit-reward", str(data), "--out", str(out), "--seed", "1"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], check=False,
    )
    assert completed.returncode == 0, completed.stderr
    preset = json.loads(out.read_text())
    assert preset["fitted"]["split"]["seed"] == 1
    assert preset["fitted"]["n_clusters"] == 28
    assert RewardWeights.from_dict(preset).weight("degree") == preset["weights"]["degree"]


def test_fit_reward_cli_rejects_missing_energies(tmp_path):
    import subprocess
    import sys

    data = tmp_path / "no-energy.xyz"
    lines = (MINIMA / "w5_lowest.xyz").read_text().splitlines()
    lines[1] = ""
    data.write_text("\n".join(lines) + "\n")
    completed = subprocess.run(
        [sys.executable, "-m", "engine", "fit-reward", str(data), "--out", str(tmp_path / "x.json")],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], check=False,
    )
    assert completed.returncode == 2
    assert "needs an energy" in completed.stderr


def test_presets_round_trip(tmp_path):
    weights = RewardWeights({"degree": 1.5, "rings_4": -0.25}, degree_target=3.0)
    save_preset("my-preset_1", weights, tmp_path, metadata={"description": "test"})
    assert list_presets(tmp_path) == ["my-preset_1"]
    assert load_preset("my-preset_1", tmp_path) == weights


def test_presets_refuse_overwrite(tmp_path):
    save_preset("one", DEFAULT_WEIGHTS, tmp_path)
    with pytest.raises(InputError, match="already exists"):
        save_preset("one", DEFAULT_WEIGHTS, tmp_path)


@pytest.mark.parametrize("name", ["../escape", "", "a/b", ".hidden", "x" * 65, "spaces here"])
def test_presets_reject_bad_names(name):
    with pytest.raises(InputError, match="invalid preset name"):
        check_preset_name(name)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"weights": {"degre": 1}}', "unknown reward component 'degre'"),
        ('{"weights": {"degree": "1"}}', "must be a finite number"),
        ('{"weights": {"degree": NaN}}', "must be a finite number"),
        ('{"weights": [1, 2]}', "must be an object"),
        ("{not json", "not a valid JSON file"),
    ],
)
def test_presets_reject_malformed(tmp_path, content, message):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(InputError, match=message):
        load_preset("bad", tmp_path)


def test_shipped_presets_load():
    assert "default" in list_presets()
    assert load_preset("default") == DEFAULT_WEIGHTS
    fitted = load_preset("fitted-hydronet")
    assert fitted.weight("degree") != 0.0

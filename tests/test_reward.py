"""The reward: hand-computed components, punishments, weights and the breakdown."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.errors import InputError
from engine.graphs import AtomicGraph, WaterGraph, atomic_graph_from_water
from engine.reward import (
    COMPONENTS,
    DEFAULT_WEIGHTS,
    PATH_COMPONENTS,
    RewardWeights,
    atomic_punishments,
    component_values,
    degree_term,
    load_weights,
    save_weights,
    score,
)
from tests.engine_fixtures import chain_graph, ring_graph, star_graph

ALL_ONE = RewardWeights({name: 1.0 for name in COMPONENTS})


def values_of(graph: WaterGraph, atomic: AtomicGraph | None = None, degree_target: float = 4.0) -> dict[str, float]:
    values, _ = component_values(graph, atomic=atomic, degree_target=degree_target)
    return values


# --- the degree term ---------------------------------------------------------------


def test_degree_term_chain():
    # Degrees [1, 2, 2, 1]: E(D) = 1.5, var(D) = 0.25, so 1.5 - 0.5 = 1.0.
    assert chain_graph(4).degrees().tolist() == [1, 2, 2, 1]
    assert degree_term(np.array([1.0, 2.0, 2.0, 1.0])) == 1.0
    assert values_of(chain_graph(4))["degree"] == 1.0


def test_degree_term_pentamer():
    assert values_of(ring_graph(5))["degree"] == 2.0


def test_degree_term_star_three():
    # Degrees [3, 1, 1, 1]: E(D) = 1.5 and var(D) = 0.75, both exact in binary.
    assert values_of(star_graph(3))["degree"] == 1.5 - math.sqrt(0.75)


def test_degree_term_star_four():
    # Degrees [4, 1, 1, 1, 1]: E(D) = 1.6, var(D) = 4 - 1.6^2 = 1.44, sqrt = 1.2.
    # 1.6 and 1.44 are not exact binary fractions, so allow rounding.
    assert values_of(star_graph(4))["degree"] == pytest.approx(0.4, abs=1e-12)


def test_degree_term_single_water():
    assert values_of(WaterGraph(1))["degree"] == 0.0


# --- water-graph punishments ----------------------------------------------------------


def test_isolated_waters():
    assert values_of(WaterGraph(5, ((0, 1), (1, 2))))["isolated_waters"] == -2.0
    assert values_of(ring_graph(5))["isolated_waters"] == 0.0


def test_excess_degree():
    # Star with 6 leaves: the centre has 6 neighbours, 2 more than 4 (the graph is invalid).
    assert values_of(star_graph(6))["excess_degree"] == -2.0
    assert values_of(star_graph(4))["excess_degree"] == 0.0


def test_degree_target_punishments():
    # Chain of 4, degrees [1, 2, 2, 1], target x = 1.5.
    values = values_of(chain_graph(4), degree_target=1.5)
    assert values["degree_square_deviation"] == -1.0
    assert values["degree_excess"] == -1.0


def test_degree_target_default():
    # Degrees [2] * 5 against x = 4: 5 * 4 = 20 and no excess.
    values = values_of(ring_graph(5))
    assert values["degree_square_deviation"] == -20.0
    assert values["degree_excess"] == 0.0


# --- atomic-graph punishments --------------------------------------------------------


def atomic_waters(n_waters: int, extra_bonds: list[tuple[int, int, int]]) -> AtomicGraph:
    """O, H, H waters with their covalent bonds plus ``extra_bonds`` as (atom, atom, type)."""
    base = atomic_graph_from_water(WaterGraph(n_waters))
    extra = np.array([(a, b) for a, b, _ in extra_bonds], dtype=np.int64).reshape(-1, 2)
    types = np.array([t for _, _, t in extra_bonds], dtype=np.int64)
    return AtomicGraph(base.elements, np.concatenate([base.bonds, extra]), np.concatenate([base.bond_types, types]))


def test_clean_atomic_graph():
    graph = atomic_waters(2, [(1, 3, 1)])
    assert atomic_punishments(graph) == {"like_atom_bonds": 0.0, "covalent_count": 0.0, "hbond_count": 0.0}


def test_oxygen_oxygen_bond():
    graph = atomic_waters(2, [(0, 3, 1)])
    assert atomic_punishments(graph)["like_atom_bonds"] == -1.0


def test_hydrogen_hydrogen_bond():
    graph = atomic_waters(2, [(1, 4, 1), (2, 5, 0)])
    # Two like-atom bonds. The covalent H-H also gives H 2 and H 5 a second covalent bond.
    assert atomic_punishments(graph)["like_atom_bonds"] == -2.0
    assert atomic_punishments(graph)["covalent_count"] == -2.0


def test_hydrogen_two_covalent():
    # H 1 of water 0 also bonds covalently to O 3: H 1 has 2 (1 expected), O 3 has 3 (2 expected).
    graph = atomic_waters(2, [(1, 3, 0)])
    assert atomic_punishments(graph)["covalent_count"] == -2.0


def test_missing_covalent_bond():
    base = atomic_graph_from_water(WaterGraph(2))
    graph = AtomicGraph(base.elements, base.bonds[1:], base.bond_types[1:])
    # O 0 has 1 covalent bond (2 expected) and H 1 has none (1 expected).
    assert atomic_punishments(graph)["covalent_count"] == -2.0


def test_oxygen_accepts_three():
    graph = atomic_waters(4, [(4, 0, 1), (7, 0, 1), (10, 0, 1)])
    assert atomic_punishments(graph)["hbond_count"] == -1.0


def test_hydrogen_donates_two():
    graph = atomic_waters(3, [(1, 3, 1), (1, 6, 1)])
    assert atomic_punishments(graph)["hbond_count"] == -1.0


def test_atomic_graph_used_in_score():
    water = WaterGraph(2, ((0, 1),))
    atomic = atomic_waters(2, [(1, 3, 1), (0, 3, 1)])
    breakdown = score(water, DEFAULT_WEIGHTS, atomic=atomic)
    assert breakdown.components["like_atom_bonds"] == -1.0
    assert score(water, DEFAULT_WEIGHTS).components["like_atom_bonds"] == 0.0


def test_built_atomic_graph_punishes_third_donation():
    # A water donating 3 bonds puts two on one H when the atomic graph is built from it.
    graph = WaterGraph(4, ((0, 1), (0, 2), (0, 3)))
    assert values_of(graph)["hbond_count"] == -1.0


# --- weights --------------------------------------------------------------------------


def test_unknown_component():
    with pytest.raises(InputError) as caught:
        RewardWeights({"rings_7": 1.0})
    message = str(caught.value)
    assert "unknown reward component 'rings_7'" in message
    assert all(name in message for name in COMPONENTS)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), "1", True, None, [1.0]])
def test_non_finite_weight(value):
    with pytest.raises(InputError, match="weight of 'degree' must be a finite number"):
        RewardWeights({"degree": value})


@pytest.mark.parametrize("value", [float("nan"), "4", False])
def test_bad_degree_target(value):
    with pytest.raises(InputError, match="degree_target must be a finite number"):
        RewardWeights({"degree": 1.0}, value)


def test_integer_weight_accepted():
    assert RewardWeights({"degree": 2}).weight("degree") == 2.0


def test_missing_weight_is_zero():
    assert DEFAULT_WEIGHTS.weight("rings_5") == 0.0


def test_weights_file_round_trip(tmp_path):
    weights = RewardWeights({"degree": 1.5, "rings_5": -0.25, "aspl": 2.0}, degree_target=3.0)
    path = tmp_path / "preset.json"
    save_weights(weights, path)
    assert load_weights(path) == weights
    assert json.loads(path.read_text()) == {"weights": {"degree": 1.5, "rings_5": -0.25, "aspl": 2.0}, "degree_target": 3.0}


def test_weights_plain_mapping(tmp_path):
    path = tmp_path / "plain.json"
    path.write_text('{"degree": 1.0, "rings_4": 0.5, "degree_target": 2.5}')
    assert load_weights(path) == RewardWeights({"degree": 1.0, "rings_4": 0.5}, 2.5)


def test_weights_extra_keys_ignored(tmp_path):
    path = tmp_path / "named.json"
    path.write_text('{"name": "mine", "description": "text", "weights": {"degree": 1.0}}')
    assert load_weights(path) == RewardWeights({"degree": 1.0})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not a valid JSON file"),
        ("[1, 2]", "expected a JSON object"),
        ('{"weights": [1]}', "field 'weights' must be an object"),
        ('{"weights": {"degree": "high"}}', "weight of 'degree'"),
        ('{"bogus": 1}', "unknown reward component 'bogus'"),
    ],
)
def test_bad_weights_file(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_weights(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_missing_weights_file(tmp_path):
    with pytest.raises(InputError, match="weights file not found"):
        load_weights(tmp_path / "absent.json")


# --- the breakdown --------------------------------------------------------------------


def test_breakdown_sums_to_total():
    graphs = [chain_graph(4), ring_graph(5), star_graph(6), WaterGraph(6, ((0, 1), (1, 2), (2, 0), (3, 4)))]
    for graph in graphs:
        breakdown = score(graph, ALL_ONE)
        assert set(breakdown.components) == set(COMPONENTS)
        assert breakdown.total == sum(breakdown.components.values())


def test_breakdown_weighted_values():
    weights = RewardWeights({"degree": 2.0, "rings_5": 3.0, "wiener_index": -0.5})
    breakdown = score(ring_graph(5), weights)
    assert breakdown.components == {"degree": 4.0, "rings_5": 3.0, "wiener_index": -7.5}
    assert breakdown.total == -0.5
    assert breakdown.absent == ()


def test_default_reward_pentamer():
    breakdown = score(ring_graph(5))
    assert breakdown.total == 2.0
    assert set(breakdown.components) == {
        "degree", "isolated_waters", "excess_degree", "like_atom_bonds", "covalent_count", "hbond_count"
    }


def test_zero_weights_left_out():
    breakdown = score(ring_graph(5), RewardWeights({"degree": 1.0, "rings_5": 0.0}))
    assert list(breakdown.components) == ["degree"]


def test_disconnected_paths_absent():
    graph = WaterGraph(6, ((0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)))
    breakdown = score(graph, ALL_ONE)
    assert breakdown.absent == PATH_COMPONENTS
    assert all(breakdown.components[name] == 0.0 for name in PATH_COMPONENTS)


def test_absent_lists_weighted_only():
    graph = WaterGraph(3, ((0, 1),))
    breakdown = score(graph, RewardWeights({"degree": 1.0, "aspl": 1.0}))
    assert breakdown.absent == ("aspl",)


def test_connected_paths_present():
    breakdown = score(chain_graph(4), RewardWeights({"diameter": 1.0, "aspl": 6.0, "wiener_index": 1.0}))
    assert breakdown.absent == ()
    assert breakdown.components == {"diameter": 3.0, "aspl": 10.0, "wiener_index": 10.0}


def test_breakdown_to_dict():
    graph = WaterGraph(3, ((0, 1),))
    data = score(graph, RewardWeights({"degree": 1.0, "diameter": 1.0})).to_dict()
    assert set(data) == {"total", "components", "absent"}
    assert data["absent"] == ["diameter"]
    json.dumps(data)

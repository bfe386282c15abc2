"""Water graphs, atomic graphs and the conversions between them."""

from __future__ import annotations

import numpy as np
import pytest

from engine.graphs import (
    COVALENT,
    HYDROGEN_BOND,
    AtomicGraph,
    GraphError,
    WaterGraph,
    atomic_graph_from_water,
    same_network,
    water_graph_from_atomic,
)
from tests.engine_fixtures import hydronet_clusters  # noqa: F401 (fixture)
from tests.engine_fixtures import chain_graph, ring_graph


def hbond_set(graph: AtomicGraph) -> set[tuple[int, int]]:
    """Hydrogen bonds as (donor water, acceptor O atom), which ignores which H of the donor is used."""
    pairs = graph.bonds[graph.bond_types == HYDROGEN_BOND]
    return {(int(h) // 3, int(o)) for h, o in pairs}


def covalent_set(graph: AtomicGraph) -> set[tuple[int, int]]:
    pairs = graph.bonds[graph.bond_types == COVALENT]
    return {(int(a), int(b)) for a, b in pairs}


# --- round trips on the HydroNet graphs ----------------------------------------


def test_water_atomic_water_identical(hydronet_clusters):
    different = [
        c.frame for c in hydronet_clusters if water_graph_from_atomic(atomic_graph_from_water(c.water_graph)) != c.water_graph
    ]
    assert different == []


def test_atomic_water_atomic_same_bonds(hydronet_clusters):
    hbonds_differ = []
    covalent_differ = []
    for cluster in hydronet_clusters:
        rebuilt = atomic_graph_from_water(water_graph_from_atomic(cluster.atomic_graph))
        if hbond_set(rebuilt) != hbond_set(cluster.atomic_graph):
            hbonds_differ.append(cluster.frame)
        if covalent_set(rebuilt) != covalent_set(cluster.atomic_graph):
            covalent_differ.append(cluster.frame)
    assert hbonds_differ == []
    assert covalent_differ == []


def test_atomic_round_trip_keeps_counts(hydronet_clusters):
    # Sets would hide a duplicated bond, so compare the bond counts too.
    differ = [
        c.frame
        for c in hydronet_clusters
        if len(atomic_graph_from_water(water_graph_from_atomic(c.atomic_graph)).bonds) != len(c.atomic_graph.bonds)
    ]
    assert differ == []


# --- WaterGraph ------------------------------------------------------------------


def test_hbonds_sorted_on_build():
    graph = WaterGraph(3, ((2, 0), (0, 1), (1, 2)))
    assert graph.hbonds == ((0, 1), (1, 2), (2, 0))
    assert graph == WaterGraph.from_edges(3, [(1, 2), (2, 0), (0, 1)])


def test_bond_outside_range():
    with pytest.raises(GraphError, match="hydrogen bond 0 -> 3 refers to a water outside 0..2"):
        WaterGraph(3, ((0, 3),))


def test_negative_water_count():
    with pytest.raises(GraphError, match="n_waters must be >= 0"):
        WaterGraph(-1)


def test_degrees_count_pairs_once():
    graph = WaterGraph(3, ((0, 1), (1, 0), (1, 2)))
    assert graph.degrees().tolist() == [1, 2, 1]
    assert graph.out_degrees().tolist() == [1, 2, 0]
    assert graph.in_degrees().tolist() == [1, 1, 1]
    assert graph.undirected_edges() == [(0, 1), (1, 2)]


@pytest.mark.parametrize(
    ("hbonds", "problem"),
    [
        (((1, 1),), "water 1 bonds to itself"),
        (((0, 1), (1, 0)), "waters 0 and 1 share 2 hydrogen bonds (at most 1)"),
        (((0, 1), (0, 1)), "waters 0 and 1 share 2 hydrogen bonds (at most 1)"),
        (((0, 1), (0, 2), (0, 3)), "water 0 donates 3 hydrogen bonds (at most 2)"),
        (((1, 0), (2, 0), (3, 0)), "water 0 accepts 3 hydrogen bonds (at most 2)"),
    ],
)
def test_validity_problems(hbonds, problem):
    graph = WaterGraph(4, hbonds)
    assert graph.validity_problems() == [problem]
    assert not graph.is_valid()


def test_valid_graph_has_no_problems():
    assert ring_graph(6).validity_problems() == []
    assert WaterGraph(1).is_valid()


def test_add_hbond_new_water():
    graph = chain_graph(3).add_hbond(2, 3)
    assert graph.n_waters == 4
    assert graph.hbonds == ((0, 1), (1, 2), (2, 3))
    assert chain_graph(3).add_hbond(3, 0).hbonds == ((0, 1), (1, 2), (3, 0))


@pytest.mark.parametrize(("donor", "acceptor"), [(1, 1), (1, 0), (0, 1), (3, 3), (0, 5), (-1, 0)])
def test_add_hbond_rejected(donor, acceptor):
    graph = chain_graph(3)
    assert not graph.can_add(donor, acceptor)
    with pytest.raises(GraphError, match=f"cannot add hydrogen bond {donor} -> {acceptor}"):
        graph.add_hbond(donor, acceptor)


def test_add_hbond_respects_limits():
    donates_two = WaterGraph(4, ((0, 1), (0, 2)))
    accepts_two = WaterGraph(4, ((1, 0), (2, 0)))
    assert not donates_two.can_add(0, 3)
    assert not donates_two.can_add(0, 4)
    assert not accepts_two.can_add(3, 0)
    assert not accepts_two.can_add(4, 0)
    assert donates_two.can_add(3, 0)


def test_canonical_hash_relabelled():
    rng = np.random.default_rng(11)
    graph = WaterGraph(6, ((0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (0, 3)))
    labels = rng.permutation(6)
    relabelled = WaterGraph(6, tuple((int(labels[d]), int(labels[a])) for d, a in graph.hbonds))
    assert relabelled != graph
    assert relabelled.canonical_hash() == graph.canonical_hash()
    assert same_network(relabelled, graph)


def test_direction_matters_for_isomorphism():
    # A directed ring and a ring with one bond reversed are not the same network.
    reversed_one = WaterGraph(5, ((1, 0), (1, 2), (2, 3), (3, 4), (4, 0)))
    assert not same_network(ring_graph(5), reversed_one)
    assert ring_graph(5).canonical_hash() != reversed_one.canonical_hash()


def test_same_network_counts_differ():
    assert not same_network(chain_graph(4), chain_graph(5))
    assert not same_network(chain_graph(4), ring_graph(4))


def test_dict_round_trip():
    graph = WaterGraph(4, ((0, 1), (2, 3), (3, 0)))
    data = graph.to_dict()
    assert data == {"n_waters": 4, "hbonds": [[0, 1], [2, 3], [3, 0]]}
    assert WaterGraph.from_dict(data) == graph


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([1, 2], "expected an object"),
        ({"hbonds": []}, "field 'n_waters'"),
        ({"n_waters": True, "hbonds": []}, "field 'n_waters'"),
        ({"n_waters": 3}, "field 'hbonds'"),
        ({"n_waters": 3, "hbonds": [[0, 1, 2]]}, r"hbonds\[0\]"),
        ({"n_waters": 3, "hbonds": [[0, 1], [0, "2"]]}, r"hbonds\[1\]"),
        ({"n_waters": 3, "hbonds": [[0, 3]]}, "refers to a water outside"),
    ],
)
def test_from_dict_rejects(data, field):
    with pytest.raises(GraphError, match=f"step 4: .*{field}"):
        WaterGraph.from_dict(data, where="step 4")


# --- AtomicGraph conversions -----------------------------------------------------


def test_atomic_from_water_layout():
    graph = atomic_graph_from_water(WaterGraph(2, ((0, 1),)))
    assert graph.elements.tolist() == [0, 1, 1, 0, 1, 1]
    assert graph.bonds.tolist() == [[0, 1], [0, 2], [3, 4], [3, 5], [1, 3]]
    assert graph.bond_types.tolist() == [0, 0, 0, 0, 1]


def test_atomic_from_water_uses_both_h():
    graph = atomic_graph_from_water(WaterGraph(3, ((0, 1), (0, 2))))
    assert graph.bonds[graph.bond_types == HYDROGEN_BOND].tolist() == [[1, 3], [2, 6]]


def test_third_donation_on_last_h():
    graph = atomic_graph_from_water(WaterGraph(4, ((0, 1), (0, 2), (0, 3))))
    assert graph.bonds[graph.bond_types == HYDROGEN_BOND].tolist() == [[1, 3], [2, 6], [2, 9]]


def test_directed_edges_both_ways():
    src, dst, types = atomic_graph_from_water(WaterGraph(2, ((1, 0),))).directed_edges()
    assert len(src) == 10
    assert set(zip(src.tolist(), dst.tolist())) >= {(4, 0), (0, 4)}
    assert types.tolist() == [0, 0, 0, 0, 1] * 2


def atomic(elements, bonds, types) -> AtomicGraph:
    return AtomicGraph(np.array(elements), np.array(bonds).reshape(-1, 2), np.array(types))


def test_water_from_atomic_either_orientation():
    elements = [0, 1, 1, 0, 1, 1]
    covalent = [[0, 1], [0, 2], [3, 4], [3, 5]]
    h_first = atomic(elements, covalent + [[4, 0]], [0, 0, 0, 0, 1])
    o_first = atomic(elements, covalent + [[0, 4]], [0, 0, 0, 0, 1])
    assert water_graph_from_atomic(h_first).hbonds == ((1, 0),)
    assert water_graph_from_atomic(o_first).hbonds == ((1, 0),)


def test_water_from_atomic_skips_like_atoms():
    elements = [0, 1, 1, 0, 1, 1]
    covalent = [[0, 1], [0, 2], [3, 4], [3, 5]]
    graph = atomic(elements, covalent + [[0, 3], [1, 4]], [0, 0, 0, 0, 1, 1])
    assert water_graph_from_atomic(graph).hbonds == ()


def test_water_from_atomic_bad_count():
    graph = atomic([0, 1, 1, 0], [[0, 1]], [0])
    with pytest.raises(GraphError, match="4 atoms, not a multiple of 3"):
        water_graph_from_atomic(graph)


def test_water_from_atomic_bad_order():
    graph = atomic([1, 0, 1], [[0, 1], [1, 2]], [0, 0])
    with pytest.raises(GraphError, match="not in water order"):
        water_graph_from_atomic(graph)

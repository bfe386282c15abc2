"""Descriptors of water graphs: hand-made graphs, invariances and the real minima."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from engine.descriptors import describe
from engine.graphs import WaterGraph
from engine.io import read_clusters
from tests.engine_fixtures import (
    MINIMA_SIZES,
    assert_same_descriptors,
    chain_graph,
    minima_path,
    random_valid_graph,
    ring_graph,
    star_graph,
)

DESCRIPTOR_FIELDS = {
    "n_waters", "n_hbonds", "degree_mean", "degree_variance", "degree_histogram",
    "rings_3", "rings_4", "rings_5", "rings_6", "connected", "diameter", "aspl", "wiener_index",
}


def rings(graph: WaterGraph) -> tuple[int, int, int, int]:
    d = describe(graph)
    return d.rings_3, d.rings_4, d.rings_5, d.rings_6


def relabel(graph: WaterGraph, labels: np.ndarray) -> WaterGraph:
    return WaterGraph(graph.n_waters, tuple((int(labels[d]), int(labels[a])) for d, a in graph.hbonds))


# --- hand-made graphs ------------------------------------------------------------


def test_chain_of_four():
    d = describe(chain_graph(4))
    assert rings(chain_graph(4)) == (0, 0, 0, 0)
    assert d.connected is True
    assert d.diameter == 3
    # Path lengths 1+2+3+1+2+1 = 10 over 6 pairs.
    assert d.wiener_index == 10
    assert d.aspl == 10 / 6
    assert d.degree_mean == 1.5
    assert d.degree_variance == 0.25
    assert d.degree_histogram == [0, 2, 2]
    assert d.n_hbonds == 3


def test_four_cycle_with_chord():
    graph = WaterGraph(4, ((0, 1), (1, 2), (2, 3), (3, 0), (0, 2)))
    # The chord splits the square into two triangles, so the square is not chordless.
    assert rings(graph) == (2, 0, 0, 0)
    assert describe(graph).diameter == 2


def test_plain_four_cycle():
    assert rings(ring_graph(4)) == (0, 1, 0, 0)


def test_pentamer_ring():
    d = describe(ring_graph(5))
    assert rings(ring_graph(5)) == (0, 0, 1, 0)
    assert d.aspl == 1.5
    assert d.wiener_index == 15


def test_hexagon():
    d = describe(ring_graph(6))
    assert rings(ring_graph(6)) == (0, 0, 0, 1)
    assert d.diameter == 3
    # Each water has two neighbours at 1, two at 2 and one at 3: 6 * 9 / 2 = 27.
    assert d.wiener_index == 27


def test_seven_ring_not_counted():
    assert rings(ring_graph(7)) == (0, 0, 0, 0)


def test_prism_rings():
    # Triangular prism: two triangles joined by three rungs.
    graph = WaterGraph(6, ((0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3), (0, 3), (1, 4), (2, 5)))
    assert rings(graph) == (2, 3, 0, 0)


def test_disjoint_triangles():
    d = describe(WaterGraph(6, ((0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3))))
    assert d.rings_3 == 2
    assert d.connected is False
    assert d.diameter is None
    assert d.aspl is None
    assert d.wiener_index is None


def test_isolated_water_disconnects():
    d = describe(WaterGraph(3, ((0, 1),)))
    assert d.connected is False
    assert d.degree_histogram == [1, 2]
    assert d.aspl is None


def test_single_water():
    d = describe(WaterGraph(1))
    assert d.n_waters == 1
    assert d.n_hbonds == 0
    assert d.connected is True
    assert d.diameter == 0
    assert d.aspl == 0.0
    assert d.wiener_index == 0
    assert d.degree_histogram == [1]
    assert rings(WaterGraph(1)) == (0, 0, 0, 0)


def test_no_waters_rejected():
    with pytest.raises(ValueError, match="no waters"):
        describe(WaterGraph(0))


def test_star_of_four():
    d = describe(star_graph(4))
    assert d.degree_histogram == [0, 4, 0, 0, 1]
    assert d.diameter == 2
    # 4 centre-leaf pairs at 1 and 6 leaf-leaf pairs at 2.
    assert d.wiener_index == 16


def test_repeated_pair_counts_once():
    d = describe(WaterGraph(2, ((0, 1), (1, 0))))
    assert d.n_hbonds == 2
    assert d.degree_histogram == [0, 2]
    assert d.wiener_index == 1


def test_as_dict_keys():
    assert set(describe(chain_graph(3)).as_dict()) == DESCRIPTOR_FIELDS


# --- invariances -------------------------------------------------------------------


def invariance_graphs() -> list[WaterGraph]:
    rng = np.random.default_rng(3)
    graphs = [random_valid_graph(rng, n, 3 * n) for n in (4, 7, 9, 12)]
    graphs.append(WaterGraph(6, ((0, 1), (1, 2), (2, 0), (3, 4), (4, 5))))
    graphs.append(next(read_clusters(minima_path(10))).water_graph)
    return graphs


@pytest.mark.parametrize("index", range(6))
def test_relabelling_invariant(index):
    graph = invariance_graphs()[index]
    rng = np.random.default_rng(100 + index)
    labels = rng.permutation(graph.n_waters)
    relabelled = relabel(graph, labels)
    assert relabelled != graph
    assert_same_descriptors(describe(relabelled), describe(graph))


@pytest.mark.parametrize("index", range(6))
def test_direction_invariant(index):
    graph = invariance_graphs()[index]
    reversed_graph = WaterGraph(graph.n_waters, tuple((a, d) for d, a in graph.hbonds))
    assert reversed_graph != graph
    assert describe(reversed_graph) == describe(graph)


# --- real minima ---------------------------------------------------------------------

#: Descriptors of the water graphs of wN_lowest.xyz, atoms grouped by the engine,
#: measured with this engine: N: (rings 3/4/5/6, diameter, Wiener index, hydrogen bonds).
#: Every graph is connected, and aspl is the Wiener index over N (N - 1) / 2 pairs.
MINIMA_REFERENCE = {
    3: ((1, 0, 0, 0), 1, 3, 3),
    4: ((0, 1, 0, 0), 2, 8, 4),
    5: ((0, 0, 1, 0), 2, 15, 5),
    6: ((0, 5, 0, 0), 3, 23, 8),
    7: ((1, 3, 2, 0), 3, 33, 10),
    8: ((0, 6, 0, 4), 3, 48, 12),
    9: ((0, 4, 2, 3), 3, 65, 13),
    10: ((0, 5, 2, 0), 3, 85, 15),
    11: ((0, 6, 4, 3), 4, 107, 17),
    12: ((0, 11, 0, 8), 4, 136, 20),
    13: ((0, 9, 2, 7), 4, 167, 21),
    14: ((0, 10, 2, 4), 4, 201, 23),
    15: ((0, 10, 3, 0), 4, 235, 25),
    16: ((0, 16, 0, 12), 5, 288, 28),
    17: ((0, 6, 10, 12), 4, 312, 28),
    18: ((0, 13, 4, 4), 5, 369, 31),
    19: ((0, 2, 17, 11), 4, 400, 31),
    20: ((0, 12, 6, 0), 5, 484, 34),
    21: ((0, 0, 18, 12), 4, 512, 34),
    22: ((0, 10, 12, 12), 5, 588, 38),
    23: ((0, 6, 18, 8), 5, 650, 39),
    24: ((0, 9, 12, 15), 5, 731, 41),
    25: ((0, 7, 14, 12), 5, 816, 42),
    26: ((0, 5, 18, 19), 6, 891, 44),
    27: ((0, 9, 18, 13), 5, 964, 47),
    28: ((0, 10, 16, 20), 6, 1062, 49),
    29: ((0, 9, 15, 21), 6, 1169, 50),
    30: ((0, 5, 27, 20), 5, 1231, 52),
}


@pytest.mark.parametrize("n_waters", MINIMA_SIZES)
def test_minima_descriptors(n_waters):
    ring_counts, diameter, wiener, n_hbonds = MINIMA_REFERENCE[n_waters]
    graph = next(read_clusters(minima_path(n_waters))).water_graph
    d = describe(graph)
    assert rings(graph) == ring_counts
    assert d.connected is True
    assert d.diameter == diameter
    assert d.wiener_index == wiener
    assert d.aspl == float(Fraction(wiener, n_waters * (n_waters - 1) // 2))
    assert d.n_hbonds == n_hbonds


#: Values for N = 5, 6 and 10 as published with the data (aspl to 4 decimals).
PUBLISHED = {
    5: ((0, 0, 1, 0), 1.5, 15),
    6: ((0, 5, 0, 0), 1.5333, 23),
    10: ((0, 5, 2, 0), 1.8889, 85),
}


@pytest.mark.parametrize("n_waters", sorted(PUBLISHED))
def test_minima_match_published(n_waters):
    ring_counts, aspl, wiener = PUBLISHED[n_waters]
    graph = next(read_clusters(minima_path(n_waters))).water_graph
    d = describe(graph)
    assert rings(graph) == ring_counts
    assert round(d.aspl, 4) == aspl
    assert d.wiener_index == wiener


def test_exact_aspl_fractions():
    assert describe(next(read_clusters(minima_path(6))).water_graph).aspl == 23 / 15
    assert describe(next(read_clusters(minima_path(10))).water_graph).aspl == 85 / 45

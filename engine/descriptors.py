"""Graph-theoretic descriptors of a water graph.

All descriptors use the undirected simple view of the water graph (a pair of
waters joined by a hydrogen bond in either direction is one edge). Rings are
chordless (induced) cycles of 3 to 6 waters. Path measures need a connected
graph: for a disconnected one they are None and ``connected`` is False.

:func:`describe` uses the compiled kernels of :mod:`engine.graph_kernels`
for graphs of up to 62 waters and networkx beyond; :func:`describe_networkx`
is the plain networkx version, kept as the reference the kernels are tested
and benchmarked against.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import networkx as nx
import numpy as np

from engine import graph_kernels
from engine.graphs import WaterGraph

#: Ring sizes counted, in waters.
RING_SIZES = (3, 4, 5, 6)


@dataclass(frozen=True)
class Descriptors:
    """Descriptors of one water graph.

    Attributes:
        n_waters: Number of waters.
        n_hbonds: Number of hydrogen bonds (directed, repeats included).
        degree_mean: Mean undirected degree.
        degree_variance: Population variance of the undirected degree.
        degree_histogram: Number of waters with degree 0, 1, 2, ...
        rings_3, rings_4, rings_5, rings_6: Chordless cycles of that many waters.
        connected: Whether every water is reachable from every other.
        diameter: Longest shortest path, in bonds; None when disconnected.
        aspl: Average shortest path length over unordered pairs of distinct
            waters, in bonds; None when disconnected.
        wiener_index: Sum of shortest path lengths over unordered pairs;
            None when disconnected.
    """

    n_waters: int
    n_hbonds: int
    degree_mean: float
    degree_variance: float
    degree_histogram: list[int]
    rings_3: int
    rings_4: int
    rings_5: int
    rings_6: int
    connected: bool
    diameter: int | None
    aspl: float | None
    wiener_index: int | None

    def as_dict(self) -> dict:
        """Return the descriptors as a JSON-ready dict with the keys of the attributes."""
        return asdict(self)


def ring_counts(graph: nx.Graph) -> dict[int, int]:
    """Count chordless cycles of 3 to 6 nodes, as ``{size: count}``."""
    counts = dict.fromkeys(RING_SIZES, 0)
    for cycle in nx.chordless_cycles(graph, length_bound=max(RING_SIZES)):
        if len(cycle) in counts:
            counts[len(cycle)] += 1
    return counts


def path_measures(graph: nx.Graph) -> tuple[bool, int | None, float | None, int | None]:
    """Return ``(connected, diameter, aspl, wiener_index)`` of an undirected graph."""
    n = graph.number_of_nodes()
    if n == 0 or not nx.is_connected(graph):
        return False, None, None, None
    if n == 1:
        return True, 0, 0.0, 0
    total = 0
    diameter = 0
    for _, lengths in nx.all_pairs_shortest_path_length(graph):
        values = lengths.values()
        total += sum(values)
        diameter = max(diameter, max(values))
    wiener = total // 2
    return True, diameter, wiener / (n * (n - 1) / 2), wiener


def describe(graph: WaterGraph) -> Descriptors:
    """Compute every descriptor of a water graph.

    Raises:
        ValueError: for a graph without waters.
    """
    if graph.n_waters == 0:
        raise ValueError("cannot describe a graph with no waters")
    if graph.n_waters > graph_kernels.MAX_KERNEL_WATERS:
        return describe_networkx(graph)
    edges = np.array(graph.undirected_edges(), dtype=np.int64).reshape(-1, 2)
    adjacency, offsets = graph_kernels.adjacency_masks(
        np.array([graph.n_waters]), np.zeros(len(edges), dtype=np.int64), edges[:, 0], edges[:, 1]
    )
    row = graph_kernels.batch_descriptors(adjacency, offsets)[0]
    connected = bool(row[graph_kernels.CONNECTED])
    wiener = int(row[graph_kernels.WIENER]) if connected else None
    return _assemble(
        graph,
        {size: int(row[graph_kernels.RING3 + size - 3]) for size in RING_SIZES},
        connected,
        int(row[graph_kernels.DIAMETER]) if connected else None,
        _aspl(wiener, graph.n_waters),
        wiener,
    )


def _aspl(wiener: int | None, n_waters: int) -> float | None:
    if wiener is None:
        return None
    return 0.0 if n_waters == 1 else wiener / (n_waters * (n_waters - 1) / 2)


def describe_networkx(graph: WaterGraph) -> Descriptors:
    """Compute every descriptor with networkx only (the reference implementation).

    Raises:
        ValueError: for a graph without waters.
    """
    if graph.n_waters == 0:
        raise ValueError("cannot describe a graph with no waters")
    simple = graph.to_networkx()
    rings = ring_counts(simple)
    connected, diameter, aspl, wiener = path_measures(simple)
    return _assemble(graph, rings, connected, diameter, aspl, wiener)


def _assemble(graph: WaterGraph, rings: dict[int, int], connected: bool, diameter, aspl, wiener) -> Descriptors:
    degrees = graph.degrees()
    return Descriptors(
        n_waters=graph.n_waters,
        n_hbonds=graph.n_hbonds,
        degree_mean=float(degrees.mean()),
        degree_variance=float(degrees.var()),
        degree_histogram=np.bincount(degrees).tolist(),
        rings_3=rings[3],
        rings_4=rings[4],
        rings_5=rings[5],
        rings_6=rings[6],
        connected=connected,
        diameter=diameter,
        aspl=aspl,
        wiener_index=wiener,
    )

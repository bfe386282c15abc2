"""Graph-theoretic descriptors of a water graph.

All descriptors use the undirected simple view of the water graph (a pair of
waters joined by a hydrogen bond in either direction is one edge). Rings are
chordless (induced) cycles of 3 to 6 waters. Path measures need a connected
graph: for a disconnected one they are None and ``connected`` is False.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import networkx as nx
import numpy as np

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
    simple = graph.to_networkx()
    degrees = graph.degrees()
    rings = ring_counts(simple)
    connected, diameter, aspl, wiener = path_measures(simple)
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

"""Exhaustive enumeration of valid water graphs up to isomorphism.

For a valid water graph every reward component except a surrogate's
prediction depends only on the undirected simple graph: degrees, rings and
path measures are defined on it, the bond count equals its edge count
(at most one bond per pair), and the punishments are all zero. Every
undirected graph whose degrees are at most 4 has such an orientation:
pairing up the waters of odd degree with extra edges makes all degrees
even, an Euler circuit then gives each water as many incoming as outgoing
edges, and dropping the extra edges leaves at most 2 of each. So the best
reward over valid water graphs of n waters equals the best reward over
undirected graphs with n nodes and maximum degree 4, which nauty's ``geng``
lists up to isomorphism (``geng -D4 n``; Debian package ``nauty``).

Measured with ``geng`` 2.8.6: 15,471 such graphs for 9 waters, 108,376 for
10, and the count grows about 8-fold per added water, so 12 waters
(about 7 million graphs) is the practical limit for an exact optimum here.

A surrogate's prediction depends on the directions of the bonds. With a
surrogate weight, each undirected graph is scored under the one orientation
that :func:`orient` gives it, so the result is the best over those
orientations, not an exact optimum over all valid water graphs.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Iterator

import networkx as nx
import numpy as np

from engine.cluster import Cluster
from engine.components import compute_table
from engine.errors import InputError
from engine.graphs import WaterGraph, atomic_graph_from_water
from engine.reward import COMPONENTS, RewardWeights

ATOMIC_PUNISHMENTS = ("like_atom_bonds", "covalent_count", "hbond_count")

GENG_NAMES = ("nauty-geng", "geng")


def find_geng() -> str:
    """Return the path of nauty's ``geng``.

    Raises:
        InputError: when it is not installed.
    """
    for name in GENG_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise InputError("nauty's geng is not installed (Debian/Ubuntu: apt-get install nauty)")


def undirected_graphs(n_waters: int, connected_only: bool = False) -> Iterator[nx.Graph]:
    """Yield every undirected graph of ``n_waters`` nodes with maximum degree 4, up to isomorphism."""
    if not 1 <= n_waters <= 16:
        raise InputError(f"exhaustive enumeration supports 1 to 16 waters, got {n_waters}")
    command = [find_geng(), "-q", "-D4"] + (["-c"] if connected_only else []) + [str(n_waters)]
    with subprocess.Popen(command, stdout=subprocess.PIPE) as process:
        for line in process.stdout:
            yield nx.from_graph6_bytes(line.strip())
    if process.returncode not in (0, None):
        raise RuntimeError(f"geng exited with status {process.returncode}")


def orient(graph: nx.Graph) -> WaterGraph:
    """Orient an undirected graph of maximum degree 4 into a valid water graph.

    Pairs up odd-degree nodes through one extra node, follows an Euler
    circuit of each component, and keeps the real edges in circuit
    direction, so every node has at most 2 incoming and 2 outgoing bonds.
    """
    augmented = nx.MultiGraph(graph)
    odd = [node for node, degree in graph.degree() if degree % 2]
    extra = "extra"
    augmented.add_edges_from((extra, node) for node in odd)
    bonds = []
    for component in nx.connected_components(augmented):
        sub = augmented.subgraph(component)
        if sub.number_of_edges() == 0:
            continue
        for u, v in nx.eulerian_circuit(sub):
            if u != extra and v != extra:
                bonds.append((u, v))
    water = WaterGraph(graph.number_of_nodes(), tuple(bonds))
    problems = water.validity_problems()
    if problems:
        raise AssertionError(f"orientation failed: {problems}")
    return water


def _scored_chunks(n_waters: int, weights: RewardWeights, batch: int) -> Iterator[tuple[np.ndarray, list[nx.Graph]]]:
    """Yield ``(rewards, graphs)`` for consecutive chunks of the enumerated graphs."""
    chunk: list[nx.Graph] = []
    for graph in undirected_graphs(n_waters):
        chunk.append(graph)
        if len(chunk) >= batch:
            yield _score_chunk(chunk, n_waters, weights), chunk
            chunk = []
    if chunk:
        yield _score_chunk(chunk, n_waters, weights), chunk


def _score_chunk(chunk: list[nx.Graph], n_waters: int, weights: RewardWeights) -> np.ndarray:
    clusters = []
    for graph in chunk:
        water = WaterGraph(n_waters, tuple((min(u, v), max(u, v)) for u, v in graph.edges()))
        clusters.append(Cluster("enumeration", 0, None, water, atomic_graph_from_water(water)))
    table = compute_table(clusters)
    # The clusters carry an arbitrary orientation. A valid one exists (see the module
    # docstring), and under it the atomic punishments are exactly zero.
    for name in ATOMIC_PUNISHMENTS:
        table.values[:, COMPONENTS.index(name)] = 0.0
    predicted = None
    if weights.uses_surrogate:
        from engine.surrogate.predict import predict_water_graphs

        # The orientation that best_graphs returns, so a reported reward is that graph's score().
        predicted = predict_water_graphs(weights.surrogate_model, [orient(graph) for graph in chunk])
    return table.rewards(weights, predicted)


def best_graphs(
    n_waters: int, weights: RewardWeights, top: int = 10, batch: int = 20000
) -> tuple[list[tuple[float, WaterGraph]], int]:
    """Score every valid water graph of ``n_waters`` waters up to isomorphism.

    Returns:
        ``(best, count)``: the ``top`` best ``(reward, water graph)`` pairs,
        best first, and the number of graphs scored.
    """
    best: list[tuple[float, nx.Graph]] = []
    count = 0
    for rewards, chunk in _scored_chunks(n_waters, weights, batch):
        count += len(chunk)
        order = np.argsort(-rewards, kind="stable")[:top]
        best = sorted(best + [(float(rewards[i]), chunk[i]) for i in order], key=lambda pair: -pair[0])[:top]
    return [(reward, orient(graph)) for reward, graph in best], count


def count_better(n_waters: int, weights: RewardWeights, reward: float, batch: int = 20000) -> int:
    """Count the valid water graphs of ``n_waters`` waters, up to isomorphism, whose reward exceeds ``reward``.

    Rewards within 1e-9 of ``reward`` count as equal, to absorb round-off.
    """
    return sum(int((rewards > reward + 1e-9).sum()) for rewards, _ in _scored_chunks(n_waters, weights, batch))

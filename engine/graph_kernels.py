"""Compiled descriptor kernels for many small water graphs at once.

The descriptors of large databases (millions of clusters of a few dozen
waters) are the hot path of reward tuning. These kernels, compiled with
numba, keep each graph's adjacency as one 64-bit mask per water and compute

* chordless cycles of 3 to 6 waters by a depth-first search over induced
  paths that start at the cycle's smallest water, and
* all shortest path lengths by breadth-first search over the masks.

They handle graphs of up to :data:`MAX_KERNEL_WATERS` waters; larger graphs
fall back to networkx in :mod:`engine.descriptors`. The results equal the
networkx implementation exactly (the tests compare both on real data).
"""

from __future__ import annotations

import numba
import numpy as np

#: Largest graph the bit-mask kernels handle (one bit per water in an int64,
#: sign bit unused).
MAX_KERNEL_WATERS = 62
#: Maximum ring size counted, in waters.
MAX_RING = 6

# Columns of the kernel's integer output.
RING3, RING4, RING5, RING6, CONNECTED, DIAMETER, WIENER, N_COLUMNS = range(8)


@numba.njit(cache=True)
def _lowest_bit(mask: np.int64) -> int:
    index = 0
    while not (mask >> index) & 1:
        index += 1
    return index


@numba.njit(cache=True)
def _popcount(mask: np.int64) -> int:
    count = 0
    while mask:
        mask &= mask - 1
        count += 1
    return count


@numba.njit(cache=True)
def _count_rings(adjacency: np.ndarray, n: int, out: np.ndarray) -> None:
    """Add the chordless cycles of 3..6 nodes of one graph to ``out[RING3:RING6 + 1]``.

    A cycle is found from its smallest node ``s`` as an induced path
    ``s, p1, ..., w`` whose last node ``w`` is adjacent to ``s``; requiring
    ``p1 < w`` keeps one of its two directions.
    """
    last = np.zeros(MAX_RING, dtype=np.int64)
    used = np.zeros(MAX_RING, dtype=np.int64)
    interior = np.zeros(MAX_RING, dtype=np.int64)
    candidates = np.zeros(MAX_RING, dtype=np.int64)
    one = np.int64(1)
    for s in range(n):
        higher = ~((one << (s + 1)) - 1)
        for p1 in range(s + 1, n):
            if not (adjacency[s] >> p1) & 1:
                continue
            depth = 1
            last[1] = p1
            used[1] = (one << s) | (one << p1)
            interior[1] = 0
            candidates[1] = adjacency[p1] & higher & ~used[1]
            while depth >= 1:
                mask = candidates[depth]
                if mask == 0:
                    depth -= 1
                    continue
                w = _lowest_bit(mask)
                candidates[depth] = mask & (mask - 1)
                if (adjacency[s] >> w) & 1:
                    # w closes a cycle of depth + 2 nodes; its interior has no chord by construction.
                    if p1 < w:
                        out[RING3 + depth - 1] += 1
                elif depth + 2 < MAX_RING:
                    nxt = depth + 1
                    last[nxt] = w
                    used[nxt] = used[depth] | (one << w)
                    interior[nxt] = interior[depth] | adjacency[last[depth]]
                    candidates[nxt] = adjacency[w] & higher & ~used[nxt] & ~interior[nxt]
                    depth = nxt


@numba.njit(cache=True)
def _path_measures(adjacency: np.ndarray, n: int, out: np.ndarray) -> None:
    """Fill ``out[CONNECTED]``, ``out[DIAMETER]`` and ``out[WIENER]`` of one graph by breadth-first search."""
    one = np.int64(1)
    everyone = (one << n) - 1
    total = 0
    diameter = 0
    connected = 1
    for source in range(n):
        visited = one << source
        frontier = visited
        distance = 0
        while frontier:
            reached = np.int64(0)
            for i in range(n):
                if (frontier >> i) & 1:
                    reached |= adjacency[i]
            reached &= ~visited
            distance += 1
            count = _popcount(reached)
            if count:
                total += distance * count
                if distance > diameter:
                    diameter = distance
            visited |= reached
            frontier = reached
        if visited != everyone:
            connected = 0
            break
    out[CONNECTED] = connected
    out[DIAMETER] = diameter if connected else -1
    out[WIENER] = total // 2 if connected else -1


@numba.njit(cache=True)
def batch_descriptors(adjacency: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Compute ring counts and path measures of many graphs.

    Args:
        adjacency: Neighbour bit mask of every node of every graph, shape
            ``(total_nodes,)``, int64; bit ``j`` of a node's mask is set when
            it is bonded to node ``j`` of the same graph.
        offsets: Start of each graph in ``adjacency``, shape ``(n_graphs + 1,)``.

    Returns:
        Shape ``(n_graphs, N_COLUMNS)``: rings of 3, 4, 5, 6, connected
        (0/1), diameter and Wiener index (-1 when disconnected).
    """
    n_graphs = offsets.shape[0] - 1
    out = np.zeros((n_graphs, N_COLUMNS), dtype=np.int64)
    for g in range(n_graphs):
        start = offsets[g]
        n = offsets[g + 1] - start
        local = adjacency[start : start + n]
        _count_rings(local, n, out[g])
        _path_measures(local, n, out[g])
    return out


def adjacency_masks(sizes: np.ndarray, graph_index: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Build the bit masks of many undirected graphs from their edge lists.

    Args:
        sizes: Number of nodes of each graph, shape ``(n_graphs,)``.
        graph_index: Graph of each edge, shape ``(n_edges,)``.
        u, v: Local node indices of each edge's ends, shape ``(n_edges,)``.
            Self loops are ignored; repeated edges are harmless.

    Returns:
        ``(adjacency, offsets)`` as :func:`batch_descriptors` takes them.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.size and sizes.max() > MAX_KERNEL_WATERS:
        raise ValueError(f"graphs of more than {MAX_KERNEL_WATERS} waters need the networkx path")
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    adjacency = np.zeros(offsets[-1], dtype=np.int64)
    keep = u != v
    u, v, base = u[keep], v[keep], offsets[graph_index[keep]]
    np.bitwise_or.at(adjacency, base + u, np.left_shift(np.int64(1), v.astype(np.int64)))
    np.bitwise_or.at(adjacency, base + v, np.left_shift(np.int64(1), u.astype(np.int64)))
    return adjacency, offsets

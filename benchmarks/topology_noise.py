"""Estimate how much of a dataset's energy spread the hydrogen-bond topology alone cannot explain.

The surrogate takes only the graph as input, so clusters with isomorphic directed
water graphs get the same prediction. Grouping the clusters into exact
isomorphism classes (candidates by Weisfeiler-Lehman hash, then confirmed
with :func:`networkx.is_isomorphic`), each member of a class with two or
more members is predicted by the mean energy of the others. The mean
absolute error of that leave-one-out prediction estimates the error floor
of any topology-only model on such clusters. Prints and writes one JSON
object::

    .venv/bin/python -m benchmarks.topology_noise ../shared/data/hydronet/water_clusters_train.tfrecord.gz --out /tmp/topology_noise.json
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections import defaultdict
from pathlib import Path

import networkx as nx
import numpy as np

from engine.io import read_clusters


def directed_graph(cluster) -> nx.DiGraph:
    """Return the directed water graph of a cluster: one node per water, donor -> acceptor edges."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(cluster.n_waters))
    graph.add_edges_from(cluster.water_graph.hbonds)
    return graph


def isomorphism_classes(graphs: list[nx.DiGraph]) -> list[list[int]]:
    """Group graph indices into classes of isomorphic graphs."""
    candidates = defaultdict(list)
    with warnings.catch_warnings():
        # networkx 3.5 warns that its hashes differ from older versions; only equality within this run matters.
        warnings.simplefilter("ignore", UserWarning)
        for index, graph in enumerate(graphs):
            candidates[(graph.number_of_nodes(), nx.weisfeiler_lehman_graph_hash(graph, iterations=4))].append(index)
    classes = []
    for members in candidates.values():
        groups: list[list[int]] = []
        for index in members:
            for group in groups:
                if nx.is_isomorphic(graphs[group[0]], graphs[index]):
                    group.append(index)
                    break
            else:
                groups.append([index])
        classes.extend(groups)
    return classes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="cluster file with energies")
    parser.add_argument("--out", default="/tmp/topology_noise.json", help="JSON output file")
    args = parser.parse_args(argv)

    clusters = [cluster for cluster in read_clusters(args.data) if cluster.energy is not None]
    energies = np.array([cluster.energy for cluster in clusters])
    sizes = np.array([cluster.n_waters for cluster in clusters])
    classes = isomorphism_classes([directed_graph(cluster) for cluster in clusters])
    errors, members = [], []
    for group in classes:
        if len(group) < 2:
            continue
        values = energies[group]
        others_mean = (values.sum() - values) / (len(group) - 1)
        errors.extend(np.abs(values - others_mean).tolist())
        members.extend(group)
    errors_array, members_array = np.array(errors), np.array(members, dtype=int)
    result = {
        "data": args.data,
        "clusters": len(clusters),
        "isomorphism_classes": len(classes),
        "clusters_in_shared_classes": len(members),
        "leave_one_out_mae": float(errors_array.mean()) if len(errors) else None,
        "leave_one_out_mae_by_size": {
            str(size): {
                "clusters": int((sizes[members_array] == size).sum()),
                "mae": float(errors_array[sizes[members_array] == size].mean()),
            }
            for size in sorted(set(sizes[members_array].tolist()))
        },
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

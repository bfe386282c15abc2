"""Measure the component-table throughput against a plain networkx version.

Computes every reward component of every cluster of a file three ways in
one run, and checks that they agree:

* ``networkx``: per cluster, chordless cycles and all-pairs shortest paths
  with networkx, punishments with numpy (:func:`engine.descriptors.describe_networkx`
  and :func:`engine.reward.component_values`);
* ``kernels``: :func:`engine.components.compute_table` in one process;
* ``kernels_workers``: the same split over worker processes.

Reading the file is timed separately and is not part of the rates::

    .venv/bin/python -m benchmarks.component_throughput ../shared/data/hydronet/water_clusters_train.tfrecord.gz
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time

import numpy as np

from engine.components import compute_table, concatenate_tables
from engine.descriptors import describe_networkx
from engine.io import read_clusters
from engine.reward import COMPONENTS, DEFAULT_DEGREE_TARGET, component_values


def networkx_matrix(clusters) -> np.ndarray:
    rows = []
    for cluster in clusters:
        values, _ = component_values(
            cluster.water_graph, describe_networkx(cluster.water_graph), cluster.atomic_graph, DEFAULT_DEGREE_TARGET
        )
        rows.append([values[name] for name in COMPONENTS])
    return np.array(rows)


def _chunk_table(chunk):
    return compute_table(chunk)


def timed(function, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="worker processes (default: all cores)")
    args = parser.parse_args()

    read_seconds, clusters = timed(lambda: list(read_clusters(args.data)))
    compute_table(clusters[:10])  # compile the kernels before timing

    nx_seconds, reference = timed(networkx_matrix, clusters)
    single_seconds, table = timed(compute_table, clusters)

    chunks = [clusters[i::args.workers] for i in range(args.workers)]
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        pool.map(_chunk_table, [c[:10] for c in chunks])  # warm the workers
        workers_seconds, parts = timed(pool.map, _chunk_table, chunks)
    order = np.concatenate([np.arange(len(clusters))[i::args.workers] for i in range(args.workers)])
    parallel = np.empty_like(table.values)
    parallel[order] = concatenate_tables(parts).values

    matrix = table.component_matrix(DEFAULT_DEGREE_TARGET)
    parallel_matrix = parallel.copy()
    for name in ("degree_square_deviation", "degree_excess"):
        parallel_matrix[:, COMPONENTS.index(name)] = matrix[:, COMPONENTS.index(name)]
    integer_columns = [COMPONENTS.index(n) for n in ("rings_3", "rings_4", "rings_5", "rings_6", "diameter", "wiener_index", "n_hbonds")]

    n = len(clusters)
    print(
        json.dumps(
            {
                "data": args.data,
                "clusters": n,
                "read_seconds": round(read_seconds, 3),
                "networkx": {"seconds": round(nx_seconds, 3), "clusters_per_second": round(n / nx_seconds, 1)},
                "kernels": {"seconds": round(single_seconds, 3), "clusters_per_second": round(n / single_seconds, 1)},
                "kernels_workers": {
                    "workers": args.workers,
                    "seconds": round(workers_seconds, 3),
                    "clusters_per_second": round(n / workers_seconds, 1),
                },
                "speedup_single": round(nx_seconds / single_seconds, 1),
                "speedup_workers": round(nx_seconds / workers_seconds, 1),
                "integer_columns_identical": bool(np.array_equal(reference[:, integer_columns], matrix[:, integer_columns])),
                # Float columns differ only in summation order.
                "max_abs_difference": float(np.abs(reference - matrix).max()),
                "workers_identical": bool(np.array_equal(parallel_matrix, matrix)),
            }
        )
    )


if __name__ == "__main__":
    main()

"""Measure ``describe`` throughput (clusters per second) on real cluster files.

Runs the same work as ``python -m engine describe`` (read, descriptors,
reward, JSON line) in this process, with output discarded, and prints one
JSON object per file set::

    .venv/bin/python -m benchmarks.describe_throughput ../shared/data/hydronet/water_clusters_train.tfrecord.gz
    .venv/bin/python -m benchmarks.describe_throughput ../shared/data/minima/*.xyz

The search timing (5 to 10 waters, b = 3) is measured by
``python -m benchmarks.search_time``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from engine.descriptors import describe
from engine.io import read_clusters
from engine.reward import DEFAULT_WEIGHTS, score
from engine.summary import describe_record


def run(paths: list[str], repeats: int) -> dict:
    best = float("inf")
    count = 0
    for _ in range(repeats):
        started = time.perf_counter()
        count = 0
        for path in paths:
            for cluster in read_clusters(path):
                descriptors = describe(cluster.water_graph)
                reward = score(cluster.water_graph, DEFAULT_WEIGHTS, descriptors, cluster.atomic_graph)
                json.dumps(describe_record(descriptors, reward))
                count += 1
        best = min(best, time.perf_counter() - started)
    return {
        "files": len(paths),
        "clusters": count,
        "best_seconds": round(best, 3),
        "clusters_per_second": round(count / best, 1),
        "repeats": repeats,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--repeats", type=int, default=3, help="runs; the fastest is reported (default: 3)")
    args = parser.parse_args()
    print(json.dumps(run(args.files, args.repeats)))


if __name__ == "__main__":
    main()

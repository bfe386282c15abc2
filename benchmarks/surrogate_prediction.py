"""Measure how fast a trained surrogate predicts a whole dataset, as the Reward page does.

Times, in one process and on the same clusters, the two computations the
Reward page runs in the background for a dataset: the component table
(:func:`engine.components.compute_table_chunked`, the baseline) and the
surrogate's predictions (:func:`engine.components.predict_clusters`).
Reading the file is timed apart. Each is the best of ``--repeats`` runs.
Prints and writes one JSON object::

    .venv/bin/python -m benchmarks.surrogate_prediction ../shared/data/hydronet/water_clusters_train.tfrecord.gz \\
        --model MODEL_DIR --out /tmp/surrogate_prediction.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from engine.components import compute_table_chunked, predict_clusters
from engine.io import read_clusters
from engine.surrogate.predict import resolve_model


def best_seconds(work, repeats: int) -> float:
    """Return the shortest wall time of ``repeats`` calls of ``work``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="cluster file")
    parser.add_argument("--model", required=True, help="folder of a trained surrogate")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each computation; the fastest is kept (default: 3)")
    parser.add_argument("--out", default="/tmp/surrogate_prediction.json", help="JSON output file")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    clusters = list(read_clusters(args.data))
    read_seconds = time.perf_counter() - started
    # Loading the model once first keeps its import and file reading out of the timed runs.
    resolve_model(args.model)
    table_seconds = best_seconds(lambda: compute_table_chunked(clusters), args.repeats)
    predict_seconds = best_seconds(lambda: predict_clusters(clusters, args.model), args.repeats)
    result = {
        "data": args.data,
        "model": args.model,
        "clusters": len(clusters),
        "read_seconds": read_seconds,
        "table_seconds": table_seconds,
        "predict_seconds": predict_seconds,
        "predicted_clusters_per_second": len(clusters) / predict_seconds,
        "predict_to_table_ratio": predict_seconds / table_seconds,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

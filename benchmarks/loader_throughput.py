"""Measure the surrogate's data loader: batches per second, serial against worker processes and prefetching.

For each batch size, one pass over the training graphs of the real data is
timed (after an untimed pass that starts the workers) in these modes:

* ``serial``: batches cut in the consuming process (``workers=0``);
* ``workers``: 2 worker processes, each keeping 1 batch ready (``prefetch=1``);
* ``workers_prefetch``: 2 worker processes, each keeping 8 batches ready;
* ``dgl_batch_serial``: for reference, ``dgl.batch`` over DGL graphs built
  beforehand, one per cluster, in the consuming process.

The loop only consumes batches, so the rates are the loader's capacity. The
training-step rate at the recommended batch size is measured in the same
run for comparison. Writes JSON and a plotly HTML plot::

    .venv/bin/python -m benchmarks.loader_throughput ../shared/data/hydronet/water_clusters_train.tfrecord.gz --out /tmp/loader_throughput.json --plot /tmp/loader_throughput.html
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import dgl
import numpy as np
import plotly.graph_objects as go
import torch

from benchmarks.surrogate_throughput import build_model, step_function, time_steps
from engine.surrogate.config import SurrogateConfig
from engine.surrogate.data import ShardedBatchSampler, load_dataset, make_loader, make_split

BATCH_SIZES = (64, 128, 256, 512, 1024, 2048)
#: Mode name -> (worker processes, batches prefetched per worker).
MODES = {"serial": (0, 2), "workers": (2, 1), "workers_prefetch": (2, 8)}


def time_loader(store, indices: np.ndarray, batch_size: int, workers: int, prefetch: int) -> dict:
    sampler = ShardedBatchSampler(indices, batch_size, shuffle=True, seed=0)
    loader = make_loader(store, sampler, workers, prefetch)
    for _ in loader:  # starts the persistent workers
        pass
    sampler.set_epoch(1)
    started = time.perf_counter()
    batches = sum(1 for _ in loader)
    seconds = time.perf_counter() - started
    return {"batches": batches, "batches_per_second": batches / seconds, "graphs_per_second": len(indices) / seconds}


def time_dgl_batch(store, indices: np.ndarray, batch_size: int, graphs: list) -> dict:
    order = np.random.default_rng(1).permutation(indices)
    started = time.perf_counter()
    batches = 0
    for start in range(0, len(order), batch_size):
        dgl.batch([graphs[i] for i in order[start : start + batch_size]])
        batches += 1
    seconds = time.perf_counter() - started
    return {"batches": batches, "batches_per_second": batches / seconds, "graphs_per_second": len(order) / seconds}


def plot(rows: list[dict], step_rate: dict, path: str) -> None:
    figure = go.Figure()
    for mode in (*MODES, "dgl_batch_serial"):
        figure.add_trace(go.Scatter(x=[r["batch_size"] for r in rows], y=[r[mode]["batches_per_second"] for r in rows],
                                    mode="lines+markers", name=mode))
    figure.add_trace(go.Scatter(x=[step_rate["batch_size"]], y=[step_rate["steps_per_second"]], mode="markers",
                                marker={"symbol": "x", "size": 12}, name="training steps (recommended batch)"))
    figure.update_layout(title="Surrogate data loader throughput", xaxis={"title": "batch size", "type": "log"},
                         yaxis={"title": "batches per second", "type": "log"})
    figure.write_html(path, include_plotlyjs="cdn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="cluster file with energies")
    parser.add_argument("--cache-dir", default="/tmp/surrogate-cache", help="converted-data cache (default: /tmp/surrogate-cache)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the consuming process")
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--plot", default="/tmp/loader_throughput.html", help="plotly HTML plot (default: /tmp/loader_throughput.html)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    config = SurrogateConfig()
    store = load_dataset(args.data, args.cache_dir).store
    train_indices = make_split(store, config.data.split)["train"]
    graphs = [store.graph(i) for i in range(len(store))]

    rows = []
    for batch_size in BATCH_SIZES:
        row = {"batch_size": batch_size}
        for mode, (workers, prefetch) in MODES.items():
            row[mode] = time_loader(store, train_indices, batch_size, workers, prefetch)
        row["dgl_batch_serial"] = time_dgl_batch(store, train_indices, batch_size, graphs)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)

    recommended = config.data.batch_size
    model = build_model(store, config.model.features, config.model.steps)
    batch = store.batch(train_indices[:recommended])
    timing = time_steps(step_function(model, "dgl", batch), 2048, recommended)
    step_rate = {"batch_size": recommended, "steps_per_second": 1.0 / timing["seconds_per_step"]}
    loader_at_recommended = {mode: next(r[mode]["batches_per_second"] for r in rows if r["batch_size"] == recommended)
                             for mode in MODES}
    result = {
        "data": str(args.data),
        "n_train_graphs": int(len(train_indices)),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": os.getloadavg(),
        "loader": rows,
        "training_step": step_rate,
        "loader_over_training_step": {mode: rate / step_rate["steps_per_second"] for mode, rate in loader_at_recommended.items()},
        "plot": args.plot,
    }
    plot(rows, step_rate, args.plot)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

"""Measure surrogate training throughput: DGL message passing against plain PyTorch indexing.

Times full training steps (forward, loss, backward, AdamW step) on batches of
the real data for several batch sizes, with the same
:class:`~engine.surrogate.model.EnergyModel` run two ways in one process:

* ``dgl``: DGL built-in message functions (``u_add_v``, ``u_mul_e`` + ``sum``);
* ``plain``: :class:`~engine.surrogate.plain.IndexOps`, gathers with indexing
  and scatter-adds with ``index_add_``.

The two are timed in alternating rounds, and each one's median rate is kept
(:func:`time_interleaved`). Batches are cut before timing, so loading is not part of the rates (see
``benchmarks/loader_throughput.py``). The peak resident memory of training
at the largest batch size is measured in a fresh subprocess per backend
(:func:`peak_rss_mib`). Prints one JSON object::

    .venv/bin/python -m benchmarks.surrogate_throughput ../shared/data/hydronet/water_clusters_train.tfrecord.gz --out /tmp/surrogate_throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from engine.surrogate.data import load_dataset
from engine.surrogate.model import EnergyModel, fit_type_means
from engine.surrogate.plain import IndexOps

BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024)
BACKENDS = ("dgl", "plain")


def build_model(store, features: int, steps: int) -> EnergyModel:
    torch.manual_seed(0)
    model = EnergyModel(features, steps)
    counts = torch.from_numpy(store.type_counts(np.arange(len(store))))
    means, scale = fit_type_means(counts, torch.from_numpy(store.energies))
    model.initialise_output(means, scale)
    return model.train()


def step_function(model: EnergyModel, backend: str, batch):
    """Return a closure running one training step on ``batch`` with the given graph backend."""
    graph = batch.graph
    target = batch.energies.float()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ops = IndexOps.from_graph(graph) if backend == "plain" else None

    def step() -> None:
        if ops is None:
            predicted = model(graph)
        else:
            predicted = model.energies(ops, graph.ndata["type"], graph.edata["type"])
        loss = (((predicted - target) / model.energy_scale) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def time_steps(step, min_graphs: int, batch_size: int, warmup: int = 2) -> dict:
    """Time enough steps to cover ``min_graphs`` graphs (at least 3), after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    repeats = max(3, int(np.ceil(min_graphs / batch_size)))
    started = time.perf_counter()
    for _ in range(repeats):
        step()
    seconds = time.perf_counter() - started
    return {"steps": repeats, "seconds_per_step": seconds / repeats, "graphs_per_second": repeats * batch_size / seconds}


def time_interleaved(steps: dict, min_graphs: int, batch_size: int, rounds: int) -> dict:
    """Time the backends in alternating rounds and keep each one's median rate.

    Other processes on the machine slow some rounds down. Alternating the
    backends exposes both to the same load, and the median drops the rounds
    that a burst of load hit. Each round is timed in wall time and in the
    process's CPU time (``time.process_time``, summed over its threads). With
    one thread the CPU-time rate hardly depends on the load of other processes.
    """
    for step in steps.values():
        step()
        step()
    per_round = max(2, int(np.ceil(min_graphs / batch_size / rounds)))
    wall = {name: [] for name in steps}
    cpu = {name: [] for name in steps}
    for number in range(rounds):
        order = list(steps) if number % 2 == 0 else list(reversed(steps))
        for name in order:
            wall_started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(per_round):
                steps[name]()
            wall[name].append(per_round * batch_size / (time.perf_counter() - wall_started))
            cpu[name].append(per_round * batch_size / (time.process_time() - cpu_started))
    return {
        name: {
            "rounds": rounds,
            "steps_per_round": per_round,
            "graphs_per_second": float(np.median(wall[name])),
            "graphs_per_cpu_second": float(np.median(cpu[name])),
            "graphs_per_second_per_round": [round(v, 1) for v in wall[name]],
        }
        for name in steps
    }


def measure_throughput(store, features: int, steps: int, min_graphs: int, rounds: int) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for batch_size in BATCH_SIZES:
        batch = store.batch(np.sort(rng.choice(len(store), batch_size, replace=False)))
        row = {"batch_size": batch_size, "atoms": int(batch.graph.num_nodes()), "directed_bonds": int(batch.graph.num_edges())}
        closures = {backend: step_function(build_model(store, features, steps), backend, batch) for backend in BACKENDS}
        row.update(time_interleaved(closures, min_graphs, batch_size, rounds))
        row["dgl_speedup"] = row["dgl"]["graphs_per_second"] / row["plain"]["graphs_per_second"]
        row["dgl_speedup_cpu_time"] = row["dgl"]["graphs_per_cpu_second"] / row["plain"]["graphs_per_cpu_second"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    return rows


def peak_rss_mib() -> float:
    """Return the peak resident set size of this process in MiB.

    Reads ``VmHWM`` from ``/proc/self/status`` where it exists (Linux),
    because Linux keeps ``ru_maxrss`` across ``execve``, so a child started by
    a large parent would report the parent's peak. Elsewhere it returns
    ``ru_maxrss`` (KiB on Linux).
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory_child(data: str, cache_dir: str, backend: str, batch_size: int, features: int, steps: int) -> dict:
    """Train a few steps at ``batch_size`` and report peak resident memory in MiB (run in a fresh process)."""
    store = load_dataset(data, cache_dir).store
    after_load = peak_rss_mib()
    batch = store.batch(np.arange(batch_size))
    step = step_function(build_model(store, features, steps), backend, batch)
    for _ in range(5):
        step()
    return {"backend": backend, "batch_size": batch_size, "peak_rss_mib": peak_rss_mib(),
            "peak_rss_after_loading_data_mib": after_load}


def measure_peak_memory(args) -> list[dict]:
    results = []
    for backend in BACKENDS:
        command = [sys.executable, "-m", "benchmarks.surrogate_throughput", args.data, "--cache-dir", args.cache_dir,
                   "--memory-child", backend, "--features", str(args.features), "--steps", str(args.steps),
                   "--threads", str(torch.get_num_threads())]
        output = subprocess.run(command, capture_output=True, text=True, check=True, env={**os.environ},
                                cwd=Path(__file__).resolve().parents[1]).stdout
        results.append(json.loads(output))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="cluster file with energies")
    parser.add_argument("--cache-dir", default="/tmp/surrogate-cache", help="converted-data cache (default: /tmp/surrogate-cache)")
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8, help="message-passing steps")
    parser.add_argument("--min-graphs", type=int, default=4096, help="graphs per backend and batch size, over all rounds (default: 4096)")
    parser.add_argument("--rounds", type=int, default=6, help="alternating timing rounds per batch size (default: 6)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--memory-child", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.memory_child:
        print(json.dumps(peak_memory_child(args.data, args.cache_dir, args.memory_child, BATCH_SIZES[-1], args.features, args.steps)))
        return

    store = load_dataset(args.data, args.cache_dir).store
    result = {
        "data": str(args.data),
        "n_graphs": len(store),
        "model": {"features": args.features, "steps": args.steps},
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "throughput": measure_throughput(store, args.features, args.steps, args.min_graphs, args.rounds),
        "peak_memory": measure_peak_memory(args),
        "load_average_at_end": os.getloadavg(),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

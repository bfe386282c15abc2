"""Measure job submit-to-running latency (local and Slurm) and local concurrent-job throughput.

Each job is a short search (cyclic pentamer to 7 waters, b = 2). Latency is
the time from calling ``JobManager.submit`` until ``status.json`` records
``running``, polled every 5 ms. The concurrency runs submit N jobs at once
with the local limit raised to N and report the makespan and throughput.
The Slurm part starts the one-node test cluster of ``tests/slurm_cluster.py``
and so needs root and the slurm-wlm and munge packages; it is skipped
otherwise. Prints one JSON object::

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python -m benchmarks.job_latency'
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from jobs.backends.local import LocalBackend
from jobs.backends.slurm import SlurmBackend
from jobs.manager import JobManager
from jobs.profiles import load_profile
from jobs.status import JobState, parse_time
from jobs.store import RunStore

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SEARCH = {"kind": "search", "params": {"start": "pentamer", "target_size": 7, "branching": 2}}
POLL_S = 0.005
TIMEOUT_S = 300.0


def submit_to_running_s(manager: JobManager, backend: str) -> tuple[float, float, str]:
    """Submit one search; return seconds until running, seconds until final, and the final state."""
    started = time.perf_counter()
    job_id = manager.submit(SEARCH, backend)
    folder = manager.store.folder(job_id)
    while folder.read_status().state is JobState.QUEUED:
        if time.perf_counter() - started > TIMEOUT_S:
            raise TimeoutError(f"job {job_id} still queued after {TIMEOUT_S} s")
        time.sleep(POLL_S)
    running_s = time.perf_counter() - started
    status = manager.wait(job_id, TIMEOUT_S, poll_s=0.05)
    return running_s, time.perf_counter() - started, status.state.value


def summarize(values: list[float]) -> dict:
    return {"median_s": round(statistics.median(values), 3), "min_s": round(min(values), 3),
            "max_s": round(max(values), 3), "samples": len(values)}


def measure_latency(manager: JobManager, backend: str, repeats: int) -> dict:
    running, total, states = [], [], []
    for _ in range(repeats):
        running_s, total_s, state = submit_to_running_s(manager, backend)
        running.append(running_s)
        total.append(total_s)
        states.append(state)
    return {"submit_to_running": summarize(running), "submit_to_finished": summarize(total), "states": states}


def measure_concurrency(root: Path, n_jobs: int) -> dict:
    store = RunStore(root / f"concurrent-{n_jobs}")
    manager = JobManager(store, {"local": LocalBackend(store, max_running=n_jobs)})
    started = time.perf_counter()
    job_ids = [manager.submit(SEARCH, "local") for _ in range(n_jobs)]
    statuses = [manager.wait(job_id, TIMEOUT_S, poll_s=0.05) for job_id in job_ids]
    makespan_s = time.perf_counter() - started
    durations = []
    for status in statuses:
        if status.started_at and status.finished_at:
            durations.append((parse_time(status.finished_at) - parse_time(status.started_at)).total_seconds())
    return {
        "jobs": n_jobs, "limit": n_jobs, "succeeded": sum(status.state is JobState.SUCCEEDED for status in statuses),
        "makespan_s": round(makespan_s, 2), "throughput_jobs_per_min": round(60.0 * n_jobs / makespan_s, 1),
        "mean_job_runtime_s": round(statistics.mean(durations), 2) if durations else None,
    }


def measure_slurm(root: Path, repeats: int) -> dict:
    sys.path.insert(0, str(PROJECT_ROOT / "tests"))
    import slurm_cluster

    reason = slurm_cluster.unavailable_reason()
    if reason is not None:
        return {"skipped": reason}
    state_dir = Path(tempfile.mkdtemp(prefix="slurm-bench-"))
    cluster = slurm_cluster.SlurmTestCluster(state_dir)
    started = time.perf_counter()
    try:
        cluster.start()
        start_s = time.perf_counter() - started
        os.environ.update(cluster.environment)
        store = RunStore(root / "slurm")
        profile = load_profile("default")
        manager = JobManager(store, {"slurm": SlurmBackend(store, profile)}, profile)
        result = measure_latency(manager, "slurm", repeats)
        result["cluster_start_s"] = round(start_s, 2)
        return result
    finally:
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="sequential jobs per latency measurement (default: 5)")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 2, 4, 8],
                        help="numbers of simultaneous local jobs (default: 1 2 4 8)")
    parser.add_argument("--no-slurm", action="store_true", help="skip the Slurm measurement")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="job-latency-") as temporary:
        root = Path(temporary)
        store = RunStore(root / "local")
        local = JobManager(store, {"local": LocalBackend(store, max_running=1)})
        report = {
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                        "load_average_1min": round(os.getloadavg()[0], 2)},
            "job": SEARCH,
            "local": measure_latency(local, "local", args.repeats),
            "local_concurrency": [measure_concurrency(root, n_jobs) for n_jobs in args.concurrency],
            "slurm": {"skipped": "--no-slurm"} if args.no_slurm else measure_slurm(root, args.repeats),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

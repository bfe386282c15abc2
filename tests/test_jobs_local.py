"""Real jobs through the local backend: success, failure, cancel, lost workers, restarts, limits, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.backends.local import LocalBackend
from jobs.errors import JobSpecError
from jobs.manager import JobManager
from jobs.processes import group_members, process_alive
from jobs.status import JobState
from jobs.store import RunStore
from jobs_helpers import (LONG_SEARCH, PROJECT_ROOT, SHORT_SEARCH, injection_files, minima_dataset,
                          require_engine_command, require_tiny_config, wait_until)

#: Seconds a short job may take, engine start-up included, on a loaded 2-core machine.
JOB_TIMEOUT_S = 90.0


def make_manager(root: Path, max_running: int = 2, grace_s: float = 5.0) -> JobManager:
    store = RunStore(root)
    return JobManager(store, {"local": LocalBackend(store, max_running=max_running)}, grace_s=grace_s)


@pytest.fixture
def manager(tmp_path: Path) -> JobManager:
    return make_manager(tmp_path / "runs")


def search(**params) -> dict:
    return {"kind": "search", "params": {**SHORT_SEARCH, **params}}


def wait_running(manager: JobManager, job_id: str):
    return manager.wait(job_id, JOB_TIMEOUT_S, lambda status: status.state is not JobState.QUEUED)


def engine_processes(manager: JobManager, job_id: str) -> list[int]:
    status = manager.store.folder(job_id).read_status()
    return group_members(status.pgid, job_id)


def test_search_job_succeeds(manager):
    job_id = manager.submit(search())
    status = manager.wait(job_id, JOB_TIMEOUT_S)
    folder = manager.store.folder(job_id)

    assert status.state is JobState.SUCCEEDED, status.log_tail
    assert status.exit_code == 0
    assert status.started_at and status.finished_at
    pathways = json.loads((folder.artifacts_dir / "pathways.json").read_text())
    assert pathways["format"] == "water-pathways"
    assert len(pathways["pathways"]) > 0
    messages = [entry["message"] for entry in folder.read_progress()]
    assert messages[0] == "started"
    assert messages[-1] == "finished"
    assert "search stopped by max_results" in messages
    # An entry whenever pathways were found (one expansion may find several), so the Jobs page
    # shows the share of the pathway bound reached.
    counts = [entry["metrics"]["pathways"] for entry in folder.read_progress() if entry["message"].startswith("pathway ")]
    assert counts == sorted(set(counts))
    assert counts[-1] == 10
    assert "wrote 10 pathways" in folder.log_path.read_text()
    assert json.loads(folder.spec_path.read_text())["params"]["target_size"] == 7


def test_weights_file_copied_into_run_folder(manager, tmp_path):
    weights = {"weights": {"degree": 1.0, "rings_4": 0.5}, "degree_target": 4.0}
    original = tmp_path / "my-weights.json"
    original.write_text(json.dumps(weights))
    job_id = manager.submit(search(weights=str(original)))
    assert manager.wait(job_id, JOB_TIMEOUT_S).state is JobState.SUCCEEDED
    folder = manager.store.folder(job_id)

    copy = folder.path / "weights.json"
    assert json.loads(copy.read_text()) == weights
    assert json.loads(folder.spec_path.read_text())["params"]["weights"] == str(copy)
    pathways = json.loads((folder.artifacts_dir / "pathways.json").read_text())
    assert pathways["parameters"]["weights"]["weights"] == weights["weights"]

    # The job keeps its weights: its spec can be submitted again after the original file is gone.
    original.unlink()
    again = manager.submit(json.loads(folder.spec_path.read_text()))
    assert manager.wait(again, JOB_TIMEOUT_S).state is JobState.SUCCEEDED
    assert json.loads((manager.store.folder(again).path / "weights.json").read_text()) == weights


def test_unreadable_weights_file_rejected(manager, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_bytes(b"\xff\xfe not text")
    with pytest.raises(JobSpecError, match=r"params.weights: cannot read .*broken.json"):
        manager.submit(search(weights=str(broken)))
    # Nothing is written under the runs root for a rejected submission.
    assert list(manager.store.root.iterdir()) == []


def test_runtime_failure_records_exit_code_and_log(manager, tmp_path):
    not_a_cluster = tmp_path / "notes.xyz"
    not_a_cluster.write_text("these are notes, not coordinates\n")
    job_id = manager.submit(search(start=str(not_a_cluster)))
    status = manager.wait(job_id, JOB_TIMEOUT_S)

    assert status.state is JobState.FAILED
    assert status.exit_code == 2
    assert status.reason == "engine command exited with status 2"
    assert any("error:" in line and "expected an atom count" in line for line in status.log_tail)


def test_cancel_stops_the_process_group(manager):
    job_id = manager.submit(search(**LONG_SEARCH))
    wait_running(manager, job_id)
    wait_until(lambda: len(engine_processes(manager, job_id)) >= 2, 30, what="the engine process to start")

    started = time.monotonic()
    status = manager.cancel(job_id)
    elapsed_s = time.monotonic() - started

    assert status.state is JobState.CANCELLED
    assert status.cancel_requested_at is not None
    assert elapsed_s < manager.grace_s
    assert engine_processes(manager, job_id) == []
    assert manager.status(job_id).state is JobState.CANCELLED


def test_killed_worker_shows_lost_with_log(manager):
    job_id = manager.submit(search(**LONG_SEARCH))
    wait_running(manager, job_id)
    wait_until(lambda: "running" in manager.store.folder(job_id).log_path.read_text(), 30, what="log output")
    worker_pid = manager.store.folder(job_id).read_status().pid

    os.kill(worker_pid, signal.SIGKILL)
    wait_until(lambda: not process_alive(worker_pid), 10, what="the worker to exit")
    status = manager.status(job_id)

    assert status.state is JobState.LOST
    assert f"worker process {worker_pid} exited" in status.reason
    assert any("running" in line for line in status.log_tail)
    # The engine command gets SIGTERM when its worker dies.
    wait_until(lambda: engine_processes(manager, job_id) == [], 15, what="the engine process to end")


def test_restarted_manager_reads_true_state(tmp_path):
    first = make_manager(tmp_path / "runs")
    job_id = first.submit(search())
    wait_running(first, job_id)

    restarted = make_manager(tmp_path / "runs")
    assert restarted.status(job_id).state in (JobState.RUNNING, JobState.SUCCEEDED)
    assert restarted.wait(job_id, JOB_TIMEOUT_S).state is JobState.SUCCEEDED
    assert [status.job_id for status in make_manager(tmp_path / "runs").list()] == [job_id]


def test_concurrency_limit_queues_extra_jobs(tmp_path):
    manager = make_manager(tmp_path / "runs", max_running=1)
    long_job = manager.submit(search(**LONG_SEARCH))
    try:
        wait_running(manager, long_job)
        waiting = manager.submit(search())
        queued_then_cancelled = manager.submit(search())
        time.sleep(1.0)

        assert manager.status(waiting).state is JobState.QUEUED
        queued = manager.status(queued_then_cancelled)
        assert queued.state is JobState.QUEUED
        assert process_alive(queued.pid, queued.pid_start_ticks)

        cancelled = manager.cancel(queued_then_cancelled)
        assert cancelled.state is JobState.CANCELLED
        assert not process_alive(queued.pid, queued.pid_start_ticks)
    finally:
        # A failed check must not leave the long search running.
        manager.cancel(long_job)
    assert manager.wait(waiting, JOB_TIMEOUT_S).state is JobState.SUCCEEDED
    first_running = manager.store.folder(waiting).read_status().started_at
    assert first_running > manager.store.folder(long_job).read_status().finished_at


def test_array_search_runs_every_task(manager, tmp_path):
    job_id = manager.submit({"kind": "search", "params": {
        "target_size": 6, "branching": 2, "starts": [{"start": "pentamer"}, {"start": "pentamer"}]}})
    status = manager.wait(job_id, JOB_TIMEOUT_S)
    folder = manager.store.folder(job_id)

    assert status.state is JobState.SUCCEEDED, status.log_tail
    assert status.array_size == 2
    assert sorted(path.name for path in folder.artifacts_dir.iterdir()) == ["pathways-0.json", "pathways-1.json"]
    assert sorted(folder.read_task_results()) == [0, 1]


def test_injection_paths_never_run_by_a_shell(manager, tmp_path):
    pairs = injection_files(tmp_path)
    jobs = [(manager.submit(search(start=str(path))), path, marker) for path, marker in pairs]
    for job_id, path, marker in jobs:
        status = manager.wait(job_id, JOB_TIMEOUT_S)
        assert status.state is JobState.FAILED
        assert status.exit_code == 2
        assert str(path) in manager.store.folder(job_id).log_path.read_text()
        assert not marker.exists(), f"{marker} was created"


def run_cli(*args: str, runs_dir: Path, timeout_s: float = JOB_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs", *args, "--runs-dir", str(runs_dir)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, check=False, timeout=timeout_s)


def test_cli_round_trip(tmp_path):
    runs = tmp_path / "runs"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(search()))

    submitted = run_cli("submit", str(spec), "--backend", "local", runs_dir=runs)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()

    listing = run_cli("list", runs_dir=runs)
    assert job_id in listing.stdout
    followed = run_cli("logs", job_id, "--follow", runs_dir=runs)
    assert followed.returncode == 0
    assert "wrote 10 pathways" in followed.stdout
    status = json.loads(run_cli("status", job_id, runs_dir=runs).stdout)
    assert status["state"] == "succeeded"
    cancelled = json.loads(run_cli("cancel", job_id, runs_dir=runs).stdout)
    assert cancelled["state"] == "succeeded"
    assert "succeeded" in run_cli("list", runs_dir=runs).stdout


def test_cli_cancel_running_job(tmp_path):
    runs = tmp_path / "runs"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(search(**LONG_SEARCH)))
    job_id = run_cli("submit", str(spec), runs_dir=runs).stdout.strip()
    manager = make_manager(runs)
    wait_running(manager, job_id)

    result = run_cli("cancel", job_id, "--grace-s", "3", runs_dir=runs)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["state"] == "cancelled"


def test_convert_train_and_resume(manager, tmp_path):
    require_engine_command("train")
    require_engine_command("convert")
    config = require_tiny_config()
    data = minima_dataset(tmp_path / "minima.xyz")

    converted = manager.submit({"kind": "convert-data", "params": {"data": str(data)}})
    status = manager.wait(converted, 120)
    assert status.state is JobState.SUCCEEDED, status.log_tail
    assert any((manager.store.folder(converted).artifacts_dir / "cache").iterdir())

    first = manager.submit({"kind": "train-surrogate", "params": {
        "data": str(data), "config": str(config), "cache_from": converted, "max_epochs": 1, "threads": 1}})
    status = manager.wait(first, 180)
    assert status.state is JobState.SUCCEEDED, status.log_tail
    model_dir = manager.store.folder(first).artifacts_dir / "model"
    assert (model_dir / "checkpoint.pt").is_file()
    assert not (model_dir / "cache").exists()
    epochs = [entry for entry in manager.store.folder(first).read_progress() if entry["message"].startswith("epoch")]
    assert epochs[0]["message"] == "epoch 1/3"
    assert "train_loss" in epochs[0]["metrics"]

    resumed = manager.submit({"kind": "train-surrogate", "params": {
        "data": str(data), "config": str(config), "resume_from": first, "threads": 1}})
    status = manager.wait(resumed, 180)
    assert status.state is JobState.SUCCEEDED, status.log_tail
    log = manager.store.folder(resumed).log_path.read_text()
    assert '"epochs_completed": 3' in log
    resumed_epochs = [entry["message"] for entry in manager.store.folder(resumed).read_progress()
                      if entry["message"].startswith("epoch")]
    assert resumed_epochs == ["epoch 2/3", "epoch 3/3"]


def test_train_policy_job(manager):
    require_engine_command("train-policy")
    job_id = manager.submit({"kind": "train-policy", "params": {"target_size": 6, "episodes": 2, "workers": 1}})
    status = manager.wait(job_id, 180)

    assert status.state is JobState.SUCCEEDED, status.log_tail
    assert (manager.store.folder(job_id).artifacts_dir / "policy" / "policy.pt").is_file()

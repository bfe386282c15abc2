"""Real jobs through the Slurm backend on a one-node test cluster (``tests/slurm_cluster.py``).

The cluster starts once per test session. It needs root and the Debian
packages slurm-wlm and munge, which the fixture installs when they are
missing and it runs as root. Without them these tests skip with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

import slurm_cluster
from jobs.backends.slurm import SlurmBackend
from jobs.errors import SchedulerError
from jobs.kinds import CommandContext, JobKind, register_kind, unregister_kind
from jobs.manager import JobManager
from jobs.processes import group_members, process_alive
from jobs.profiles import load_profile
from jobs.status import JobState, JobStatus
from jobs.store import RunStore, new_job_id
from jobs_helpers import (LONG_SEARCH, PROJECT_ROOT, SHORT_SEARCH, injection_files, minima_dataset,
                          require_engine_command, require_tiny_config, wait_until)

pytestmark = pytest.mark.slurm

JOB_TIMEOUT_S = 120.0


@pytest.fixture(scope="session")
def cluster():
    """A running test cluster; ``SLURM_CONF`` points at it for the whole session."""
    reason = slurm_cluster.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    state_dir = Path(tempfile.mkdtemp(prefix="slurm-test-"))
    test_cluster = slurm_cluster.SlurmTestCluster(state_dir)
    previous = os.environ.get("SLURM_CONF")
    try:
        test_cluster.start()
        os.environ.update(test_cluster.environment)
        yield test_cluster
    finally:
        test_cluster.stop()
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        shutil.rmtree(state_dir, ignore_errors=True)


def make_manager(cluster, root: Path) -> JobManager:
    store = RunStore(root)
    profile = load_profile("default").model_copy(update={"jobcomp_file": str(cluster.jobcomp_path)})
    return JobManager(store, {"slurm": SlurmBackend(store, profile)}, profile, grace_s=15.0)


@pytest.fixture
def manager(cluster, tmp_path) -> JobManager:
    return make_manager(cluster, tmp_path / "runs")


def search(**params) -> dict:
    return {"kind": "search", "params": {**SHORT_SEARCH, **params}}


def scontrol_field(cluster, scheduler_id: str, field: str) -> str:
    output = cluster.run_client(["scontrol", "--oneliner", "show", "job", scheduler_id]).stdout
    return dict(item.split("=", 1) for item in output.split() if "=" in item)[field]


def test_search_job_succeeds(manager, cluster):
    job_id = manager.submit(search(), "slurm")
    status = manager.wait(job_id, JOB_TIMEOUT_S)
    folder = manager.store.folder(job_id)

    assert status.state is JobState.SUCCEEDED, status.log_tail
    assert status.exit_code == 0
    assert status.scheduler_id.isdigit()
    wait_until(lambda: scontrol_field(cluster, status.scheduler_id, "JobState") == "COMPLETED", 15,
               what="Slurm to record the job as completed")
    assert len(json.loads((folder.artifacts_dir / "pathways.json").read_text())["pathways"]) > 0
    assert "#SBATCH --partition=debug" in folder.script_path.read_text()
    messages = [entry["message"] for entry in folder.read_progress()]
    assert messages[0] == "started"
    assert messages[-1] == "finished"


def test_runtime_failure_records_exit_code(manager, cluster, tmp_path):
    not_a_cluster = tmp_path / "notes.xyz"
    not_a_cluster.write_text("these are notes, not coordinates\n")
    job_id = manager.submit(search(start=str(not_a_cluster)), "slurm")
    status = manager.wait(job_id, JOB_TIMEOUT_S)

    assert status.state is JobState.FAILED
    assert status.exit_code == 2
    assert any("expected an atom count" in line for line in status.log_tail)
    wait_until(lambda: scontrol_field(cluster, status.scheduler_id, "JobState") == "FAILED", 10,
               what="Slurm to record the failure")
    assert scontrol_field(cluster, status.scheduler_id, "ExitCode") == "2:0"


def test_cancel_ends_the_job_processes(manager, cluster):
    job_id = manager.submit(search(**LONG_SEARCH), "slurm")
    manager.wait(job_id, JOB_TIMEOUT_S, lambda status: status.pid is not None)
    worker = manager.store.folder(job_id).read_status()
    wait_until(lambda: group_members(worker.pgid, job_id), 30, what="the engine process to start")

    status = manager.cancel(job_id)
    status = manager.wait(job_id, 30)

    assert status.state is JobState.CANCELLED
    wait_until(lambda: scontrol_field(cluster, status.scheduler_id, "JobState") == "CANCELLED", 15,
               what="Slurm to record the job as cancelled")
    wait_until(lambda: not process_alive(worker.pid, worker.pid_start_ticks), 15, what="the worker to exit")
    assert group_members(worker.pgid, job_id) == []


class RankReportParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


RANK_REPORT = ("import os; print('rank', os.environ['SLURM_PROCID'], 'of', os.environ['SLURM_NTASKS'], "
               "'master', os.environ['MASTER_ADDR'], os.environ['MASTER_PORT'], flush=True)")


def build_rank_report(params: RankReportParams, context: CommandContext) -> list[list[str]]:
    return [[context.python, "-c", RANK_REPORT]]


@pytest.fixture
def rank_report_kind():
    """A test-only kind that prints each task's Slurm rank and rendezvous address."""
    kind = register_kind(JobKind("rank-report", RankReportParams, build_rank_report,
                                 "print the Slurm rank of each task", multi_rank=True), replace=True)
    yield kind
    unregister_kind(kind.name)


def test_two_tasks_see_two_ranks(manager, rank_report_kind):
    job_id = manager.submit({"kind": "rank-report", "params": {}, "resources": {"tasks_per_node": 2}}, "slurm")
    status = manager.wait(job_id, JOB_TIMEOUT_S)
    log = manager.store.folder(job_id).log_path.read_text()

    assert status.state is JobState.SUCCEEDED, status.log_tail
    port = 29500 + int(status.scheduler_id) % 1000
    assert f"rank 0 of 2 master localhost {port}" in log
    assert f"rank 1 of 2 master localhost {port}" in log
    assert "srun --kill-on-bad-exit=1 --nodes=1 --ntasks=2" in manager.store.folder(job_id).script_path.read_text()


def test_two_rank_training(manager, tmp_path):
    require_engine_command("train")
    config = require_tiny_config()
    data = minima_dataset(tmp_path / "minima.xyz")
    job_id = manager.submit({"kind": "train-surrogate", "params": {
        "data": str(data), "config": str(config), "threads": 1}, "resources": {"tasks_per_node": 2}}, "slurm")
    status = manager.wait(job_id, 240)
    folder = manager.store.folder(job_id)

    assert status.state is JobState.SUCCEEDED, status.log_tail
    assert "--distributed" in folder.script_path.read_text()
    assert (folder.artifacts_dir / "model" / "checkpoint.pt").is_file()
    assert '"epochs_completed": 3' in folder.log_path.read_text()


def test_train_single_rank(manager, tmp_path):
    require_engine_command("train")
    config = require_tiny_config()
    data = minima_dataset(tmp_path / "minima.xyz")
    job_id = manager.submit({"kind": "train-surrogate", "params": {
        "data": str(data), "config": str(config), "max_epochs": 1, "threads": 1}}, "slurm")
    status = manager.wait(job_id, 180)
    assert status.state is JobState.SUCCEEDED, status.log_tail
    epochs = [entry for entry in manager.store.folder(job_id).read_progress() if entry["message"].startswith("epoch")]
    assert epochs[0]["fraction"] == pytest.approx(1 / 3)


def test_array_search(manager, cluster):
    job_id = manager.submit({"kind": "search", "params": {
        "target_size": 6, "branching": 2, "starts": [{"start": "pentamer"}, {"start": "pentamer"}]}}, "slurm")
    status = manager.wait(job_id, JOB_TIMEOUT_S)
    folder = manager.store.folder(job_id)

    assert status.state is JobState.SUCCEEDED, status.log_tail
    assert "#SBATCH --array=0-1" in folder.script_path.read_text()
    assert sorted(path.name for path in folder.artifacts_dir.iterdir()) == ["pathways-0.json", "pathways-1.json"]
    assert {result["exit_code"] for result in folder.read_task_results().values()} == {0}


def test_restarted_manager_reads_true_state(cluster, tmp_path):
    first = make_manager(cluster, tmp_path / "runs")
    job_id = first.submit(search(), "slurm")

    restarted = make_manager(cluster, tmp_path / "runs")
    assert restarted.status(job_id).state in (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED)
    assert restarted.wait(job_id, JOB_TIMEOUT_S).state is JobState.SUCCEEDED


def forged_run(manager: JobManager, scheduler_id: str) -> str:
    job_id = new_job_id("search")
    manager.store.create(job_id, {}, JobStatus(job_id=job_id, kind="search", backend="slurm", state=JobState.RUNNING,
                                               scheduler_id=scheduler_id))
    return job_id


def test_forgotten_job_is_lost(manager):
    job_id = forged_run(manager, "999999")
    status = manager.status(job_id)
    assert status.state is JobState.LOST
    assert status.reason == "Slurm no longer knows job 999999 and no final state was recorded"


def test_jobcomp_log_used_when_scontrol_forgot(manager, cluster):
    finished = manager.submit(search(), "slurm")
    scheduler_id = manager.wait(finished, JOB_TIMEOUT_S).scheduler_id
    record = wait_until(lambda: [line for line in cluster.jobcomp_path.read_text().splitlines()
                                 if line.startswith(f"JobId={scheduler_id} ")], 10, what="the jobcomp record")[0]
    # Slurm keeps finished jobs for MinJobAge (an hour here), so the test uses
    # a record for an id the controller never had in place of one it forgot.
    with open(cluster.jobcomp_path, "a") as log:
        log.write(record.replace(f"JobId={scheduler_id} ", "JobId=999998 ", 1)
                  .replace("JobState=COMPLETED", "JobState=TIMEOUT") + "\n")

    status = manager.status(forged_run(manager, "999998"))
    assert status.state is JobState.FAILED
    assert status.reason == "the time limit was reached (Slurm state TIMEOUT)"
    assert status.exit_code is None


def test_injection_paths_never_run_by_a_shell(manager, tmp_path):
    pairs = injection_files(tmp_path)
    jobs = [(manager.submit(search(start=str(path)), "slurm"), path, marker) for path, marker in pairs]
    for job_id, path, marker in jobs:
        status = manager.wait(job_id, JOB_TIMEOUT_S)
        assert status.state is JobState.FAILED, status.log_tail
        assert status.exit_code == 2
        assert str(path) in manager.store.folder(job_id).log_path.read_text()
        assert not marker.exists(), f"{marker} was created"


def test_unavailable_slurm_fails_cleanly(cluster, tmp_path):
    store = RunStore(tmp_path / "runs")
    profile = load_profile("default")
    no_commands = JobManager(store, {"slurm": SlurmBackend(store, profile, {"PATH": str(tmp_path)})}, profile)
    with pytest.raises(SchedulerError, match="Slurm is not available: sbatch, squeue, scontrol, scancel not found"):
        no_commands.submit(search(), "slurm")

    dead_conf = tmp_path / "slurm.conf"
    text = cluster.conf_path.read_text()
    port = slurm_cluster.free_port()
    dead_conf.write_text("\n".join(f"SlurmctldPort={port}" if line.startswith("SlurmctldPort=") else line
                                   for line in text.splitlines()) + "\n")
    down = JobManager(store, {"slurm": SlurmBackend(store, profile, {"SLURM_CONF": str(dead_conf)})}, profile)
    with pytest.raises(SchedulerError, match="controller does not respond to 'scontrol ping'"):
        down.submit(search(), "slurm")
    assert list(store.root.iterdir()) == []


def test_cli_submit_to_slurm(cluster, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(search()))
    runs = tmp_path / "runs"
    result = subprocess.run([sys.executable, "-m", "jobs", "submit", str(spec), "--backend", "slurm",
                             "--runs-dir", str(runs)], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.strip()
    followed = subprocess.run([sys.executable, "-m", "jobs", "logs", job_id, "--follow", "--runs-dir", str(runs)],
                              cwd=PROJECT_ROOT, capture_output=True, text=True, check=False, timeout=JOB_TIMEOUT_S)
    assert "wrote 10 pathways" in followed.stdout
    status = json.loads(subprocess.run([sys.executable, "-m", "jobs", "status", job_id, "--runs-dir", str(runs)],
                                       cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout)
    assert status["state"] == "succeeded"
    assert status["backend"] == "slurm"

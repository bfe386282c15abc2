"""Local backend: one detached worker process per job on this machine.

The worker (``python -m jobs.worker RUN_DIR``) starts in its own session and
process group, so it keeps running after the submitting CLI or dashboard
exits, and a cancel can signal it together with the engine command it
runs. The engine command gets SIGTERM if the worker dies.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from jobs.backends.base import Backend, record_lost_if_never_launched, request_cancel
from jobs.errors import SchedulerError
from jobs.kinds import CommandContext
from jobs.paths import PROJECT_ROOT, local_python
from jobs.processes import JOB_ID_VARIABLE, group_members, process_alive, signal_job_processes, start_ticks
from jobs.slots import default_max_running
from jobs.spec import JobSpec
from jobs.status import JobState, JobStatus
from jobs.store import RunFolder, RunStore

logger = logging.getLogger(__name__)

#: Environment variable with the local concurrency limit (running jobs at once).
MAX_RUNNING_VARIABLE = "DESIGN_LOCAL_MAX_RUNNING"


class LocalBackend(Backend):
    """Runs jobs as detached worker processes.

    Args:
        store: The runs root.
        max_running: Jobs allowed to run at once; default from
            ``DESIGN_LOCAL_MAX_RUNNING``, else one per two CPU cores.
        python: Python executable for the worker and the engine.
    """

    name = "local"

    def __init__(self, store: RunStore, max_running: int | None = None, python: str | None = None):
        super().__init__(store)
        if max_running is None:
            configured = os.environ.get(MAX_RUNNING_VARIABLE)
            max_running = int(configured) if configured and configured.isdigit() else default_max_running()
        if max_running < 1:
            raise SchedulerError(f"the local concurrency limit must be at least 1, got {max_running}")
        self.max_running = max_running
        self.python = python or local_python()
        self._children: dict[str, subprocess.Popen] = {}

    def check_available(self) -> None:
        if not Path(self.python).is_file():
            raise SchedulerError(f"Python executable {self.python} not found")

    def command_context(self, run_dir: Path, spec: JobSpec) -> CommandContext:
        return CommandContext(python=self.python, run_dir=run_dir, runs_root=self.store.root)

    def submit(self, folder: RunFolder, spec: JobSpec) -> None:
        ignored = sorted(name for name in spec.resources.model_fields_set if name != "cpus_per_task")
        if ignored:
            logger.info("job %s: the local backend ignores resources %s", folder.job_id, ", ".join(ignored))
        argv = [self.python, "-m", "jobs.worker", str(folder.path), "--max-running", str(self.max_running)]
        environment = {**os.environ, JOB_ID_VARIABLE: folder.job_id}
        with open(folder.log_path, "ab") as log:
            try:
                worker = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=environment, stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as error:
                raise SchedulerError(f"cannot start the job worker {argv[0]}: {error}") from None
        self._children[folder.job_id] = worker
        ticks = start_ticks(worker.pid)

        def record(status: JobStatus) -> None:
            status.pid, status.pgid, status.pid_start_ticks = worker.pid, worker.pid, ticks

        folder.update_status(record)
        logger.info("job %s: started worker pid %d", folder.job_id, worker.pid)

    def _reap_children(self) -> None:
        for job_id, child in list(self._children.items()):
            if child.poll() is not None:
                # Another thread may have reaped the same child already.
                self._children.pop(job_id, None)

    def refresh(self, folder: RunFolder) -> JobStatus:
        status = folder.read_status()
        if status.state.is_final:
            return status
        self._reap_children()
        if status.pid is None:
            return record_lost_if_never_launched(folder, status, "worker process")
        if not _on_this_host(status):
            # A runs root shared between machines: only the worker's host can check its pid.
            return status
        if process_alive(status.pid, status.pid_start_ticks):
            return status
        # The worker is gone; it may have recorded a final state just before exiting.
        status = folder.read_status()
        if status.state.is_final:
            return status
        if status.cancel_requested_at:
            return folder.record_final(JobState.CANCELLED, None, "cancelled on request")
        return folder.record_final(JobState.LOST, None, f"worker process {status.pid} exited without recording "
                                                        f"a final state")

    def cancel(self, folder: RunFolder, grace_s: float) -> JobStatus:
        status = self.refresh(folder)
        if status.state.is_final:
            return status
        if not _on_this_host(status):
            raise SchedulerError(f"job {folder.job_id} runs on host {status.host}; cancel it there")

        status = request_cancel(folder)
        if status.pgid is not None:
            self._terminate(folder.job_id, status, grace_s)
        status = folder.read_status()
        if not status.state.is_final:
            status = folder.record_final(JobState.CANCELLED, None, "cancelled on request")
        self._reap_children()
        return status

    def _terminate(self, job_id: str, status: JobStatus, grace_s: float) -> None:
        """Send SIGTERM to the job's processes, then SIGKILL to those left after ``grace_s``."""
        leader_alive = process_alive(status.pid, status.pid_start_ticks)
        signal_job_processes(status.pgid, job_id, signal.SIGTERM, leader_alive)
        deadline = time.monotonic() + grace_s
        while group_members(status.pgid, job_id) and time.monotonic() < deadline:
            self._reap_children()
            time.sleep(0.05)
        remaining = group_members(status.pgid, job_id)
        if remaining:
            logger.warning("job %s: processes %s still running %.1f s after SIGTERM; sending SIGKILL", job_id,
                           " ".join(map(str, remaining)), grace_s)
            leader_alive = process_alive(status.pid, status.pid_start_ticks)
            signal_job_processes(status.pgid, job_id, signal.SIGKILL, leader_alive)
            deadline = time.monotonic() + 5.0
            while group_members(status.pgid, job_id) and time.monotonic() < deadline:
                time.sleep(0.05)
        self._reap_children()


def _on_this_host(status: JobStatus) -> bool:
    return status.host is None or status.host == socket.gethostname()

"""The interface every backend implements, and the pieces they share."""

from __future__ import annotations

import abc
import json
import time
from datetime import datetime, timezone
from pathlib import Path

from jobs.kinds import CommandContext
from jobs.spec import JobSpec
from jobs.status import JobState, JobStatus, parse_time, utc_now
from jobs.store import RunFolder, RunStore


#: Seconds a job may go without a recorded worker pid or scheduler id before it counts as lost.
MISSING_LAUNCH_TIMEOUT_S = 60.0


def record_lost_if_never_launched(folder: RunFolder, status: JobStatus, missing_record: str) -> JobStatus:
    """Return the status, recorded as lost when ``missing_record`` is still absent a minute after submission.

    A submitting process that dies between creating the run folder and
    recording the worker pid or scheduler id leaves such a folder behind.
    """
    submitted = parse_time(status.submitted_at)
    waited_s = (datetime.now(timezone.utc) - submitted).total_seconds() if submitted else 0.0
    if waited_s < MISSING_LAUNCH_TIMEOUT_S:
        return status
    return folder.record_final(JobState.LOST, None, f"no {missing_record} was recorded within "
                                                    f"{MISSING_LAUNCH_TIMEOUT_S:.0f} s of submission")


def record_vanished(folder: RunFolder, scheduler: str) -> JobStatus:
    """Finish a job that its batch scheduler no longer lists and that recorded no final state.

    It counts as cancelled when a cancel was requested, else as lost.
    """
    status = folder.read_status()
    if status.state.is_final:
        return status
    if status.cancel_requested_at:
        return folder.record_final(JobState.CANCELLED, None, "cancelled on request")
    return folder.record_final(
        JobState.LOST, None, f"{scheduler} no longer knows job {status.scheduler_id} and no final state was recorded"
    )


def request_cancel(folder: RunFolder) -> JobStatus:
    """Record in the folder that a cancel was requested (keeping the first request's time) and return the status."""

    def request(record: JobStatus) -> None:
        record.cancel_requested_at = record.cancel_requested_at or utc_now()

    return folder.update_status(request)


class Backend(abc.ABC):
    """Starts, watches and cancels jobs; the run folder stays the record of each job.

    Args:
        store: The runs root.
    """

    #: Name used in specs, ``status.json`` and ``--backend``.
    name: str = ""

    def __init__(self, store: RunStore):
        self.store = store

    def wait_final(self, folder: RunFolder, grace_s: float, poll_s: float) -> JobStatus:
        """Refresh the job every ``poll_s`` seconds until it is final or ``grace_s`` seconds have passed."""
        deadline = time.monotonic() + grace_s
        while True:
            status = self.refresh(folder)
            if status.state.is_final or time.monotonic() > deadline:
                return status
            time.sleep(poll_s)

    @abc.abstractmethod
    def check_available(self) -> None:
        """Raise :class:`jobs.errors.SchedulerError` naming what is missing or down."""

    @abc.abstractmethod
    def command_context(self, run_dir: Path, spec: JobSpec) -> CommandContext:
        """Return the context in which the spec's commands run."""

    def prepare(self, job_id: str, run_dir: Path, spec: JobSpec) -> dict[str, str]:
        """Return the files (name -> text) to create in the run folder before submission.

        ``commands.json`` contains one engine argv per task; batch backends add
        their script as ``job.sh``.

        Raises:
            JobSpecError: when the spec cannot run on this backend.
        """
        commands = spec.kind.build_commands(spec.params, self.command_context(run_dir, spec))
        files = {"commands.json": json.dumps({"tasks": commands}, indent=2) + "\n"}
        script = self.render_script(job_id, run_dir, spec, commands)
        if script is not None:
            files[RunFolder.SCRIPT_NAME] = script
        return files

    def render_script(self, job_id: str, run_dir: Path, spec: JobSpec, commands: list[list[str]]) -> str | None:
        """Return the batch script of the job, or None for a backend without one."""
        return None

    @abc.abstractmethod
    def submit(self, folder: RunFolder, spec: JobSpec) -> None:
        """Start or enqueue the job and record its process or scheduler id in the folder.

        Raises:
            SchedulerError: when the launch fails.
        """

    @abc.abstractmethod
    def refresh(self, folder: RunFolder) -> JobStatus:
        """Return the current status, recording in the folder what the process or scheduler shows."""

    @abc.abstractmethod
    def cancel(self, folder: RunFolder, grace_s: float) -> JobStatus:
        """Stop the job (SIGTERM, then SIGKILL after ``grace_s`` seconds) and return its status."""

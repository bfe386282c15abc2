"""Job states and the record stored in each run folder's ``status.json``."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


class JobState(str, enum.Enum):
    """Life-cycle state of a job.

    ``lost`` means the worker process or the scheduler job vanished without
    recording a final state.
    """

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"

    @property
    def is_final(self) -> bool:
        """Whether the state can no longer change."""
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.LOST})


def utc_now() -> str:
    """Return the current time as an ISO 8601 string in UTC with microseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def parse_time(value: str | None) -> datetime | None:
    """Parse a time written by :func:`utc_now`; None stays None."""
    return None if value is None else datetime.fromisoformat(value)


@dataclass
class JobStatus:
    """The contents of ``status.json``.

    Attributes:
        job_id: Id of the job, also the run folder's name.
        kind: Job kind, e.g. ``search``.
        state: Current state.
        backend: ``local``, ``slurm`` or ``pbs``.
        scheduler_id: Scheduler job id (Slurm or PBS) once submitted.
        scheduler_cluster: Slurm cluster name when ``sbatch`` reported one.
        scheduler_state: Last state name reported by the scheduler.
        pid: Process id of the local worker.
        pgid: Process group id of the local worker and the engine command.
        pid_start_ticks: Start time of ``pid`` in clock ticks since boot, to
            tell the worker from a later process that reuses its pid.
        host: Host name of the submitting machine, then of the running worker.
        submitted_at: ISO 8601 time in UTC.
        started_at: ISO 8601 time in UTC when the engine command started.
        finished_at: ISO 8601 time in UTC when the final state was recorded.
        exit_code: Exit status of the engine command (128 + N after signal N).
        reason: Why a job failed, was cancelled or was lost, as a sentence.
        log_tail: Last lines of ``job.log`` when the job did not succeed.
        cancel_requested_at: ISO 8601 time in UTC of the cancel request.
        array_size: Number of tasks of an array job; None for a plain job.
    """

    job_id: str
    kind: str
    state: JobState = JobState.QUEUED
    backend: str = "local"
    scheduler_id: str | None = None
    scheduler_cluster: str | None = None
    scheduler_state: str | None = None
    pid: int | None = None
    pgid: int | None = None
    pid_start_ticks: int | None = None
    host: str | None = None
    submitted_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    log_tail: list[str] = field(default_factory=list)
    cancel_requested_at: str | None = None
    array_size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobStatus":
        """Build a status from :meth:`to_dict` output; unknown keys are ignored."""
        known = {item.name for item in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["state"] = JobState(values.get("state", JobState.QUEUED.value))
        return cls(**values)

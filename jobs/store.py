"""Run folders: one folder per job under a runs root, the source of truth for its state.

Layout of a run folder (its name is the job id)::

    spec.json        the validated spec
    commands.json    the engine argv lists, one per task
    status.json      see :class:`jobs.status.JobStatus`; replaced atomically
    progress.jsonl   one JSON object per line: time, fraction, message, metrics
    job.log          stdout and stderr of the worker and the engine
    artifacts/       everything the engine writes
    tasks/N.json     final state of array task N (array jobs only)
    job.sh           rendered batch script (Slurm or PBS jobs only)

Every read-modify-write of ``status.json`` holds an exclusive ``flock`` on
``.status.lock`` in the folder, so the worker, the CLI and the dashboard can
update it at the same time without losing a change.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import socket
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jobs.errors import JobNotFoundError, JobSpecError
from jobs.status import JobState, JobStatus, utc_now

logger = logging.getLogger(__name__)

#: Job ids: UTC date and time, kind, six random hex digits, e.g. ``20261204-203000-search-ab12cd``.
JOB_ID_PATTERN = re.compile(r"[0-9]{8}-[0-9]{6}-[a-z][a-z0-9-]{0,30}[a-z0-9]-[0-9a-f]{6}")
#: Kind names that may appear in a job id.
KIND_NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,30}[a-z0-9]")
#: Number of ``job.log`` lines copied into the status of a job that did not succeed.
LOG_TAIL_LINES = 20
STAGING_PREFIX = ".staging-"


def validate_job_id(job_id: object) -> str:
    """Return ``job_id`` when it is a well-formed job id.

    Raises:
        JobSpecError: naming the expected form.
    """
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.fullmatch(job_id):
        raise JobSpecError(f"invalid job id {job_id!r}: expected the form 20261204-203000-search-ab12cd")
    return job_id


def new_job_id(kind: str, now: datetime | None = None) -> str:
    """Return a fresh job id for ``kind``."""
    if not KIND_NAME_PATTERN.fullmatch(kind):
        raise JobSpecError(f"invalid kind name {kind!r} for a job id")
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{kind}-{secrets.token_hex(3)}"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to a temporary file beside ``path``, then rename it over ``path``."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(2)}")
    with open(temporary, "w") as stream:
        json.dump(data, stream, indent=2)
        stream.write("\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def tail_lines(path: Path, n_lines: int = LOG_TAIL_LINES, max_bytes: int = 64 * 1024) -> list[str]:
    """Return the last ``n_lines`` lines of a text file (reading at most its last ``max_bytes``)."""
    try:
        with open(path, "rb") as stream:
            stream.seek(0, os.SEEK_END)
            size = stream.tell()
            stream.seek(max(0, size - max_bytes))
            data = stream.read()
    except FileNotFoundError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-n_lines:]


class RunFolder:
    """One job's run folder.

    Args:
        path: The folder; its name must be a job id.
    """

    #: File name of the rendered batch script.
    SCRIPT_NAME = "job.sh"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.job_id = validate_job_id(self.path.name)
        self.spec_path = self.path / "spec.json"
        self.commands_path = self.path / "commands.json"
        self.status_path = self.path / "status.json"
        self.progress_path = self.path / "progress.jsonl"
        self.log_path = self.path / "job.log"
        self.artifacts_dir = self.path / "artifacts"
        self.tasks_dir = self.path / "tasks"
        self.script_path = self.path / self.SCRIPT_NAME

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # --- status --------------------------------------------------------------

    def read_status(self) -> JobStatus:
        """Return the current status.

        Raises:
            JobNotFoundError: if ``status.json`` is missing.
        """
        try:
            data = json.loads(self.status_path.read_text())
        except FileNotFoundError:
            raise JobNotFoundError(f"job {self.job_id}: {self.status_path} is missing") from None
        return JobStatus.from_dict(data)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.path / ".status.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def update_status(self, change: Callable[[JobStatus], None]) -> JobStatus:
        """Apply ``change`` to the status under the folder lock and write it back atomically.

        A final state is kept. When ``change`` moves a job out of a final
        state, the state and its final fields are restored, because the first
        recorded outcome wins. For example, a cancel that arrives after the
        engine succeeded leaves the job succeeded.
        Logs one INFO line per state change.
        """
        with self._locked():
            status = self.read_status()
            before = JobStatus.from_dict(status.to_dict())
            change(status)
            if before.state.is_final and status.state != before.state:
                for name in ("state", "exit_code", "reason", "finished_at", "log_tail"):
                    setattr(status, name, getattr(before, name))
            write_json_atomic(self.status_path, status.to_dict())
        if status.state != before.state:
            detail = f" (exit code {status.exit_code})" if status.exit_code is not None and status.state.is_final else ""
            why = f": {status.reason}" if status.reason and status.state.is_final else ""
            logger.info("job %s: %s -> %s%s%s", self.job_id, before.state.value, status.state.value, detail, why)
        return status

    def record_final(self, state: JobState, exit_code: int | None = None, reason: str | None = None) -> JobStatus:
        """Record a final state with the exit code, a reason and, unless succeeded, the log tail."""

        def change(status: JobStatus) -> None:
            status.state = state
            status.exit_code = exit_code
            status.reason = reason
            status.finished_at = utc_now()
            status.scheduler_state = None
            status.log_tail = [] if state is JobState.SUCCEEDED else tail_lines(self.log_path)

        return self.update_status(change)

    # --- progress, commands, log ----------------------------------------------

    def append_progress(self, message: str, fraction: float | None = None, metrics: dict | None = None) -> None:
        """Append one progress entry to ``progress.jsonl``."""
        entry = {"time": utc_now(), "fraction": fraction, "message": message, "metrics": metrics or {}}
        line = json.dumps(entry) + "\n"
        # One write of one short line to a file opened with O_APPEND, so that
        # lines of concurrent writers do not interleave.
        descriptor = os.open(self.progress_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line.encode())
        finally:
            os.close(descriptor)

    def read_progress(self) -> list[dict]:
        """Return the progress entries; a partly written last line is skipped."""
        try:
            lines = self.progress_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            with contextlib.suppress(json.JSONDecodeError):
                entries.append(json.loads(line))
        return entries

    def read_commands(self) -> list[list[str]]:
        """Return the engine argv of each task from ``commands.json``."""
        return json.loads(self.commands_path.read_text())["tasks"]

    def log_tail(self, n_lines: int = LOG_TAIL_LINES) -> list[str]:
        """Return the last lines of ``job.log``."""
        return tail_lines(self.log_path, n_lines)

    def task_status_path(self, index: int) -> Path:
        return self.tasks_dir / f"{index}.json"

    def read_task_results(self) -> dict[int, dict]:
        """Return the recorded results of array tasks by task index."""
        results = {}
        if not self.tasks_dir.is_dir():
            return results
        for path in self.tasks_dir.glob("*.json"):
            if path.stem.isdigit():
                with contextlib.suppress(json.JSONDecodeError, FileNotFoundError):
                    results[int(path.stem)] = json.loads(path.read_text())
        return results


class RunStore:
    """The runs root: creates, finds and lists run folders.

    Every job id is validated, and a run folder must be a real directory
    directly under the root (no symlink, no ``..``), so that no id can
    name a folder outside the root.

    Args:
        root: The runs root; created when missing.
    """

    def __init__(self, root: str | Path):
        root = Path(root)
        if "\0" in str(root) or "\n" in str(root):
            raise JobSpecError(f"invalid runs folder {str(root)!r}: contains a NUL or line break")
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()

    def folder(self, job_id: str) -> RunFolder:
        """Return the run folder of ``job_id``.

        Raises:
            JobSpecError: for a malformed id or a folder that leaves the root.
            JobNotFoundError: when no such run folder exists.
        """
        validate_job_id(job_id)
        path = self.root / job_id
        if not path.exists() and not path.is_symlink():
            raise JobNotFoundError(f"job {job_id} not found in {self.root}")
        if path.is_symlink() or not path.is_dir() or path.resolve().parent != self.root:
            raise JobSpecError(f"run folder {path} is not a plain folder inside {self.root}")
        return RunFolder(path)

    def job_ids(self) -> list[str]:
        """Return the ids of all run folders, oldest first."""
        ids = []
        for entry in os.scandir(self.root):
            if JOB_ID_PATTERN.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                ids.append(entry.name)
        return sorted(ids)

    def create(self, job_id: str, files: dict[str, str], status: JobStatus,
               populate: Callable[[Path], None] | None = None) -> RunFolder:
        """Create a run folder with ``files`` (name -> text), ``status.json`` and ``artifacts/``.

        The folder is built under a hidden staging name and renamed into place,
        so that a reader never sees a half-written folder. ``populate``, when
        given, is called with the staging ``artifacts/`` folder.
        """
        validate_job_id(job_id)
        final_path = self.root / job_id
        if final_path.exists():
            raise JobSpecError(f"run folder {final_path} already exists")
        staging = self.root / f"{STAGING_PREFIX}{job_id}"
        staging.mkdir(mode=0o755)
        try:
            (staging / "artifacts").mkdir()
            for name, text in files.items():
                (staging / name).write_text(text)
            if populate is not None:
                populate(staging / "artifacts")
            status.host = status.host or socket.gethostname()
            write_json_atomic(staging / "status.json", status.to_dict())
            os.rename(staging, final_path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        logger.info("job %s: %s (kind %s, backend %s, run folder %s)", job_id, status.state.value, status.kind,
                    status.backend, final_path)
        return RunFolder(final_path)

    def remove(self, job_id: str) -> None:
        """Delete the run folder of ``job_id`` (used when a submission fails)."""
        folder = self.folder(job_id)
        shutil.rmtree(folder.path)
        logger.info("job %s: removed run folder %s", job_id, folder.path)

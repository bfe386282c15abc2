"""Jobs as the dashboard shows them: the job layer behind one lock, table rows, artifacts and metrics files.

Every page that submits or watches jobs goes through :class:`JobService`.
It creates the :class:`jobs.manager.JobManager` on first use, so building
the app creates no runs folder. Paths to artifacts are built only from a
validated job id and a fixed or pattern-checked file name, and must resolve
inside the job's run folder.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
import threading
from datetime import datetime, timezone
from pathlib import Path

from engine.errors import InputError

from jobs.errors import JobSpecError
from jobs.manager import JobManager
from jobs.status import JobState, JobStatus, parse_time
from jobs.store import RunFolder, RunStore, tail_lines

logger = logging.getLogger(__name__)

#: Lines of ``job.log`` shown on the Jobs page.
LOG_TAIL_LINES = 100
#: Names of the pathways files a search job writes into ``artifacts/``: one, or one per array task.
PATHWAYS_NAME = re.compile(r"pathways(-[0-9]{1,6})?\.json")
#: Model folder of a train-surrogate job and policy folder of a train-policy job, inside ``artifacts/``.
MODEL_SUBDIR = "model"
POLICY_SUBDIR = "policy"
METRICS_FILE = "metrics.csv"
TEST_REPORT_FILE = "test_report.json"
#: Progress entries read from the end of ``progress.jsonl`` to find the last fraction.
PROGRESS_TAIL_LINES = 20


class JobArtifactError(InputError):
    """A job or artifact that cannot be opened: an invalid or unknown job id, a bad file name or a path outside the run folder."""


# Pure helpers ---------------------------------------------------------------


def format_time(value: str | None) -> str:
    """Return an ISO 8601 UTC time of ``status.json`` as ``YYYY-MM-DD HH:MM:SS``, or an empty string."""
    moment = parse_time(value)
    return "" if moment is None else moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def duration_seconds(status: JobStatus, now: datetime | None = None) -> float | None:
    """Return the seconds from the start to the end of a job (or to ``now`` while it runs), or None before the start."""
    started = parse_time(status.started_at)
    if started is None:
        return None
    ended = parse_time(status.finished_at) or now or datetime.now(timezone.utc)
    return max(0.0, (ended - started).total_seconds())


def format_duration(seconds: float | None) -> str:
    """Return a duration as ``12.3 s``, ``4 min 05 s`` or ``2 h 03 min``, or an empty string for None."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {(whole % 3600) // 60:02d} min"


def last_fraction(entries: list[dict]) -> float | None:
    """Return the last ``fraction`` that is a number in a list of progress entries, or None."""
    for entry in reversed(entries):
        fraction = entry.get("fraction") if isinstance(entry, dict) else None
        if isinstance(fraction, (int, float)) and math.isfinite(fraction):
            return min(1.0, max(0.0, float(fraction)))
    return None


def progress_percent(state: JobState, fraction: float | None) -> float | None:
    """Return the progress in percent shown for a job: 100 once it succeeded, else the last fraction."""
    if state is JobState.SUCCEEDED:
        return 100.0
    return None if fraction is None else round(100.0 * fraction, 1)


def job_row(status: JobStatus, fraction: float | None, now: datetime | None = None) -> dict:
    """Return the Jobs table row of one job."""
    return {
        "job_id": status.job_id,
        "kind": status.kind,
        "backend": status.backend,
        "state": status.state.value,
        "progress": progress_percent(status.state, fraction),
        "submitted": format_time(status.submitted_at),
        "started": format_time(status.started_at),
        "duration": format_duration(duration_seconds(status, now)),
    }


def parse_number(text: str | None) -> float | None:
    """Return a CSV cell as a float, or None for an empty, non-numeric or non-finite cell."""
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def read_metrics(path: Path) -> list[dict[str, float | None]]:
    """Read a ``metrics.csv`` of a surrogate or policy run into rows of numbers.

    The file may be growing while it is read, so a row whose first column
    is not a number (a partly written last line) is skipped. A missing file
    gives no rows.
    """
    try:
        with open(path, newline="") as stream:
            reader = csv.DictReader(stream)
            first = reader.fieldnames[0] if reader.fieldnames else None
            rows = []
            for raw in reader:
                row = {name: parse_number(value) for name, value in raw.items() if name is not None}
                if first is not None and row.get(first) is not None:
                    rows.append(row)
    except FileNotFoundError:
        return []
    return rows


def read_test_report(path: Path) -> dict | None:
    """Return a surrogate's ``test_report.json``, or None when it is missing or not a JSON object."""
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        logger.warning("cannot read test report %s: %s", path, error)
        return None
    return report if isinstance(report, dict) else None


def resubmit_spec(spec: dict) -> dict:
    """Return the spec of a ``spec.json`` in the form that submitting it again accepts.

    ``spec.json`` has every parameter with its default filled in. Parameters
    that are null were never given and are left out. An array search has
    both ``starts`` and the default ``start`` and ``frame``, which together
    are rejected, so those two are left out.
    """
    params = {name: value for name, value in dict(spec.get("params") or {}).items() if value is not None}
    if params.get("starts"):
        params.pop("start", None)
        params.pop("frame", None)
    return {"kind": spec.get("kind"), "params": params, "resources": dict(spec.get("resources") or {})}


def policy_fraction(header: list[str], last_line: str | None, episodes: object) -> float | None:
    """Return the share of ``episodes`` done, from the header and last line of a policy ``metrics.csv``.

    Returns None when the episode count was not set in the spec or the file
    has no episode rows yet.
    """
    if not isinstance(episodes, int) or episodes < 1 or not last_line or not header or header[0] != "episode":
        return None
    episode = parse_number(last_line.split(",")[0])
    return None if episode is None else min(1.0, episode / episodes)


def submission_order(status: JobStatus) -> tuple[str, str]:
    """Return the sort key of a job by submission time.

    Job ids contain the time only to the second, so two jobs submitted in
    the same second sort by their random part. ``submitted_at`` has
    microseconds.
    """
    return status.submitted_at or "", status.job_id


def kind_of(job_id: str) -> str:
    """Return the kind part of a job id such as ``20261204-203000-search-ab12cd``."""
    return job_id[16:-7]


def csv_header(path: Path) -> list[str]:
    """Return the column names of a CSV file, or an empty list when the file is missing or empty."""
    try:
        with open(path, newline="") as stream:
            return next(csv.reader(stream), [])
    except FileNotFoundError:
        return []


# The job layer behind a lock ----------------------------------------------------


class JobService:
    """The job layer for one runs root, safe to call from the server's request threads.

    Args:
        runs_dir: The runs root; created on first use.
    """

    def __init__(self, runs_dir: Path):
        self.runs_dir = Path(runs_dir)
        self._manager: JobManager | None = None
        # NOTE: LocalBackend reaps finished workers from a dict without a lock,
        # so two request threads refreshing at once can both delete the same
        # entry. Every call into the manager holds this lock.
        self._lock = threading.RLock()

    @property
    def manager(self) -> JobManager:
        """The job manager, created with the runs root on first use."""
        with self._lock:
            if self._manager is None:
                self._manager = JobManager(RunStore(self.runs_dir))
                logger.info("job layer ready: runs root %s", self._manager.store.root)
            return self._manager

    @property
    def store(self) -> RunStore:
        return self.manager.store

    def submit(self, spec: dict, backend: str) -> str:
        """Validate and submit a job and return its id.

        Raises:
            JobSpecError: for an invalid spec or backend.
            SchedulerError: when the backend is unavailable or the launch fails.
        """
        with self._lock:
            job_id = self.manager.submit(spec, backend)
        logger.info("submitted job %s (%s) to the %s backend", job_id, spec.get("kind"), backend)
        return job_id

    def statuses(self) -> list[JobStatus]:
        """Return the current status of every job, newest first."""
        with self._lock:
            statuses = self.manager.list()
        return sorted(statuses, key=submission_order, reverse=True)

    def status(self, job_id: str) -> JobStatus:
        """Return the current status of a job.

        Raises:
            JobSpecError: for a malformed id, and its subclass JobNotFoundError for an unknown one.
        """
        with self._lock:
            return self.manager.status(job_id)

    def cancel(self, job_id: str) -> JobStatus:
        """Cancel a job and return its status.

        Raises:
            JobSpecError: for an invalid or unknown id.
            SchedulerError: when the scheduler cannot cancel it.
        """
        with self._lock:
            status = self.manager.cancel(job_id)
        logger.info("cancel of job %s requested: now %s", job_id, status.state.value)
        return status

    def resubmit(self, job_id: str) -> str:
        """Submit the spec of an earlier job again, to the same backend, and return the new job's id.

        Raises:
            JobSpecError: for an unknown job or a spec that is no longer valid
                (an input file that was removed, for example).
            SchedulerError: when the backend is unavailable or the launch fails.
        """
        spec = self.spec(job_id)
        backend = self.status(job_id).backend
        new_id = self.submit(resubmit_spec(spec), backend)
        logger.info("job %s resubmitted as %s", job_id, new_id)
        return new_id

    def folder(self, job_id: str) -> RunFolder:
        """Return the run folder of a job.

        Raises:
            JobArtifactError: for a malformed or unknown job id.
        """
        try:
            return self.store.folder(job_id)
        except JobSpecError as error:
            raise JobArtifactError(str(error)) from None

    def spec(self, job_id: str) -> dict:
        """Return the job's ``spec.json``.

        Raises:
            JobArtifactError: for an unknown job or an unreadable spec.
        """
        folder = self.folder(job_id)
        try:
            return json.loads(folder.spec_path.read_text())
        except (FileNotFoundError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise JobArtifactError(f"job {job_id}: cannot read {folder.spec_path.name} ({error})") from None

    def log_tail(self, job_id: str, n_lines: int = LOG_TAIL_LINES) -> list[str]:
        """Return the last lines of the job's ``job.log``."""
        return self.folder(job_id).log_tail(n_lines)

    def progress(self, status: JobStatus) -> float | None:
        """Return the job's progress as a fraction, from ``progress.jsonl`` or a policy's ``metrics.csv``."""
        folder = RunFolder(self.store.root / status.job_id)
        entries = []
        for line in tail_lines(folder.progress_path, PROGRESS_TAIL_LINES):
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        fraction = last_fraction(entries)
        if status.kind == "train-policy" and not status.state.is_final:
            # The worker reads no progress from policy training, but metrics.csv gains a row per episode.
            from_metrics = self._policy_fraction(folder)
            fraction = from_metrics if from_metrics is not None else fraction
        return fraction

    def rows(self, now: datetime | None = None) -> list[dict]:
        """Return the Jobs table rows, newest job first."""
        return [job_row(status, self.progress(status), now) for status in self.statuses()]

    def artifact(self, job_id: str, relative: str) -> Path:
        """Return the path of ``artifacts/<relative>`` of a job, checked to resolve inside its run folder.

        Raises:
            JobArtifactError: for an invalid job id or a path that leaves the run folder.
        """
        folder = self.folder(job_id)
        path = folder.artifacts_dir / relative
        if not path.resolve().is_relative_to(folder.path.resolve()):
            raise JobArtifactError(f"job {job_id}: artifact {relative!r} is outside its run folder")
        return path

    def pathways_names(self, job_id: str) -> list[str]:
        """Return the names of the pathways files in a job's artifacts, sorted."""
        artifacts = self.folder(job_id).artifacts_dir
        if not artifacts.is_dir():
            return []
        return sorted(path.name for path in artifacts.iterdir() if PATHWAYS_NAME.fullmatch(path.name) and path.is_file())

    def pathways_path(self, job_id: str, name: str = "pathways.json") -> Path:
        """Return an existing pathways file of a search job.

        Raises:
            JobArtifactError: for an invalid job id or file name, or a file that does not exist.
        """
        if not isinstance(name, str) or not PATHWAYS_NAME.fullmatch(name):
            raise JobArtifactError(f"invalid pathways file name {name!r}: expected pathways.json or pathways-N.json")
        path = self.artifact(job_id, name)
        if not path.is_file():
            raise JobArtifactError(f"job {job_id} has no pathways file {name}; it may still be running or have failed")
        return path

    def model_dir(self, job_id: str) -> Path | None:
        """Return the model folder of a train-surrogate job once it has a ``model.json``, else None."""
        path = self.artifact(job_id, MODEL_SUBDIR)
        return path if (path / "model.json").is_file() else None

    def policy_dir(self, job_id: str) -> Path | None:
        """Return the policy folder of a train-policy job once it has ``policy.pt``, else None."""
        path = self.artifact(job_id, POLICY_SUBDIR)
        return path if (path / "policy.pt").is_file() else None

    def metrics(self, job_id: str, kind: str) -> list[dict[str, float | None]]:
        """Return the ``metrics.csv`` rows of a training job. Other kinds, and a job before its first row, give none."""
        subdir = {"train-surrogate": MODEL_SUBDIR, "train-policy": POLICY_SUBDIR}.get(kind)
        if subdir is None:
            return []
        return read_metrics(self.artifact(job_id, f"{subdir}/{METRICS_FILE}"))

    def test_report(self, job_id: str) -> dict | None:
        """Return the test report of a train-surrogate job, or None before training ends."""
        return read_test_report(self.artifact(job_id, f"{MODEL_SUBDIR}/{TEST_REPORT_FILE}"))

    def ids_of_kind(self, kind: str) -> list[str]:
        """Return the ids of the jobs of one kind, newest first, from their recorded status without asking a backend."""
        with self._lock:
            job_ids = [job_id for job_id in self.store.job_ids() if kind_of(job_id) == kind]
            statuses = []
            for job_id in job_ids:
                try:
                    statuses.append(RunFolder(self.store.root / job_id).read_status())
                except JobSpecError as error:
                    logger.debug("skipping run folder %s: %s", job_id, error)
        return [status.job_id for status in sorted(statuses, key=submission_order, reverse=True)]

    @staticmethod
    def _policy_fraction(folder: RunFolder) -> float | None:
        metrics = folder.artifacts_dir / POLICY_SUBDIR / METRICS_FILE
        last = tail_lines(metrics, 1)
        try:
            params = json.loads(folder.spec_path.read_text()).get("params")
        except (FileNotFoundError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        episodes = params.get("episodes") if isinstance(params, dict) else None
        return policy_fraction(csv_header(metrics), last[0] if last else None, episodes)

"""The job API used by the CLI and the dashboard: submit, status, list, cancel, logs.

Every call reads the run folders, so a new :class:`JobManager` (after a
restart of the dashboard) finds every job as it was last recorded. Each
status call then updates the state from the worker process or the scheduler.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from jobs.backends import BACKEND_NAMES, Backend
from jobs.errors import JobSpecError, SchedulerError
from jobs.profiles import SiteProfile, load_profile
from jobs.spec import JobSpec, parse_spec
from jobs.status import JobStatus, utc_now
from jobs.store import RunFolder, RunStore, new_job_id

logger = logging.getLogger(__name__)

#: Default seconds between SIGTERM and SIGKILL when cancelling a local job,
#: and the longest wait for a scheduler to confirm a cancel.
DEFAULT_GRACE_S = 10.0


#: Parameters that name a reward-weights JSON file.
WEIGHTS_PARAMETERS = ("weights", "reward")
#: Name of the copy of that file in the run folder.
WEIGHTS_COPY = "weights.json"


def keep_weights_copy(spec: JobSpec, run_dir: Path) -> tuple[JobSpec, dict[str, str]]:
    """Point the spec's weights file parameter at a copy of the file in the run folder.

    The weights a job ran with then stay with the job, and a resubmission of
    its ``spec.json`` works after the original file (a preset, or the weights
    the dashboard saved for the job) is changed or deleted. A preset given by
    name is left as it is.

    Returns:
        The spec to run and the files to add to the run folder (name -> text).

    Raises:
        JobSpecError: if the weights file cannot be read.
    """
    for name in WEIGHTS_PARAMETERS:
        value = getattr(spec.params, name, None)
        if not isinstance(value, str) or not value.endswith(".json") or not Path(value).is_file():
            continue
        try:
            text = Path(value).read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise JobSpecError(f"params.{name}: cannot read {value} ({error})") from None
        params = spec.params.model_copy(update={name: str(run_dir / WEIGHTS_COPY)})
        return dataclasses.replace(spec, params=params), {WEIGHTS_COPY: text}
    return spec, {}


class JobManager:
    """Submits and tracks jobs under one runs root.

    Args:
        store: The runs root.
        backends: Backends by name; missing ones are created on first use
            (``local`` with its defaults, ``slurm`` and ``pbs`` with ``profile``).
        profile: Site profile for the Slurm and PBS backends; default from
            ``DESIGN_SITE_PROFILE``, else ``default``.
        grace_s: Seconds between SIGTERM and SIGKILL on cancel.
    """

    def __init__(self, store: RunStore, backends: dict[str, Backend] | None = None,
                 profile: SiteProfile | None = None, grace_s: float = DEFAULT_GRACE_S):
        self.store = store
        self._backends = dict(backends or {})
        self._profile = profile
        self.grace_s = grace_s

    # --- backends --------------------------------------------------------------

    def backend(self, name: str) -> Backend:
        """Return the backend called ``name``, creating it on first use.

        Raises:
            JobSpecError: for an unknown name.
        """
        if name in self._backends:
            return self._backends[name]
        if name == "local":
            from jobs.backends.local import LocalBackend

            backend = LocalBackend(self.store)
        elif name == "slurm":
            from jobs.backends.slurm import SlurmBackend

            backend = SlurmBackend(self.store, self.profile)
        elif name == "pbs":
            from jobs.backends.pbs import PbsBackend

            backend = PbsBackend(self.store, self.profile)
        else:
            raise JobSpecError(f"unknown backend {name!r}; known backends: {', '.join(BACKEND_NAMES)}")
        self._backends[name] = backend
        return backend

    @property
    def profile(self) -> SiteProfile:
        if self._profile is None:
            self._profile = load_profile()
        return self._profile

    # --- submit ----------------------------------------------------------------

    def submit(self, spec: dict | JobSpec, backend: str = "local") -> str:
        """Validate and submit a job; return its id.

        Nothing is written under the runs root when validation fails or the
        backend is unavailable, and the run folder is removed again when the
        launch itself fails.

        Raises:
            JobSpecError: for an invalid spec or backend name.
            SchedulerError: when the backend is unavailable or the launch fails.
        """
        if not isinstance(spec, JobSpec):
            spec = parse_spec(spec, self.store)
        runner = self.backend(backend)
        runner.check_available()
        job_id = new_job_id(spec.kind.name)
        run_dir = self.store.root / job_id
        spec, copied = keep_weights_copy(spec, run_dir)
        files = runner.prepare(job_id, run_dir, spec)
        files.update(copied)
        files["spec.json"] = json.dumps(spec.to_dict(), indent=2) + "\n"
        status = JobStatus(job_id=job_id, kind=spec.kind.name, backend=backend, submitted_at=utc_now(),
                           array_size=len(spec.params.starts) if spec.is_array else None)
        populate = None
        if spec.kind.prepare_artifacts is not None:
            def populate(artifacts_dir: Path) -> None:
                spec.kind.prepare_artifacts(spec.params, artifacts_dir, self.store.root)
        folder = self.store.create(job_id, files, status, populate)
        try:
            runner.submit(folder, spec)
        except BaseException:
            self.store.remove(job_id)
            raise
        return job_id

    # --- status ----------------------------------------------------------------

    def refresh(self, folder: RunFolder) -> JobStatus:
        """Return the folder's status brought up to date by its backend.

        When the scheduler cannot be reached, logs a warning and returns the
        status as recorded.
        """
        status = folder.read_status()
        if status.state.is_final:
            return status
        try:
            return self.backend(status.backend).refresh(folder)
        except SchedulerError as error:
            logger.warning("job %s: cannot check its state with %s: %s", folder.job_id, status.backend, error)
            return folder.read_status()

    def status(self, job_id: str) -> JobStatus:
        """Return the current status of a job.

        Raises:
            JobSpecError: for a malformed id; JobNotFoundError when unknown.
        """
        return self.refresh(self.store.folder(job_id))

    def list(self) -> list[JobStatus]:
        """Return the current status of every job, oldest first."""
        return [self.refresh(self.store.folder(job_id)) for job_id in self.store.job_ids()]

    def wait(self, job_id: str, timeout_s: float, until: Callable[[JobStatus], bool] | None = None,
             poll_s: float = 0.1) -> JobStatus:
        """Poll until ``until(status)`` is true (default: a final state) or ``timeout_s`` passes; return the status."""
        until = until or (lambda status: status.state.is_final)
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.status(job_id)
            if until(status) or time.monotonic() > deadline:
                return status
            time.sleep(poll_s)

    # --- cancel and logs ---------------------------------------------------------

    def cancel(self, job_id: str) -> JobStatus:
        """Cancel a job and return its status (final unless the scheduler is slow to confirm)."""
        folder = self.store.folder(job_id)
        status = folder.read_status()
        if status.state.is_final:
            return status
        return self.backend(status.backend).cancel(folder, self.grace_s)

    def log_path(self, job_id: str) -> Path:
        return self.store.folder(job_id).log_path

    def follow_log(self, job_id: str, write: Callable[[str], None], poll_s: float = 0.5) -> JobStatus:
        """Pass ``job.log`` to ``write`` as it grows until the job reaches a final state; return that status."""
        folder = self.store.folder(job_id)
        offset = 0
        while True:
            status = self.refresh(folder)
            offset = _copy_new_text(folder.log_path, offset, write)
            if status.state.is_final:
                return status
            time.sleep(poll_s)


def _copy_new_text(path: Path, offset: int, write: Callable[[str], None]) -> int:
    try:
        with open(path, "rb") as stream:
            stream.seek(offset)
            data = stream.read()
    except FileNotFoundError:
        return offset
    if data:
        write(data.decode("utf-8", errors="replace"))
    return offset + len(data)


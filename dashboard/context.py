"""Server-side state shared by the pages: settings and the resolved input files."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from engine.defaults import default_pathways

from dashboard.jobs_data import JobService
from dashboard.settings import Settings
from dashboard.uploads import CLUSTER_SUFFIXES, PATHWAYS_SUFFIXES, stored_path

logger = logging.getLogger(__name__)

#: ``kind`` of a ``pathways-source`` store value that names a search job's pathways file.
JOB_PATHWAYS = "job"


class DashboardContext:
    """Settings of one app and the files its pages read.

    Args:
        settings: The server settings.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        #: The job layer for the runs root of the settings; its folder is created on first use.
        self.jobs = JobService(settings.runs_dir)
        self._default_pathways: Path | None = None
        self._lock = threading.Lock()

    @property
    def uploads_dir(self) -> Path:
        """Folder of accepted uploads, each named by its SHA-256."""
        return self.settings.cache_dir / "uploads"

    def default_pathways_path(self) -> Path:
        """Return the default pathways file of the dataset, computing it on the first call.

        Raises:
            InputError: if the dataset cannot be read.
            ValueError: if the dataset has no valid cluster to start from.
        """
        with self._lock:
            if self._default_pathways is None:
                self._default_pathways = default_pathways(self.settings.cache_dir, self.settings.dataset)
                logger.info("default pathways: %s", self._default_pathways)
            return self._default_pathways

    def pathways_path(self, source: dict | None) -> tuple[Path, str]:
        """Return the pathways file of a ``pathways-source`` store value and its display name.

        ``None`` stands for the default pathways, and so does an upload that
        is no longer on the server (the cache folder was cleared).
        ``{"kind": "job", "job_id": ..., "file": ...}`` names a pathways file
        of a search job, which must exist under the runs root.

        Raises:
            UploadError: if the store names an invalid upload.
            JobArtifactError: if it names an invalid or unknown job, or a
                pathways file that the job does not have.
        """
        if source and source.get("kind") == JOB_PATHWAYS:
            job_id = str(source.get("job_id", ""))
            name = str(source.get("file", ""))
            return self.jobs.pathways_path(job_id, name), f"Search job {job_id} ({name})"
        if source:
            path = stored_path(self.uploads_dir, source.get("digest", ""), source.get("suffix", ""), PATHWAYS_SUFFIXES)
            if path.is_file():
                return path, str(source.get("name", path.name))
            logger.warning("uploaded pathways %s not found; showing the default pathways", path)
        return self.default_pathways_path(), "Default pathways"

    def dataset_path(self, source: dict | None) -> tuple[Path, str]:
        """Return the cluster file of a ``data-source`` store value and its display name.

        ``None`` stands for the dataset of the settings, and so does an upload
        that is no longer on the server (the cache folder was cleared).

        Raises:
            UploadError: if the store names an invalid upload.
        """
        if source:
            path = stored_path(self.uploads_dir, source.get("digest", ""), source.get("suffix", ""), CLUSTER_SUFFIXES)
            if path.is_file():
                return path, str(source.get("name", path.name))
            logger.warning("uploaded dataset %s not found; showing %s", path, self.settings.dataset)
        return self.settings.dataset, self.settings.dataset.name

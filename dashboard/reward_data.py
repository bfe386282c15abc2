"""Datasets of the Reward page: the user's choice resolved to a file, and its component table.

The choice lives in the browser as a ``reward-source`` store value:

* ``None``: the dataset of the settings (the embedded one by default);
* ``{"kind": "upload", "digest": ..., "suffix": ..., "name": ...}``: a file
  uploaded on the Reward page and stored in the uploads folder;
* ``{"kind": "path", "path": ...}``: a cluster file on the server, typed by
  the user.

Component tables are computed in a background process into the on-disk
:class:`~engine.components.ComponentCache`. The server process then reads
them from that cache and keeps the most recent ones in memory
(:class:`ComponentTables`). When the weights give the surrogate's component
a weight, the same background process also predicts every cluster's energy
with the chosen model, and the predictions take the same path.
"""

from __future__ import annotations

import logging
import os
import threading

import numpy as np
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

# Imported at server start rather than inside a callback, so that forked background
# computations find the prediction code loaded and no request thread is importing it while
# a computation forks.
import engine.surrogate.predict  # noqa: F401
from engine.components import ComponentCache, ComponentTable
from engine.surrogate.modeldir import weights_version
from engine.errors import ClusterFormatError, InputError
from engine.graphs import WaterGraph
from engine.io import detect_format, read_clusters

from dashboard.background import SQLITE_LOCK
from dashboard.context import DashboardContext
from dashboard.settings import PROJECT_ROOT
from dashboard.uploads import CLUSTER_SUFFIXES, decode_upload, rename_source, store_bytes, stored_path, upload_suffix

logger = logging.getLogger(__name__)

UPLOAD = "upload"
SERVER_PATH = "path"
#: Component tables kept in memory by one server process.
MAX_TABLES_IN_MEMORY = 4
#: Datasets whose water graphs are kept in memory for the cluster view.
MAX_GRAPH_SETS = 2


@dataclass(frozen=True)
class DatasetFile:
    """A dataset choice resolved to a file on the server.

    Attributes:
        source: The ``reward-source`` store value it came from.
        path: The cluster file.
        name: Name shown on the page.
        origin: What kind of choice it is, in words.
    """

    source: dict | None
    path: Path
    name: str
    origin: str

    def version_key(self) -> str:
        """Return a key that changes when the file is replaced or modified.

        Raises:
            ClusterFormatError: if the file no longer exists.
        """
        try:
            stat = self.path.stat()
        except OSError as error:
            raise ClusterFormatError(self.name, f"cannot read the file ({error.strerror})") from None
        return f"{self.path}|{stat.st_mtime_ns}|{stat.st_size}"

    def to_dict(self) -> dict:
        """Return the JSON form kept in the browser. Callbacks show its path but resolve ``source`` again."""
        return {"source": self.source, "path": str(self.path), "name": self.name, "origin": self.origin}


def check_cluster_file(path: Path, name: str) -> None:
    """Check that ``path`` is a readable cluster file with at least one cluster.

    Only the first cluster is read, so the check is quick even for a large
    file. A problem in a later cluster shows up when the table is computed.

    Raises:
        ClusterFormatError: naming ``name`` and the problem: missing, a folder,
            not readable, unknown file type, unreadable first cluster, or no
            cluster at all.
    """
    if not path.exists():
        raise ClusterFormatError(name, "file not found")
    if not path.is_file():
        raise ClusterFormatError(name, "not a file")
    if not os.access(path, os.R_OK):
        raise ClusterFormatError(name, "the server has no permission to read this file")
    detect_format(path)
    try:
        first = next(read_clusters(path), None)
    except OSError as error:
        raise ClusterFormatError(name, f"cannot read the file ({error})") from None
    if first is None:
        raise ClusterFormatError(name, "the file has no clusters")


def server_path(text: object) -> Path:
    """Return the absolute, resolved path of a typed server path, taking relative paths from the project root.

    Raises:
        InputError: for an empty box.
    """
    typed = str(text or "").strip()
    if not typed:
        raise InputError("type the path of a cluster file on the server")
    path = Path(typed).expanduser()
    return (path if path.is_absolute() else PROJECT_ROOT / path).resolve()


def server_path_source(text: object) -> dict:
    """Validate a typed server path and return its ``reward-source`` store value.

    Raises:
        InputError: for an empty box, or a path that is not a readable cluster file.
    """
    path = server_path(text)
    check_cluster_file(path, str(path))
    return {"kind": SERVER_PATH, "path": str(path)}


def upload_source(contents: str | None, filename: str | None, uploads_dir: Path) -> dict:
    """Store an uploaded cluster file, check its first cluster and return its ``reward-source`` store value.

    A file whose first cluster cannot be read is deleted again.

    Raises:
        InputError: for an upload that cannot be decoded, an unsupported file
            name, or content that is not a cluster file, naming the uploaded file.
    """
    name = filename or "upload"
    suffix = upload_suffix(filename, CLUSTER_SUFFIXES)
    digest, path = store_bytes(decode_upload(contents, filename), uploads_dir, suffix)
    try:
        check_cluster_file(path, name)
    except ClusterFormatError as error:
        path.unlink(missing_ok=True)
        raise rename_source(error, name) from None
    logger.info("stored upload %r as %s", name, path)
    return {"kind": UPLOAD, "digest": digest, "suffix": suffix, "name": name}


def source_from_form(
    from_upload: bool, contents: str | None, filename: str | None, typed_path: object, uploads_dir: Path
) -> dict | None:
    """Return the source store value of a dataset picker's upload or typed server path.

    Args:
        from_upload: Whether the upload box fired, rather than the path box or its button.
        contents, filename: The upload box's values.
        typed_path: The path box's text.
        uploads_dir: Folder of stored uploads.

    Returns:
        The store value, or None for an upload event without contents.

    Raises:
        InputError: for a file that cannot be used (see :func:`upload_source` and :func:`server_path_source`).
    """
    if from_upload:
        return None if contents is None else upload_source(contents, filename, uploads_dir)
    return server_path_source(typed_path)


def source_label(source: object, context: DashboardContext) -> str:
    """Return the one-line description of a source store value: its origin and name, or why it cannot be used."""
    try:
        dataset = resolve_source(source, context)
    except InputError as error:
        return f"The chosen file cannot be used: {error}"
    return f"{dataset.origin}: {dataset.name}"


def resolve_source(source: object, context: DashboardContext) -> DatasetFile:
    """Resolve a ``reward-source`` store value to a dataset file.

    Raises:
        InputError: for a store value of unknown form, an invalid upload
            reference, or an upload or server file that no longer exists.
    """
    if source is None:
        dataset = context.settings.dataset
        return DatasetFile(None, dataset, dataset.name, "Dataset")
    if not isinstance(source, dict):
        raise InputError(f"invalid dataset choice {source!r}")
    kind = source.get("kind")
    if kind == UPLOAD:
        path = stored_path(context.uploads_dir, source.get("digest", ""), source.get("suffix", ""), CLUSTER_SUFFIXES)
        name = str(source.get("name", path.name))
        if not path.is_file():
            raise InputError(f"uploaded file {name!r} is no longer on the server; upload it again")
        return DatasetFile(source, path, name, "Uploaded file")
    if kind == SERVER_PATH:
        path = server_path(source.get("path"))
        if not path.is_file():
            raise ClusterFormatError(str(path), "file not found")
        return DatasetFile(source, path, str(path), "File on the server")
    raise InputError(f"invalid dataset choice {source!r}; expected an upload or a server path")


def compute_into_cache(
    cache_dir: Path, dataset: DatasetFile, progress: Callable[[int, int], object] | None = None
) -> int:
    """Compute the component table of a dataset into the on-disk cache and return its number of clusters.

    Meant for a background process: it opens its own handle on the cache,
    and an unchanged file already in the cache costs one hash of the file.

    Raises:
        InputError: if the file is not a readable cluster file or has no clusters.
    """
    check_cluster_file(dataset.path, dataset.name)
    cache = ComponentCache(cache_dir)
    try:
        table = cache.table_for_file(dataset.path, progress)
    finally:
        cache.close()
    return len(table)


def predict_into_cache(
    cache_dir: Path, dataset: DatasetFile, model: str, progress: Callable[[int, int], object] | None = None
) -> int:
    """Predict every cluster's energy with a surrogate into the on-disk cache and return the number of clusters.

    Meant for a background process, like :func:`compute_into_cache`.

    Raises:
        InputError: if the file cannot be read or ``model`` is not a usable model folder.
    """
    cache = ComponentCache(cache_dir)
    try:
        predicted = cache.predictions_for_file(dataset.path, model, progress)
    finally:
        cache.close()
    return len(predicted)


class ComponentTables:
    """Component tables of recently used datasets, read from the on-disk cache and kept in memory.

    Args:
        cache_dir: Folder of the :class:`~engine.components.ComponentCache`.
        max_tables: Tables kept in memory. The least recently used one is dropped first.
    """

    def __init__(self, cache_dir: Path, max_tables: int = MAX_TABLES_IN_MEMORY):
        self.cache_dir = cache_dir
        self.max_tables = max_tables
        self._tables: OrderedDict[str, ComponentTable] = OrderedDict()
        self._predictions: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._failures: dict[tuple[str, str], tuple[str, bool]] = {}
        self._cache: ComponentCache | None = None
        self._lock = threading.Lock()

    def in_memory(self, dataset: DatasetFile) -> ComponentTable | None:
        """Return the table of ``dataset`` if it is in memory, else None."""
        key = dataset.version_key()
        with self._lock:
            table = self._tables.get(key)
            if table is not None:
                self._tables.move_to_end(key)
            return table

    def load(self, dataset: DatasetFile) -> ComponentTable:
        """Return the table of ``dataset``: from memory, else from the on-disk cache.

        A table missing from the disk cache as well (the folder was cleared)
        is computed here, in the calling process.

        Raises:
            InputError: if the file cannot be read.
        """
        table = self.in_memory(dataset)
        if table is not None:
            return table
        key = dataset.version_key()
        with self._lock, SQLITE_LOCK:
            if self._cache is None:
                self._cache = ComponentCache(self.cache_dir)
            table = self._cache.table_for_file(dataset.path)
            self._tables[key] = table
            while len(self._tables) > self.max_tables:
                self._tables.popitem(last=False)
        logger.info("component table of %s loaded (%d clusters)", dataset.name, len(table))
        return table

    def _prediction_key(self, dataset: DatasetFile, model: str) -> tuple[str, str]:
        return dataset.version_key(), weights_version(model)

    def predictions_in_memory(self, dataset: DatasetFile, model: str) -> np.ndarray | None:
        """Return the energies ``model`` predicted for ``dataset`` if they are in memory, else None."""
        key = self._prediction_key(dataset, model)
        with self._lock:
            predicted = self._predictions.get(key)
            if predicted is not None:
                self._predictions.move_to_end(key)
            return predicted

    def cached_predictions(self, dataset: DatasetFile, model: str) -> np.ndarray | None:
        """Return the energies ``model`` predicted for ``dataset``: from memory, else from the on-disk cache.

        Nothing is predicted here: predictions missing from both are computed
        by the background process (:func:`predict_into_cache`), so this
        returns None for them.

        Raises:
            InputError: if the model's weights cannot be read.
            OSError: if the file cannot be read.
        """
        predicted = self.predictions_in_memory(dataset, model)
        if predicted is not None:
            return predicted
        key = self._prediction_key(dataset, model)
        with self._lock, SQLITE_LOCK:
            if self._cache is None:
                self._cache = ComponentCache(self.cache_dir)
            cache = self._cache
        # Hashing the file and the weights happens outside this object's lock, so callbacks that
        # only read memory do not wait for it.
        with SQLITE_LOCK:
            predicted = cache.cached_predictions(dataset.path, model)
        if predicted is None:
            return None
        with self._lock:
            self._predictions[key] = predicted
            self._failures.pop(key, None)
            while len(self._predictions) > self.max_tables:
                self._predictions.popitem(last=False)
        logger.info("predicted energies of %s by %s loaded", dataset.name, model)
        return predicted

    def record_failure(self, dataset: DatasetFile, model: str, message: str, retry: bool = False) -> None:
        """Remember why ``model`` could not predict ``dataset``.

        Failures live in this server process's memory and are shared by all
        browser sessions. While one is recorded, the charts show it and the
        Reward page does not request the same predictions again, until the
        file or the model changes or the server restarts. One recorded with
        ``retry`` (a cancelled prediction) is deleted by :meth:`failure`
        when called with ``retry``, on the next change of the weights.
        """
        with self._lock:
            self._failures[self._prediction_key(dataset, model)] = (message, retry)

    def failure(self, dataset: DatasetFile, model: str, retry: bool = False) -> str | None:
        """Return why ``model`` could not predict ``dataset``, or None.

        With ``retry``, a failure recorded as worth retrying is forgotten and None is returned.
        """
        key = self._prediction_key(dataset, model)
        with self._lock:
            recorded = self._failures.get(key)
            if recorded is None:
                return None
            if retry and recorded[1]:
                del self._failures[key]
                return None
            return recorded[0]


def water_graphs(path: Path) -> tuple[WaterGraph, ...]:
    """Return the water graph of every cluster of a file, in file order, cached per file version.

    NOTE: the first call reads the whole file in the calling (server) process,
    which took about 4 s for the 23,520 HydroNet records, so the first click
    on a large dataset's chart waits that long.
    """
    stat = path.stat()
    return _water_graphs(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=MAX_GRAPH_SETS)
def _water_graphs(path: str, mtime_ns: int, size: int) -> tuple[WaterGraph, ...]:
    return tuple(cluster.water_graph for cluster in read_clusters(path))

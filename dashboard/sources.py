"""Datasets and pathways files behind the pages, cached in memory per file version.

Each cache is keyed by the file's path, modification time and size, so a
file that changes on disk is read again, and an unchanged one is described
only once per server process.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engine.cluster import Cluster
from engine.descriptors import describe
from engine.errors import ClusterFormatError
from engine.graphs import WaterGraph
from engine.io import read_clusters
from engine.pathways import PathwaysFile, load_pathways
from engine.reward import DEFAULT_WEIGHTS, score
from engine.summary import describe_record

from dashboard.graph_view import Position, layout_positions

logger = logging.getLogger(__name__)

#: Columns of the dataset table, in display order.
TABLE_COLUMNS = (
    "source",
    "frame",
    "energy",
    "n_waters",
    "n_hbonds",
    "degree_mean",
    "degree_variance",
    "rings_3",
    "rings_4",
    "rings_5",
    "rings_6",
    "connected",
    "diameter",
    "aspl",
    "wiener_index",
    "reward",
)
#: Number of datasets and pathways files kept in memory.
CACHE_SIZE = 8


@dataclass(frozen=True)
class DatasetTable:
    """The clusters of one file and their table rows, in file order.

    Attributes:
        path: File the clusters were read from.
        clusters: The clusters.
        rows: One dict per cluster with the keys of :data:`TABLE_COLUMNS`
            and ``reward_components``.
    """

    path: Path
    clusters: tuple[Cluster, ...]
    rows: tuple[dict, ...]

    def sizes(self) -> list[int]:
        """Return the distinct cluster sizes, in waters, ascending."""
        return sorted({cluster.n_waters for cluster in self.clusters})

    def index_of(self, frame: int) -> int:
        """Return the position of a frame's cluster in :attr:`clusters` and :attr:`rows`.

        Raises:
            KeyError: if the file has no such frame.
        """
        for index, cluster in enumerate(self.clusters):
            if cluster.frame == frame:
                return index
        raise KeyError(f"{self.path.name} has no frame {frame}")


def cluster_row(cluster: Cluster, source_name: str) -> dict:
    """Build the table row of one cluster: descriptors, energy and reward under the default weights."""
    descriptors = describe(cluster.water_graph)
    reward = score(cluster.water_graph, DEFAULT_WEIGHTS, descriptors, cluster.atomic_graph)
    record = describe_record(descriptors, reward)
    row = {"source": source_name, "frame": cluster.frame, "energy": cluster.energy}
    row.update({key: record[key] for key in TABLE_COLUMNS if key in record})
    row["reward_components"] = record["reward_components"]
    return row


def dataset_table(path: str | Path, source_name: str | None = None) -> DatasetTable:
    """Read and describe every cluster of a file, or return the cached result.

    Args:
        path: Cluster file (any format that :func:`engine.io.read_clusters` reads).
        source_name: Name shown in the ``source`` column; the file name by default.

    Raises:
        ClusterFormatError: if the file is missing or cannot be read; no
            partial table is cached.
    """
    path = Path(path)
    if not path.is_file():
        raise ClusterFormatError(source_name or str(path), "file not found")
    stat = path.stat()
    return _dataset_table(str(path), stat.st_mtime_ns, stat.st_size, source_name or path.name)


@lru_cache(maxsize=CACHE_SIZE)
def _dataset_table(path: str, mtime_ns: int, size: int, source_name: str) -> DatasetTable:
    start = time.perf_counter()
    clusters = tuple(read_clusters(path))
    rows = tuple(cluster_row(cluster, source_name) for cluster in clusters)
    logger.info("described %d clusters of %s in %.2f s", len(clusters), path, time.perf_counter() - start)
    return DatasetTable(Path(path), clusters, rows)


def pathways_file(path: str | Path) -> PathwaysFile:
    """Load and validate a pathways file, or return the cached result.

    Raises:
        PathwaysFormatError: if the file is missing or not a pathways file.
    """
    path = Path(path)
    stat = path.stat() if path.is_file() else None
    if stat is None:
        return load_pathways(path)  # raises the engine's "not found" error
    return _pathways_file(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=CACHE_SIZE)
def _pathways_file(path: str, mtime_ns: int, size: int) -> PathwaysFile:
    return load_pathways(path)


def pathway_graphs(path: str | Path, pathway: int) -> list[WaterGraph]:
    """Return the water graph of every step of one pathway."""
    return pathways_file(path).water_graphs(pathway)


def pathway_positions(path: str | Path, pathway: int) -> dict[int, Position]:
    """Return node positions for every step of one pathway, from the layout of its final graph.

    Steps only add waters and bonds, so every water of an earlier step is
    in the final graph and keeps the position computed here.
    """
    path = Path(path)
    stat = path.stat()
    return _pathway_positions(str(path), stat.st_mtime_ns, stat.st_size, pathway)


@lru_cache(maxsize=4 * CACHE_SIZE)
def _pathway_positions(path: str, mtime_ns: int, size: int, pathway: int) -> dict[int, Position]:
    final = pathways_file(path).water_graphs(pathway)[-1]
    return layout_positions(final)

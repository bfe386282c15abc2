"""Reading water clusters from files.

:func:`read_clusters` picks a reader by file name:

=========================================  ==========================================
suffix                                     format
=========================================  ==========================================
``.xyz``                                   multi-frame xyz, energy first on the comment line
``.extxyz``                                extended xyz, ``energy=`` on the comment line
``.db``                                    ASE database
``.tfrecord``, ``.tfrecord.gz``            HydroNet graph records (no coordinates)
=========================================  ==========================================

Atoms read with coordinates are grouped into waters (each O with its two
nearest H) and put in O, H, H order; hydrogen bonds come from
:mod:`engine.bonds`. Energies are kcal/mol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from engine.bonds import GroupingError, group_waters, hbonds_from_positions
from engine.cluster import Cluster
from engine.errors import ClusterFormatError
from engine.graphs import COVALENT, HYDROGEN_BOND, AtomicGraph, GraphError, WaterGraph, water_graph_from_atomic
from engine.io import asedb, tfrecord, xyz

FORMATS: dict[str, str] = {
    ".xyz": "xyz",
    ".extxyz": "xyz",
    ".db": "ase-db",
    ".tfrecord": "tfrecord",
    ".tfrecord.gz": "tfrecord",
}


def detect_format(path: str | Path) -> str:
    """Return the format name for ``path`` from its suffix.

    Raises:
        ClusterFormatError: for a suffix that no reader handles, listing the known ones.
    """
    name = Path(path).name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    raise ClusterFormatError(str(path), f"unknown file type; known suffixes: {', '.join(FORMATS)}")


def cluster_from_positions(
    source: str, frame: int, symbols: list[str], positions: np.ndarray, energy: float | None, line: int | None = None
) -> Cluster:
    """Group atoms into waters, find hydrogen bonds and build both graphs.

    Raises:
        ClusterFormatError: if the atoms cannot be grouped into waters.
    """
    try:
        order = group_waters(symbols, positions)
    except GroupingError as error:
        raise ClusterFormatError(source, str(error), frame, line) from None
    ordered = positions[order]
    n_waters = len(order) // 3
    bonds = hbonds_from_positions(ordered)

    oxygens = 3 * np.arange(n_waters)
    covalent = np.stack([np.repeat(oxygens, 2), np.stack([oxygens + 1, oxygens + 2], axis=1).ravel()], axis=1)
    hbond_pairs = np.array([(3 * d + 1 + k, 3 * a) for d, k, a in bonds], dtype=np.int64).reshape(-1, 2)
    elements = np.tile(np.array([0, 1, 1], dtype=np.int64), n_waters)
    atomic = AtomicGraph(
        elements,
        np.concatenate([covalent, hbond_pairs]),
        np.concatenate([np.full(len(covalent), COVALENT), np.full(len(hbond_pairs), HYDROGEN_BOND)]).astype(np.int64),
    )
    water = WaterGraph(n_waters, tuple((d, a) for d, _, a in bonds))
    return Cluster(source, frame, energy, water, atomic, ordered)


def read_clusters(path: str | Path) -> Iterator[Cluster]:
    """Yield the clusters of a file, in file order.

    Raises:
        ClusterFormatError: naming the file, frame and line of the first
            problem; frames before it have been yielded already.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ClusterFormatError(source, "file not found")
    kind = detect_format(path)
    if kind == "tfrecord":
        tfrecord.warn_bond_types_derived(source)
        for index, payload in tfrecord.iter_records(path):
            atomic, energy = tfrecord.parse_record(payload, source, index)
            try:
                water = water_graph_from_atomic(atomic)
            except GraphError as error:
                raise ClusterFormatError(source, str(error), index) from None
            yield Cluster(source, index, energy, water, atomic, None)
        return
    frames: Callable[[Path], Iterator] = xyz.iter_xyz_frames if kind == "xyz" else asedb.iter_ase_db_frames
    for frame, symbols, positions, energy, line in frames(path):
        yield cluster_from_positions(source, frame, symbols, positions, energy, line)


def load_clusters(paths: list[str | Path]) -> list[Cluster]:
    """Read every cluster of every file into a list."""
    return [cluster for path in paths for cluster in read_clusters(path)]

"""The cluster record that every reader returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.graphs import AtomicGraph, WaterGraph


@dataclass(frozen=True)
class Cluster:
    """One water cluster read from a file.

    Attributes:
        source: Path of the file it was read from.
        frame: Index of the frame or record in that file, from 0.
        energy: Energy in kcal/mol, or None when the file has none.
        water_graph: Directed hydrogen-bond graph, one node per water.
        atomic_graph: O/H graph with covalent and hydrogen bonds, atoms in
            water order (O, H, H, ...).
        positions: Coordinates in Angstrom in the same atom order, shape
            ``(3 * n_waters, 3)``, or None for graph-only records.
    """

    source: str
    frame: int
    energy: float | None
    water_graph: WaterGraph
    atomic_graph: AtomicGraph
    positions: np.ndarray | None = None

    @property
    def n_waters(self) -> int:
        return self.water_graph.n_waters

"""The component table: every reward component of every cluster of a dataset.

Each reward component is computed once per cluster and kept unweighted, so
that the reward for any weights is a matrix-vector product over the table
(:meth:`ComponentTable.rewards`). The two generic degree punishments depend
on the user's target degree ``x``; the table keeps each cluster's degree
histogram and evaluates them for the requested ``x`` at scoring time.

Tables are computed in bulk with the compiled kernels of
:mod:`engine.graph_kernels` and cached on disk with diskcache by
:class:`ComponentCache`. The surrogate's component is not a column of the
table: it needs a trained model, so a model's energy predictions for a
dataset are computed and cached apart (:meth:`ComponentCache.predictions_for_file`)
and passed to :meth:`ComponentTable.rewards` and :meth:`ComponentTable.breakdown`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import diskcache
import numpy as np

from engine import graph_kernels
from engine.cluster import Cluster
from engine.errors import InputError
from engine.graphs import COVALENT, HYDROGEN_BOND, OXYGEN
from engine.io import read_clusters
from engine.reward import COMPONENTS, PATH_COMPONENTS, SURROGATE_COMPONENT, RewardWeights

logger = logging.getLogger(__name__)

#: Components evaluated from the degree histogram at scoring time.
TARGET_DEPENDENT = ("degree_square_deviation", "degree_excess")
#: Bumped whenever the computation of a component changes, so old caches are ignored.
TABLE_VERSION = 1
#: Clusters computed between two progress reports.
CHUNK_SIZE = 2000


class Cancelled(RuntimeError):
    """Raised when a progress callback requests that a table computation stop."""


@dataclass
class ComponentTable:
    """Unweighted reward components of many clusters.

    Attributes:
        values: Shape ``(n_clusters, len(COMPONENTS))``, columns in the order
            of :data:`engine.reward.COMPONENTS`. Path components of a
            disconnected cluster are 0 and the two target-dependent columns
            are 0 (see :meth:`component_matrix`).
        connected: Shape ``(n_clusters,)``, bool.
        degree_histograms: Shape ``(n_clusters, max_degree + 1)``: waters per degree.
        n_waters: Shape ``(n_clusters,)``.
        energies: Shape ``(n_clusters,)``, kcal/mol, NaN where unknown.
        sources: File of each cluster.
        frames: Frame of each cluster in its file.
    """

    values: np.ndarray
    connected: np.ndarray
    degree_histograms: np.ndarray
    n_waters: np.ndarray
    energies: np.ndarray
    sources: list[str]
    frames: np.ndarray

    def __len__(self) -> int:
        return len(self.n_waters)

    def component_matrix(self, degree_target: float) -> np.ndarray:
        """Return the full unweighted component matrix for target degree ``x``."""
        degrees = np.arange(self.degree_histograms.shape[1], dtype=float)
        matrix = self.values.copy()
        matrix[:, COMPONENTS.index("degree_square_deviation")] = self.degree_histograms @ -((degrees - degree_target) ** 2)
        matrix[:, COMPONENTS.index("degree_excess")] = self.degree_histograms @ -np.maximum(degrees - degree_target, 0)
        return matrix

    def weight_vector(self, weights: RewardWeights) -> np.ndarray:
        return np.array([weights.weight(name) for name in COMPONENTS])

    def rewards(self, weights: RewardWeights, predicted: np.ndarray | None = None) -> np.ndarray:
        """Return the reward of every cluster, shape ``(n_clusters,)``.

        Args:
            weights: The weights.
            predicted: The surrogate's energy of every cluster in kcal/mol,
                shape ``(n_clusters,)``, from the model that ``weights``
                name; needed only when the weights use the surrogate.

        Raises:
            InputError: for weights that use the surrogate without
                ``predicted``, or ``predicted`` of the wrong length.
        """
        vector = self.weight_vector(weights)
        if any(weights.weight(name) != 0.0 for name in TARGET_DEPENDENT):
            rewards = self.component_matrix(weights.degree_target) @ vector
        else:
            rewards = self.values @ vector
        if weights.uses_surrogate:
            rewards = rewards + weights.surrogate_weight * self.predicted_per_water(predicted)
        return rewards

    def predicted_per_water(self, predicted: np.ndarray | None) -> np.ndarray:
        """Return the ``predicted_energy_per_water`` column from predicted cluster energies.

        Raises:
            InputError: if ``predicted`` is None or does not have one value per cluster.
        """
        if predicted is None:
            raise InputError(
                f"{SURROGATE_COMPONENT!r} has a weight but no predictions were given; "
                "predict the dataset's energies with the model first (ComponentCache.predictions_for_file)"
            )
        predicted = np.asarray(predicted, dtype=float)
        if predicted.shape != self.n_waters.shape:
            raise InputError(f"expected {len(self)} predicted energies, one per cluster, got shape {predicted.shape}")
        return predicted / self.n_waters

    def breakdown(self, index: int, weights: RewardWeights, predicted: np.ndarray | None = None) -> dict[str, float]:
        """Return one cluster's weighted components, for those with a non-zero weight.

        ``predicted`` is as in :meth:`rewards`.
        """
        row = self.component_matrix(weights.degree_target)[index]
        parts = {name: weights.weight(name) * row[i] for i, name in enumerate(COMPONENTS) if weights.weight(name) != 0.0}
        if weights.uses_surrogate:
            parts[SURROGATE_COMPONENT] = weights.surrogate_weight * float(self.predicted_per_water(predicted)[index])
        return parts

    def absent(self, index: int) -> tuple[str, ...]:
        """Components that are absent for one cluster (path measures when disconnected)."""
        return () if self.connected[index] else PATH_COMPONENTS

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "values": self.values,
            "connected": self.connected,
            "degree_histograms": self.degree_histograms,
            "n_waters": self.n_waters,
            "energies": self.energies,
            "sources": np.array(self.sources, dtype=object),
            "frames": self.frames,
        }

    @classmethod
    def from_arrays(cls, arrays: dict) -> ComponentTable:
        return cls(
            arrays["values"],
            arrays["connected"],
            arrays["degree_histograms"],
            arrays["n_waters"],
            arrays["energies"],
            list(arrays["sources"]),
            arrays["frames"],
        )


def _graph_arrays(clusters: Sequence[Cluster]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stack the undirected water-graph edges of many clusters: ``(sizes, graph_index, u, v)``."""
    sizes = np.array([c.n_waters for c in clusters], dtype=np.int64)
    counts = np.array([c.water_graph.n_hbonds for c in clusters], dtype=np.int64)
    pairs = [np.asarray(c.water_graph.hbonds, dtype=np.int64).reshape(-1, 2) for c in clusters]
    edges = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    graph_index = np.repeat(np.arange(len(clusters)), counts)
    return sizes, graph_index, edges[:, 0], edges[:, 1]


def _degree_histograms(sizes: np.ndarray, graph_index: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Count waters per undirected degree for each graph, shape ``(n_graphs, max_degree + 1)``."""
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    keep = u != v
    lo, hi = np.minimum(u, v)[keep], np.maximum(u, v)[keep]
    global_pairs = np.unique(np.stack([offsets[graph_index[keep]] + lo, offsets[graph_index[keep]] + hi], axis=1), axis=0)
    degrees = np.bincount(global_pairs.ravel(), minlength=offsets[-1])
    owner = np.repeat(np.arange(len(sizes)), sizes)
    histograms = np.zeros((len(sizes), int(degrees.max(initial=0)) + 1))
    np.add.at(histograms, (owner, degrees), 1)
    return histograms


def _atomic_punishments(clusters: Sequence[Cluster]) -> np.ndarray:
    """Return ``like_atom_bonds``, ``covalent_count`` and ``hbond_count`` values, shape ``(n_clusters, 3)``."""
    atoms_per = np.array([c.atomic_graph.n_atoms for c in clusters], dtype=np.int64)
    atom_offsets = np.concatenate([[0], np.cumsum(atoms_per)])
    elements = np.concatenate([c.atomic_graph.elements for c in clusters])
    bonds = np.concatenate([c.atomic_graph.bonds + atom_offsets[k] for k, c in enumerate(clusters)])
    types = np.concatenate([c.atomic_graph.bond_types for c in clusters])
    bonds_per = np.array([len(c.atomic_graph.bond_types) for c in clusters], dtype=np.int64)
    bond_owner = np.repeat(np.arange(len(clusters)), bonds_per)
    atom_owner = np.repeat(np.arange(len(clusters)), atoms_per)
    i, j = bonds[:, 0], bonds[:, 1]

    like = np.bincount(bond_owner, weights=elements[i] == elements[j], minlength=len(clusters))

    covalent = types == COVALENT
    covalent_counts = np.bincount(np.concatenate([i[covalent], j[covalent]]), minlength=len(elements))
    expected = np.where(elements == OXYGEN, 2, 1)
    covalent_error = np.bincount(atom_owner, weights=np.abs(covalent_counts - expected), minlength=len(clusters))

    hbond = types == HYDROGEN_BOND
    hbond_counts = np.bincount(np.concatenate([i[hbond], j[hbond]]), minlength=len(elements))
    excess = np.maximum(hbond_counts - np.where(elements == OXYGEN, 2, 1), 0)
    hbond_excess = np.bincount(atom_owner, weights=excess, minlength=len(clusters))
    return -np.stack([like, covalent_error, hbond_excess], axis=1)


def compute_table(clusters: Sequence[Cluster]) -> ComponentTable:
    """Compute the component table of a list of clusters (no caching)."""
    if not clusters:
        raise ValueError("cannot build a component table of an empty dataset")
    sizes, graph_index, u, v = _graph_arrays(clusters)
    adjacency, offsets = graph_kernels.adjacency_masks(sizes, graph_index, u, v)
    kernel = graph_kernels.batch_descriptors(adjacency, offsets)
    histograms = _degree_histograms(sizes, graph_index, u, v)

    degrees = np.arange(histograms.shape[1], dtype=float)
    mean = histograms @ degrees / sizes
    variance = np.maximum(histograms @ degrees**2 / sizes - mean**2, 0.0)
    connected = kernel[:, graph_kernels.CONNECTED].astype(bool)
    wiener = np.where(connected, kernel[:, graph_kernels.WIENER], 0).astype(float)
    pairs = sizes * (sizes - 1) / 2
    aspl = np.divide(wiener, pairs, out=np.zeros_like(wiener), where=pairs > 0)

    columns = {
        "degree": mean - np.sqrt(variance),
        "rings_3": kernel[:, graph_kernels.RING3],
        "rings_4": kernel[:, graph_kernels.RING4],
        "rings_5": kernel[:, graph_kernels.RING5],
        "rings_6": kernel[:, graph_kernels.RING6],
        "diameter": np.where(connected, kernel[:, graph_kernels.DIAMETER], 0),
        "aspl": aspl,
        "wiener_index": wiener,
        "n_hbonds": np.array([c.water_graph.n_hbonds for c in clusters]),
        "isolated_waters": -histograms[:, 0],
        "excess_degree": -(histograms @ np.maximum(degrees - 4, 0)),
        "degree_square_deviation": np.zeros(len(clusters)),
        "degree_excess": np.zeros(len(clusters)),
    }
    punishments = _atomic_punishments(clusters)
    columns["like_atom_bonds"] = punishments[:, 0]
    columns["covalent_count"] = punishments[:, 1]
    columns["hbond_count"] = punishments[:, 2]
    values = np.stack([np.asarray(columns[name], dtype=float) for name in COMPONENTS], axis=1)
    # Adding 0.0 turns the -0.0 of negated zero counts into 0.0.
    values += 0.0

    energies = np.array([np.nan if c.energy is None else c.energy for c in clusters])
    return ComponentTable(
        values, connected, histograms, sizes, energies, [c.source for c in clusters], np.array([c.frame for c in clusters])
    )


def compute_table_chunked(
    clusters: Sequence[Cluster], progress: Callable[[int, int], bool | None] | None = None
) -> ComponentTable:
    """Compute the table in chunks, reporting ``progress(done, total)`` after each.

    Raises:
        InputError: for an empty dataset.
        Cancelled: when ``progress`` returns False.
    """
    if not clusters:
        raise InputError("the dataset has no clusters")
    parts = []
    for start in range(0, len(clusters), CHUNK_SIZE):
        parts.append(compute_table(clusters[start : start + CHUNK_SIZE]))
        if progress is not None and progress(min(start + CHUNK_SIZE, len(clusters)), len(clusters)) is False:
            raise Cancelled("component table computation cancelled")
    return concatenate_tables(parts)


def concatenate_tables(parts: list[ComponentTable]) -> ComponentTable:
    """Join tables row-wise, padding degree histograms to the widest."""
    width = max(part.degree_histograms.shape[1] for part in parts)
    histograms = [np.pad(p.degree_histograms, ((0, 0), (0, width - p.degree_histograms.shape[1]))) for p in parts]
    return ComponentTable(
        np.concatenate([p.values for p in parts]),
        np.concatenate([p.connected for p in parts]),
        np.concatenate(histograms),
        np.concatenate([p.n_waters for p in parts]),
        np.concatenate([p.energies for p in parts]),
        [s for p in parts for s in p.sources],
        np.concatenate([p.frames for p in parts]),
    )


def graphs_digest(clusters: Sequence[Cluster]) -> str:
    """Hash the water and atomic graphs and energies of a list of clusters."""
    digest = hashlib.sha256(f"table-v{TABLE_VERSION}".encode())
    for cluster in clusters:
        digest.update(np.asarray(cluster.water_graph.hbonds, dtype=np.int64).tobytes())
        digest.update(np.int64(cluster.n_waters).tobytes())
        digest.update(cluster.atomic_graph.bonds.tobytes())
        digest.update(cluster.atomic_graph.bond_types.tobytes())
        digest.update(np.float64(np.nan if cluster.energy is None else cluster.energy).tobytes())
    return digest.hexdigest()


def file_digest(path: str | Path) -> str:
    """Hash a file's bytes together with the table version."""
    digest = hashlib.sha256(f"table-v{TABLE_VERSION}".encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ComponentCache:
    """On-disk cache of component tables.

    A table read from a file is keyed by a hash of the file's bytes, so a
    reload of an unchanged file skips reading and computing; a table of
    clusters held in memory is keyed by a hash of their graphs.

    Attributes:
        hits: Number of lookups answered from the cache.
        misses: Number of lookups that computed the table.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.cache = diskcache.Cache(str(self.directory), size_limit=2**32)
        self.hits = 0
        self.misses = 0

    def table_for_file(self, path: str | Path, progress=None) -> ComponentTable:
        """Return the table of every cluster in ``path``, from the cache when the file is unchanged."""
        key = ("file", file_digest(path))
        cached = self.cache.get(key)
        if cached is not None:
            self.hits += 1
            return ComponentTable.from_arrays(cached)
        self.misses += 1
        table = compute_table_chunked(list(read_clusters(path)), progress)
        self.cache.set(key, table.to_arrays())
        logger.info("component table of %s computed (%d clusters) and cached", path, len(table))
        return table

    def table_for_clusters(self, clusters: Sequence[Cluster], progress=None) -> ComponentTable:
        """Return the table of clusters held in memory, keyed by a hash of their graphs."""
        key = ("graphs", graphs_digest(clusters))
        cached = self.cache.get(key)
        if cached is not None:
            self.hits += 1
            return ComponentTable.from_arrays(cached)
        self.misses += 1
        table = compute_table_chunked(clusters, progress)
        self.cache.set(key, table.to_arrays())
        return table

    def predictions_for_file(self, path: str | Path, model_dir: str | Path, progress=None) -> np.ndarray:
        """Return a surrogate's energy prediction for every cluster of ``path``, kcal/mol.

        Predictions are cached under the hashes of the file and of the
        model's weights, so retraining a model into the same folder, or
        changing the file, predicts again.

        Args:
            path: The cluster file.
            model_dir: Folder of a trained surrogate.
            progress: Called as ``progress(done, total)`` after each chunk;
                returning False stops the prediction.

        Raises:
            InputError: if the file cannot be read or the folder is not a usable model folder.
            Cancelled: when ``progress`` returns False.
        """
        from engine.surrogate.modeldir import model_digest

        key = self._predictions_key(path, model_dir)
        cached = self.cache.get(key)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        predicted = predict_clusters(list(read_clusters(path)), model_dir, progress)
        if model_digest(model_dir) != key[2]:
            # The weights were rewritten while predicting, so the predictions may come from either version.
            raise InputError(f"the weights in {model_dir} changed while predicting; predict again once training has finished")
        self.cache.set(key, predicted)
        logger.info("energies of %s predicted with %s (%d clusters) and cached", path, model_dir, len(predicted))
        return predicted

    def cached_predictions(self, path: str | Path, model_dir: str | Path) -> np.ndarray | None:
        """Return the cached predictions of ``model_dir`` for ``path``, or None when there are none (nothing is computed).

        Raises:
            InputError: if the folder has no readable weights.
        """
        return self.cache.get(self._predictions_key(path, model_dir))

    @staticmethod
    def _predictions_key(path: str | Path, model_dir: str | Path) -> tuple[str, str, str]:
        # The model folder module needs torch but not DGL, so computing this key does not import DGL.
        from engine.surrogate.modeldir import model_digest

        return ("predictions", file_digest(path), model_digest(model_dir))

    def close(self) -> None:
        self.cache.close()


def predict_clusters(
    clusters: Sequence[Cluster], model_dir: str | Path, progress: Callable[[int, int], bool | None] | None = None
) -> np.ndarray:
    """Predict the energy of every cluster from its atomic graph, in chunks with ``progress(done, total)``.

    Raises:
        InputError: for an empty list or a folder without a usable model.
        Cancelled: when ``progress`` returns False.
    """
    from engine.surrogate.predict import predict_atomic_graphs, resolve_model

    if not clusters:
        raise InputError("the dataset has no clusters")
    model = resolve_model(model_dir)
    parts = []
    for start in range(0, len(clusters), CHUNK_SIZE):
        chunk = clusters[start : start + CHUNK_SIZE]
        parts.append(predict_atomic_graphs(model, [c.atomic_graph for c in chunk], str(chunk[0].source)))
        if progress is not None and progress(min(start + CHUNK_SIZE, len(clusters)), len(clusters)) is False:
            raise Cancelled("energy prediction cancelled")
    return np.concatenate(parts)

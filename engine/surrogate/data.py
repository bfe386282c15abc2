"""Datasets of atomic graphs for the surrogate: conversion, caching, split and loading.

A cluster file is converted once into a :class:`GraphStore`, which keeps every
graph in flat arrays (atoms, directed bonds, per-graph offsets) together with
the energies, sizes and reward-component values used by the baselines. The
store is cached as one DGL binary: ``dgl.save_graphs`` of all graphs joined,
with the per-graph data as labels. A manifest JSON next to it records the
source file's SHA-256, so an unchanged file loads at once and a changed one is
converted again (:func:`load_dataset`).

Batches are cut from the flat arrays by :meth:`GraphStore.batch`, which gives
the same batched graph as ``dgl.batch`` of the single graphs without building
them one by one. :func:`make_loader` feeds these batches through a
``torch.utils.data.DataLoader`` with worker processes and prefetching, in an
order shuffled per epoch from a seed and sharded across data-parallel ranks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import dgl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from engine.cluster import Cluster
from engine.components import compute_table_chunked
from engine.graphs import AtomicGraph
from engine.io import read_clusters
from engine.reward import COMPONENTS
from engine.surrogate.config import SplitConfig
from engine.surrogate.errors import DatasetError

logger = logging.getLogger(__name__)

#: Bumped whenever the cached form changes, so older caches are converted again.
CACHE_FORMAT_VERSION = 1
#: Names of the three parts of a split.
SPLIT_PARTS = ("train", "validation", "test")


@dataclass
class Batch:
    """A batch of graphs ready for the model.

    Attributes:
        graph: Batched DGL graph with ``ndata["type"]`` and ``edata["type"]``.
        energies: Reference energies in kcal/mol, shape ``(B,)``, float64,
            NaN where unknown.
        n_waters: Waters per cluster, shape ``(B,)``, int64.
        indices: Position of each graph in its :class:`GraphStore`, shape ``(B,)``.
    """

    graph: dgl.DGLGraph
    energies: torch.Tensor
    n_waters: torch.Tensor
    indices: torch.Tensor

    def __len__(self) -> int:
        return int(self.indices.shape[0])


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(start, start + count)`` for every pair, without a Python loop."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    begins = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.repeat(starts - begins, counts) + np.arange(total, dtype=np.int64)


@dataclass
class GraphStore:
    """Many atomic graphs in flat arrays.

    Shapes: ``G`` graphs, ``A`` atoms and ``D`` directed bonds over all graphs.

    Attributes:
        source: File the graphs were read from (or a label for graphs built in memory).
        atom_types: ``(A,)`` int64, 0 = O, 1 = H, in water order per graph.
        atom_offsets: ``(G + 1,)`` int64: graph ``g`` owns atoms
            ``atom_offsets[g]:atom_offsets[g + 1]``.
        src: ``(D,)`` int64, source atom of each directed bond, numbered within its graph.
        dst: ``(D,)`` int64, target atom, numbered within its graph.
        bond_types: ``(D,)`` int64, 0 = covalent, 1 = hydrogen bond.
        bond_offsets: ``(G + 1,)`` int64, like ``atom_offsets`` for bonds.
        energies: ``(G,)`` float64, kcal/mol, NaN where unknown.
        n_waters: ``(G,)`` int64.
        frames: ``(G,)`` int64, frame of each graph in ``source``.
        components: ``(G, len(COMPONENTS))`` float64 reward-component values
            (:func:`engine.components.compute_table`), or None.
    """

    source: str
    atom_types: np.ndarray
    atom_offsets: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    bond_types: np.ndarray
    bond_offsets: np.ndarray
    energies: np.ndarray
    n_waters: np.ndarray
    frames: np.ndarray
    components: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.energies)

    def label(self, index: int) -> str:
        return f"{self.source} frame {int(self.frames[index])}"

    def atom_counts(self) -> np.ndarray:
        return np.diff(self.atom_offsets)

    def bond_counts(self) -> np.ndarray:
        return np.diff(self.bond_offsets)

    def type_counts(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Count O and H atoms of the given graphs, shape ``(len(indices), 2)``."""
        idx = np.asarray(indices, dtype=np.int64)
        owner = np.repeat(np.arange(len(self)), self.atom_counts())
        counts = np.zeros((len(self), 2), dtype=np.int64)
        np.add.at(counts, (owner, self.atom_types), 1)
        return counts[idx]

    def usable_indices(self) -> np.ndarray:
        """Graphs with a finite energy, the ones training can use."""
        return np.flatnonzero(np.isfinite(self.energies))

    def graph(self, index: int) -> dgl.DGLGraph:
        """Build the DGL graph of one cluster."""
        atoms = slice(self.atom_offsets[index], self.atom_offsets[index + 1])
        bonds = slice(self.bond_offsets[index], self.bond_offsets[index + 1])
        graph = dgl.graph(
            (torch.from_numpy(self.src[bonds]), torch.from_numpy(self.dst[bonds])),
            num_nodes=int(self.atom_offsets[index + 1] - self.atom_offsets[index]),
        )
        graph.ndata["type"] = torch.from_numpy(self.atom_types[atoms])
        graph.edata["type"] = torch.from_numpy(self.bond_types[bonds])
        return graph

    def batch(self, indices: Sequence[int] | np.ndarray) -> Batch:
        """Cut a batch of graphs out of the flat arrays.

        The result equals ``dgl.batch([self.graph(i) for i in indices])``.
        """
        idx = np.asarray(indices, dtype=np.int64)
        atom_counts = self.atom_offsets[idx + 1] - self.atom_offsets[idx]
        bond_counts = self.bond_offsets[idx + 1] - self.bond_offsets[idx]
        atom_positions = _ranges(self.atom_offsets[idx], atom_counts)
        bond_positions = _ranges(self.bond_offsets[idx], bond_counts)
        first_atom = np.concatenate([[0], np.cumsum(atom_counts)[:-1]])
        shift = np.repeat(first_atom, bond_counts)

        graph = dgl.graph(
            (torch.from_numpy(self.src[bond_positions] + shift), torch.from_numpy(self.dst[bond_positions] + shift)),
            num_nodes=int(atom_counts.sum()),
        )
        graph.ndata["type"] = torch.from_numpy(self.atom_types[atom_positions])
        graph.edata["type"] = torch.from_numpy(self.bond_types[bond_positions])
        graph.set_batch_num_nodes(torch.from_numpy(atom_counts))
        graph.set_batch_num_edges(torch.from_numpy(bond_counts))
        return Batch(
            graph,
            torch.from_numpy(self.energies[idx]),
            torch.from_numpy(self.n_waters[idx]),
            torch.from_numpy(idx),
        )


# --- building stores -------------------------------------------------------------------------


def store_from_graphs(
    graphs: Sequence[AtomicGraph],
    source: str,
    energies: Sequence[float | None] | None = None,
    frames: Sequence[int] | None = None,
    components: np.ndarray | None = None,
) -> GraphStore:
    """Join atomic graphs into a :class:`GraphStore`.

    Args:
        graphs: Atomic graphs, atoms in water order.
        source: File name or label stored with the graphs.
        energies: Energy of each graph in kcal/mol (None where unknown), or None for all unknown.
        frames: Frame of each graph, default ``0 .. len(graphs) - 1``.
        components: Reward-component values, shape ``(len(graphs), len(COMPONENTS))``.

    Raises:
        DatasetError: if a graph has no atoms or no bonds, naming its frame.
    """
    frames = list(range(len(graphs))) if frames is None else list(frames)
    for graph, frame in zip(graphs, frames):
        if graph.n_atoms == 0 or len(graph.bonds) == 0:
            raise DatasetError(f"{source} frame {frame}: the graph has no bonds; the model needs at least one bond")
    edges = [graph.directed_edges() for graph in graphs]
    atom_counts = np.array([graph.n_atoms for graph in graphs], dtype=np.int64)
    bond_counts = np.array([len(src) for src, _, _ in edges], dtype=np.int64)
    values = [np.nan if energy is None else float(energy) for energy in (energies or [None] * len(graphs))]

    def join(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    return GraphStore(
        source=source,
        atom_types=join([graph.elements for graph in graphs]),
        atom_offsets=np.concatenate([[0], np.cumsum(atom_counts)]).astype(np.int64),
        src=join([src for src, _, _ in edges]),
        dst=join([dst for _, dst, _ in edges]),
        bond_types=join([types for _, _, types in edges]),
        bond_offsets=np.concatenate([[0], np.cumsum(bond_counts)]).astype(np.int64),
        energies=np.array(values, dtype=np.float64),
        n_waters=atom_counts // 3,
        frames=np.array(frames, dtype=np.int64),
        components=components,
    )


def store_from_clusters(clusters: Sequence[Cluster], source: str, with_components: bool = True) -> tuple[GraphStore, list[int]]:
    """Build a store from clusters, leaving out graphs without bonds.

    Returns:
        The store and the frames left out because their graph has no bonds.
    """
    has_bonds = [bool(cluster.atomic_graph.n_atoms and len(cluster.atomic_graph.bonds)) for cluster in clusters]
    kept = [cluster for cluster, usable in zip(clusters, has_bonds) if usable]
    skipped = [cluster.frame for cluster, usable in zip(clusters, has_bonds) if not usable]
    components = compute_table_chunked(kept).values if (kept and with_components) else None
    store = store_from_graphs(
        [cluster.atomic_graph for cluster in kept],
        source,
        [cluster.energy for cluster in kept],
        [cluster.frame for cluster in kept],
        components,
    )
    return store, skipped


# --- the cache -------------------------------------------------------------------------------


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class CachePaths:
    """Files of one cached dataset: the DGL binary and its manifest."""

    graphs: Path
    manifest: Path

    @classmethod
    def for_source(cls, source: str | Path, cache_dir: str | Path) -> CachePaths:
        source = Path(source).resolve()
        # The path hash keeps two files of the same name in one cache apart.
        stem = f"{source.name}-{hashlib.sha1(str(source).encode()).hexdigest()[:8]}"
        directory = Path(cache_dir)
        return cls(directory / f"{stem}.graphs.bin", directory / f"{stem}.manifest.json")


def _save_store(store: GraphStore, path: Path) -> None:
    """Write all graphs as one joined DGL graph, with per-graph arrays as labels."""
    shift = np.repeat(store.atom_offsets[:-1], store.bond_counts())
    joined = dgl.graph(
        (torch.from_numpy(store.src + shift), torch.from_numpy(store.dst + shift)), num_nodes=len(store.atom_types)
    )
    joined.ndata["type"] = torch.from_numpy(store.atom_types)
    joined.edata["type"] = torch.from_numpy(store.bond_types)
    labels = {
        "atom_counts": torch.from_numpy(store.atom_counts()),
        "bond_counts": torch.from_numpy(store.bond_counts()),
        "energies": torch.from_numpy(store.energies),
        "n_waters": torch.from_numpy(store.n_waters),
        "frames": torch.from_numpy(store.frames),
    }
    if store.components is not None:
        labels["components"] = torch.from_numpy(store.components)
    temporary = path.with_name(path.name + f".tmp{os.getpid()}")
    dgl.save_graphs(str(temporary), [joined], labels)
    os.replace(temporary, path)


def _load_store(path: Path, source: str) -> GraphStore:
    graphs, labels = dgl.load_graphs(str(path))
    joined = graphs[0]
    atom_offsets = np.concatenate([[0], np.cumsum(labels["atom_counts"].numpy())]).astype(np.int64)
    bond_counts = labels["bond_counts"].numpy()
    src, dst = (part.numpy().astype(np.int64) for part in joined.edges())
    shift = np.repeat(atom_offsets[:-1], bond_counts)
    return GraphStore(
        source=source,
        atom_types=joined.ndata["type"].numpy().astype(np.int64),
        atom_offsets=atom_offsets,
        src=src - shift,
        dst=dst - shift,
        bond_types=joined.edata["type"].numpy().astype(np.int64),
        bond_offsets=np.concatenate([[0], np.cumsum(bond_counts)]).astype(np.int64),
        energies=labels["energies"].numpy().astype(np.float64),
        n_waters=labels["n_waters"].numpy().astype(np.int64),
        frames=labels["frames"].numpy().astype(np.int64),
        components=labels["components"].numpy() if "components" in labels else None,
    )


@dataclass(frozen=True)
class ConversionResult:
    """Outcome of :func:`load_dataset`.

    Attributes:
        store: The graphs.
        converted: True when the source was read and converted in this call,
            False when the cache was up to date.
        manifest: Contents of the manifest JSON.
        seconds: Wall time of the call.
    """

    store: GraphStore
    converted: bool
    manifest: dict
    seconds: float


def _read_manifest(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_dataset(source: str | Path, cache_dir: str | Path, force: bool = False) -> ConversionResult:
    """Load the graphs of a cluster file from the cache, converting the file when needed.

    The cache is used when its manifest has the current cache format version
    and the SHA-256 of the source file. Otherwise the file is read again and
    the cache rewritten: binary first, manifest last, each by an atomic rename.

    Raises:
        DatasetError: if the file has no cluster with at least one bond.
        engine.errors.ClusterFormatError: if the file cannot be read.
    """
    started = time.perf_counter()
    source = Path(source)
    if not source.is_file():
        raise DatasetError(f"data file {source} not found")
    paths = CachePaths.for_source(source, cache_dir)
    digest = file_sha256(source)
    manifest = _read_manifest(paths.manifest)
    fresh = (
        not force
        and manifest is not None
        and manifest.get("format_version") == CACHE_FORMAT_VERSION
        and manifest.get("source_sha256") == digest
        and paths.graphs.is_file()
    )
    if fresh:
        store = _load_store(paths.graphs, str(source))
        logger.info("loaded %d graphs of %s from cache %s", len(store), source, paths.graphs)
        return ConversionResult(store, False, manifest, time.perf_counter() - started)

    clusters = list(read_clusters(source))
    store, skipped = store_from_clusters(clusters, str(source))
    if skipped:
        logger.warning("%s: left out %d graphs without bonds (frames %s)", source, len(skipped), _frame_list(skipped))
    if len(store) == 0:
        raise DatasetError(
            f"{source}: no usable graphs: {len(clusters)} clusters read, {len(skipped)} without bonds"
        )
    paths.graphs.parent.mkdir(parents=True, exist_ok=True)
    _save_store(store, paths.graphs)
    manifest = {
        "format_version": CACHE_FORMAT_VERSION,
        "source": str(source.resolve()),
        "source_sha256": digest,
        "n_clusters": len(clusters),
        "n_graphs": len(store),
        "n_with_energy": int(np.isfinite(store.energies).sum()),
        "skipped_without_bonds": skipped,
        "components": list(COMPONENTS),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    temporary = paths.manifest.with_name(paths.manifest.name + f".tmp{os.getpid()}")
    temporary.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(temporary, paths.manifest)
    logger.info("converted %d graphs of %s into %s", len(store), source, paths.graphs)
    return ConversionResult(store, True, manifest, time.perf_counter() - started)


def _frame_list(frames: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(frame) for frame in frames[:limit])
    return shown + (f" and {len(frames) - limit} more" if len(frames) > limit else "")


# --- split -----------------------------------------------------------------------------------


def split_sizes(n_graphs: int, split: SplitConfig) -> tuple[int, int, int]:
    """Number of train, validation and test graphs; each part gets at least one graph.

    Raises:
        DatasetError: if there are fewer than 3 graphs.
    """
    if n_graphs < 3:
        raise DatasetError(f"a train/validation/test split needs at least 3 graphs with energies, got {n_graphs}")
    n_validation = max(1, int(round(split.validation * n_graphs)))
    n_test = max(1, int(round(split.test * n_graphs)))
    n_train = n_graphs - n_validation - n_test
    if n_train < 1:
        n_train, n_validation = 1, n_graphs - n_test - 1
    return n_train, n_validation, n_test


def make_split(store: GraphStore, split: SplitConfig) -> dict[str, np.ndarray]:
    """Split the graphs with energies into train, validation and test parts.

    The order is a permutation drawn from ``split.seed``, so the same store and
    config always give the same split. With ``split.train_limit`` the
    training part is cut to the first graphs of that order, and the
    validation and test parts do not change.

    Returns:
        Store indices of each part, keyed by the names in :data:`SPLIT_PARTS`.

    Raises:
        DatasetError: if fewer than 3 graphs have an energy.
    """
    usable = store.usable_indices()
    if len(usable) == 0:
        raise DatasetError(f"{store.source}: no usable graphs: none of the {len(store)} graphs has an energy")
    n_train, n_validation, _ = split_sizes(len(usable), split)
    order = usable[np.random.default_rng(split.seed).permutation(len(usable))]
    n_used = n_train if split.train_limit is None else min(n_train, split.train_limit)
    return {
        "train": np.sort(order[:n_used]),
        "validation": np.sort(order[n_train : n_train + n_validation]),
        "test": np.sort(order[n_train + n_validation :]),
    }


# --- loading ---------------------------------------------------------------------------------


class ShardedBatchSampler(Sampler):
    """Batches of store indices in an order shuffled per epoch and sharded across ranks.

    Each epoch, the indices are permuted with a generator seeded by
    ``(seed, epoch)``. With ``pad`` the order is lengthened by repeating its
    start until it divides evenly among ranks, so every rank gets the same
    number of batches, as ``torch.utils.data.DistributedSampler`` does. Rank
    ``r`` then takes every ``world_size``-th index starting at ``r``. A single
    process with batch size ``world_size * batch_size`` therefore gets the same
    global batches as ``world_size`` ranks together.

    Args:
        indices: Store indices to draw from.
        batch_size: Graphs per batch on this rank.
        shuffle: Permute the indices each epoch; otherwise keep their order.
        seed: Seed of the permutation.
        rank: This process's rank.
        world_size: Number of ranks.
        pad: Repeat indices so all ranks get equally many (training); without
            it, ranks may get one index fewer (evaluation).
    """

    def __init__(
        self,
        indices: np.ndarray,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        pad: bool = True,
    ):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
        self.indices = np.asarray(indices, dtype=np.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.pad = pad
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def shard(self) -> np.ndarray:
        """Return this rank's indices for the current epoch, in batch order."""
        order = self.indices
        if self.shuffle:
            order = order[np.random.default_rng([self.seed, self.epoch]).permutation(len(order))]
        if self.pad and len(order) % self.world_size:
            extra = self.world_size - len(order) % self.world_size
            order = np.concatenate([order, np.resize(order, extra)])
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        shard = self.shard()
        for start in range(0, len(shard), self.batch_size):
            yield shard[start : start + self.batch_size].tolist()

    def __len__(self) -> int:
        n = len(self.indices)
        per_rank = math.ceil(n / self.world_size) if self.pad else len(range(self.rank, n, self.world_size))
        return math.ceil(per_rank / self.batch_size)


class _IndexDataset(Dataset):
    """Dataset whose items are their own indices; the collate function builds the batch."""

    def __init__(self, size: int):
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> int:
        return index


def make_loader(
    store: GraphStore,
    sampler: ShardedBatchSampler,
    workers: int = 0,
    prefetch: int = 2,
) -> DataLoader:
    """Build a loader that yields :class:`Batch` objects in the sampler's order.

    Args:
        store: Graphs to draw from.
        sampler: Batches of store indices; call its ``set_epoch`` before each epoch.
        workers: Worker processes that cut batches; 0 cuts them in this process.
        prefetch: Batches each worker keeps ready ahead of the training loop.
    """
    return DataLoader(
        _IndexDataset(len(store)),
        batch_sampler=sampler,
        collate_fn=store.batch,
        num_workers=workers,
        prefetch_factor=prefetch if workers > 0 else None,
        persistent_workers=workers > 0,
    )

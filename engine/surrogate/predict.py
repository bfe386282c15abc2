"""Prediction with a trained surrogate: from a model directory to energies in kcal/mol.

:func:`predict_water_graphs` is the entry point for other parts of the engine
(for example a reward component): it takes the water graphs of a search,
converts them with :func:`engine.graphs.atomic_graph_from_water` and returns
one energy per graph. Loaded models are cached per directory and reloaded
when ``model.pt`` changes.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from engine.graphs import AtomicGraph, WaterGraph, atomic_graph_from_water
from engine.io import read_clusters
from engine.surrogate.config import SurrogateConfig
from engine.surrogate.data import GraphStore, store_from_graphs
from engine.surrogate.errors import ModelMismatchError
from engine.surrogate.evaluation import predict_indices
from engine.surrogate.model import EnergyModel, build_model
from engine.surrogate.modeldir import ModelDirectory

logger = logging.getLogger(__name__)

#: Graphs per prediction batch.
PREDICT_BATCH_SIZE = 1024


@dataclass(frozen=True)
class LoadedModel:
    """A trained model ready for prediction (evaluation mode).

    Attributes:
        model: The network with its best weights.
        config: Config it was trained with.
        metadata: Contents of ``model.json``.
        directory: Model directory it was read from.
        epoch: Epoch of the weights.
    """

    model: EnergyModel
    config: SurrogateConfig
    metadata: dict
    directory: Path
    epoch: int


def _weight_differences(expected: dict, stored: dict) -> list[str]:
    problems = [f"missing {name}" for name in expected if name not in stored]
    problems += [f"unexpected {name}" for name in stored if name not in expected]
    for name, tensor in expected.items():
        if name in stored and tuple(stored[name].shape) != tuple(tensor.shape):
            problems.append(f"{name} has shape {tuple(stored[name].shape)}, the config needs {tuple(tensor.shape)}")
    return problems


def load_model(path: str | Path) -> LoadedModel:
    """Load the best weights of a model directory.

    Raises:
        ModelMismatchError: if the directory is of another format version, its
            config does not fit this program, or the weights do not fit the config.
    """
    directory = ModelDirectory(path)
    metadata = directory.read_metadata()
    config = directory.read_config()
    saved = directory.load_weights()
    model = build_model(config.model)
    problems = _weight_differences(model.state_dict(), saved["state_dict"])
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ModelMismatchError(f"{directory.weights_path}: the weights do not fit the stored config: {shown}")
    model.load_state_dict(saved["state_dict"])
    model.eval()
    return LoadedModel(model, config, metadata, directory.path, int(saved["epoch"]))


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, modified_ns: int) -> LoadedModel:
    return load_model(path)


def resolve_model(model: str | Path | LoadedModel) -> LoadedModel:
    """Return ``model`` itself, or the cached model of a directory (reloaded when ``model.pt`` changed)."""
    if isinstance(model, LoadedModel):
        return model
    weights = ModelDirectory(model).weights_path
    modified = weights.stat().st_mtime_ns if weights.is_file() else 0
    return _load_cached(str(Path(model).resolve()), modified)


def predict_store(model: str | Path | LoadedModel, store: GraphStore, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
    """Predict every graph of a store; energies in kcal/mol, shape ``(len(store),)``."""
    loaded = resolve_model(model)
    return predict_indices(loaded.model, store, np.arange(len(store)), batch_size)


def predict_atomic_graphs(model: str | Path | LoadedModel, graphs: Sequence[AtomicGraph], source: str = "graphs") -> np.ndarray:
    """Predict the energies of atomic graphs, kcal/mol, shape ``(len(graphs),)``.

    Raises:
        engine.surrogate.errors.DatasetError: if a graph has no bonds.
    """
    if len(graphs) == 0:
        return np.zeros(0)
    return predict_store(model, store_from_graphs(list(graphs), source))


def predict_water_graphs(model: str | Path | LoadedModel, water_graphs: Sequence[WaterGraph]) -> np.ndarray:
    """Predict the energies of water graphs (for example from a search), kcal/mol.

    Args:
        model: Model directory or a :class:`LoadedModel`.
        water_graphs: Graphs with one node per water; each is converted with
            :func:`engine.graphs.atomic_graph_from_water`.

    Returns:
        Energies in kcal/mol, shape ``(len(water_graphs),)``, float64.

    NOTE: graphs larger than the largest cluster of the training data are
    extrapolated (see :func:`engine.surrogate.model.fit_size_offsets`), with
    errors of 10 kcal/mol and more on the global minima of 12 to 30 waters.
    """
    return predict_atomic_graphs(model, [atomic_graph_from_water(graph) for graph in water_graphs], "water graphs")


def predict_file(model: str | Path | LoadedModel, path: str | Path, batch_size: int = PREDICT_BATCH_SIZE) -> Iterator[dict]:
    """Yield one record per cluster of a file: source, frame, n_waters, predicted_energy, energy.

    Raises:
        engine.surrogate.errors.DatasetError: if a cluster's graph has no bonds.
        engine.errors.ClusterFormatError: if the file cannot be read.
    """
    loaded = resolve_model(model)
    clusters = list(read_clusters(path))
    if not clusters:
        return
    store = store_from_graphs([c.atomic_graph for c in clusters], str(path), [c.energy for c in clusters],
                              [c.frame for c in clusters])
    predicted = predict_store(loaded, store, batch_size)
    for cluster, energy in zip(clusters, predicted):
        yield {
            "source": cluster.source,
            "frame": cluster.frame,
            "n_waters": cluster.n_waters,
            "predicted_energy": float(energy),
            "energy": cluster.energy,
        }


def predict_pathways_file(model: str | Path | LoadedModel, path: str | Path) -> Iterator[dict]:
    """Yield one record per step of every pathway in a search's pathways file.

    Each record has the keys of :func:`predict_file` (``frame`` counts the
    steps of all pathways from 0, ``energy`` is None) plus ``pathway`` (its
    rank) and ``step``.

    Raises:
        engine.pathways.PathwaysFormatError: if the file is not a pathways file.
    """
    from engine.pathways import load_pathways

    pathways = load_pathways(path)
    places, graphs = [], []
    for index, pathway in enumerate(pathways.pathways):
        for step, graph in enumerate(pathways.water_graphs(index)):
            places.append((pathway.rank, step))
            graphs.append(graph)
    predicted = predict_water_graphs(model, graphs)
    for frame, ((rank, step), graph, energy) in enumerate(zip(places, graphs, predicted)):
        yield {
            "source": str(path),
            "frame": frame,
            "n_waters": graph.n_waters,
            "predicted_energy": float(energy),
            "energy": None,
            "pathway": rank,
            "step": step,
        }

"""The graph-theoretic reward: named components, weights and the breakdown.

The reward of a water graph is ``sum(weight[name] * value[name])`` over the
named components below. Every component's weighted value is reported so the
dashboard can show the breakdown.

Components:

``degree``
    The step reward of the design method, ``E(D) - sqrt(var(D))`` over the
    undirected degrees ``D`` of the waters: high when waters are evenly and
    highly coordinated.
``rings_3`` .. ``rings_6``
    Number of chordless rings of that many waters.
``diameter``, ``aspl``, ``wiener_index``
    Path measures; they contribute 0 when the graph is disconnected, and
    the breakdown marks them as absent (see :class:`RewardBreakdown`).
``n_hbonds``
    Number of hydrogen bonds.

Punishments (their values are 0 or negative, so a positive weight lowers the
reward):

``isolated_waters``
    ``-`` the number of waters without any hydrogen bond.
``excess_degree``
    ``-sum relu(D(v) - 4)``: waters with more than four neighbours.
``like_atom_bonds``
    ``-`` the number of O-O or H-H bonds in the atomic graph.
``covalent_count``
    ``-sum |covalent bonds - expected|`` over atoms (2 for O, 1 for H).
``hbond_count``
    ``-`` the excess of hydrogen bonds: each O accepts at most 2, each H
    donates at most 1.
``degree_square_deviation``
    ``-sum (D(v) - x)^2`` with the user-set target degree ``x``.
``degree_excess``
    ``-sum relu(D(v) - x)`` with the same ``x``.

A trained surrogate adds one more component, ``predicted_energy_per_water``:
the surrogate's energy prediction divided by the number of waters, in
kcal/mol. Lower energy is better, so a useful weight is negative. It is set
apart from the table components above (:attr:`RewardWeights.surrogate_weight`
and :attr:`RewardWeights.surrogate_model`) because it needs a model folder
and is computed per graph, not from the cached component table.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.descriptors import Descriptors, describe
from engine.errors import InputError
from engine.graphs import COVALENT, HYDROGEN_BOND, OXYGEN, AtomicGraph, WaterGraph, atomic_graph_from_water

DEGREE_COMPONENTS = ("degree",)
RING_COMPONENTS = ("rings_3", "rings_4", "rings_5", "rings_6")
PATH_COMPONENTS = ("diameter", "aspl", "wiener_index")
COUNT_COMPONENTS = ("n_hbonds",)
PUNISHMENTS = (
    "isolated_waters",
    "excess_degree",
    "like_atom_bonds",
    "covalent_count",
    "hbond_count",
    "degree_square_deviation",
    "degree_excess",
)
#: Every component name, in display order.
COMPONENTS = DEGREE_COMPONENTS + RING_COMPONENTS + PATH_COMPONENTS + COUNT_COMPONENTS + PUNISHMENTS
#: Component groups as shown in the dashboard.
COMPONENT_GROUPS = {
    "degree": DEGREE_COMPONENTS + COUNT_COMPONENTS,
    "rings": RING_COMPONENTS,
    "paths": PATH_COMPONENTS,
    "punishments": PUNISHMENTS,
}
#: Name of the surrogate's component in reward breakdowns.
SURROGATE_COMPONENT = "predicted_energy_per_water"
#: Default target degree ``x`` of the generic degree punishments.
DEFAULT_DEGREE_TARGET = 4.0


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the reward components.

    Attributes:
        weights: Component name to weight; missing components weigh 0.
        degree_target: The ``x`` of ``degree_square_deviation`` and ``degree_excess``.
        surrogate_weight: Weight of ``predicted_energy_per_water``.
        surrogate_model: Folder of the trained surrogate that predicts it;
            required when ``surrogate_weight`` is not 0.
    """

    weights: dict[str, float] = field(default_factory=dict)
    degree_target: float = DEFAULT_DEGREE_TARGET
    surrogate_weight: float = 0.0
    surrogate_model: str | None = None

    def __post_init__(self) -> None:
        validate_weights(self.weights, self.degree_target)
        if not _is_finite_number(self.surrogate_weight):
            raise InputError(f"surrogate weight must be a finite number, got {self.surrogate_weight!r}")
        if self.surrogate_model is not None and not isinstance(self.surrogate_model, str):
            raise InputError(f"surrogate model must be a folder path, got {self.surrogate_model!r}")
        if self.surrogate_weight != 0.0 and not self.surrogate_model:
            raise InputError(
                f"{SURROGATE_COMPONENT!r} has weight {self.surrogate_weight} but no surrogate model; "
                "give the folder of a trained model as 'surrogate': {'model': ..., 'weight': ...}"
            )

    @property
    def uses_surrogate(self) -> bool:
        """Whether the reward includes the surrogate's prediction."""
        return self.surrogate_weight != 0.0

    def weight(self, name: str) -> float:
        return float(self.weights.get(name, 0.0))

    def to_dict(self) -> dict:
        """Return the JSON form ``{"weights": {...}, "degree_target": x}``, plus ``"surrogate"`` when set."""
        content = {"weights": dict(self.weights), "degree_target": self.degree_target}
        if self.surrogate_model is not None or self.surrogate_weight != 0.0:
            content["surrogate"] = {"model": self.surrogate_model, "weight": self.surrogate_weight}
        return content

    @classmethod
    def from_dict(cls, data: object, where: str = "weights") -> RewardWeights:
        """Parse weights from JSON data.

        Accepts a plain mapping of component name to weight, or an object
        with a ``"weights"`` mapping, an optional ``"degree_target"`` and an
        optional ``"surrogate": {"model": FOLDER, "weight": W}`` (other keys,
        such as a name or a description, are kept out).

        Raises:
            InputError: naming ``where`` and the field at fault.
        """
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected a JSON object of component weights, got {type(data).__name__}")
        surrogate = {}
        if "weights" in data:
            weights = data["weights"]
            target = data.get("degree_target", DEFAULT_DEGREE_TARGET)
            surrogate = data.get("surrogate") or {}
            if not isinstance(surrogate, dict) or set(surrogate) - {"model", "weight"}:
                raise InputError(f"{where}: field 'surrogate' must be an object with 'model' and 'weight', got {surrogate!r}")
        else:
            weights = dict(data)
            target = weights.pop("degree_target", DEFAULT_DEGREE_TARGET)
        if not isinstance(weights, dict):
            raise InputError(f"{where}: field 'weights' must be an object of component weights, got {weights!r}")
        try:
            return cls(dict(weights), target, surrogate.get("weight", 0.0), surrogate.get("model"))
        except InputError as error:
            raise InputError(f"{where}: {error}") from None


def validate_weights(weights: dict, degree_target: object = DEFAULT_DEGREE_TARGET) -> None:
    """Check component names and that every weight is a finite number.

    Raises:
        InputError: naming the first bad component or value; for an unknown
            name, the message lists the known ones.
    """
    for name, value in weights.items():
        if name not in COMPONENTS:
            raise InputError(f"unknown reward component {name!r}; known components: {', '.join(COMPONENTS)}")
        if not _is_finite_number(value):
            raise InputError(f"weight of {name!r} must be a finite number, got {value!r}")
    if not _is_finite_number(degree_target):
        raise InputError(f"degree_target must be a finite number, got {degree_target!r}")


def _is_finite_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: Punishments of the design method's default reward. The two generic degree
#: punishments are left out because they need a user-chosen target degree.
DEFAULT_PUNISHMENTS = ("isolated_waters", "excess_degree", "like_atom_bonds", "covalent_count", "hbond_count")
#: The design method's default: the degree term plus the punishments at weight 1.
DEFAULT_WEIGHTS = RewardWeights({"degree": 1.0, **{name: 1.0 for name in DEFAULT_PUNISHMENTS}})


def load_weights(path: str | Path) -> RewardWeights:
    """Read weights from a JSON file (see :meth:`RewardWeights.from_dict`).

    Raises:
        InputError: if the file is missing, not JSON, or has bad weights.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: weights file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not a valid JSON file ({error})") from None
    return RewardWeights.from_dict(data, where=str(path))


def save_weights(weights: RewardWeights, path: str | Path) -> None:
    """Write weights as JSON."""
    Path(path).write_text(json.dumps(weights.to_dict(), indent=2) + "\n")


@dataclass(frozen=True)
class RewardBreakdown:
    """A reward and its parts.

    Attributes:
        total: The reward, the sum of ``components``.
        components: Component name to weighted value, for every component
            with a non-zero weight.
        absent: Components that could not be computed (path measures of a
            disconnected graph); they contribute 0.
    """

    total: float
    components: dict[str, float]
    absent: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"total": self.total, "components": dict(self.components), "absent": list(self.absent)}


def degree_term(degrees: np.ndarray) -> float:
    """Return ``E(D) - sqrt(var(D))`` over a degree sequence (population variance)."""
    return float(degrees.mean() - math.sqrt(degrees.var()))


def atomic_punishments(graph: AtomicGraph) -> dict[str, float]:
    """Return the punishments that need the atomic graph, as values <= 0."""
    i, j = graph.bonds[:, 0], graph.bonds[:, 1]
    elem_i, elem_j = graph.elements[i], graph.elements[j]
    like = int(np.count_nonzero(elem_i == elem_j))

    covalent = graph.bond_types == COVALENT
    covalent_counts = np.bincount(np.concatenate([i[covalent], j[covalent]]), minlength=graph.n_atoms)
    expected = np.where(graph.elements == OXYGEN, 2, 1)
    covalent_error = int(np.abs(covalent_counts - expected).sum())

    hbond = graph.bond_types == HYDROGEN_BOND
    hi, hj = i[hbond], j[hbond]
    ends = np.concatenate([hi, hj])
    counts = np.bincount(ends, minlength=graph.n_atoms)
    limit = np.where(graph.elements == OXYGEN, 2, 1)
    hbond_excess = int(np.maximum(counts - limit, 0).sum())
    return {
        "like_atom_bonds": 0.0 - like,
        "covalent_count": 0.0 - covalent_error,
        "hbond_count": 0.0 - hbond_excess,
    }


def component_values(
    graph: WaterGraph,
    descriptors: Descriptors | None = None,
    atomic: AtomicGraph | None = None,
    degree_target: float = DEFAULT_DEGREE_TARGET,
) -> tuple[dict[str, float], tuple[str, ...]]:
    """Compute the unweighted value of every component.

    Args:
        graph: The water graph.
        descriptors: Its descriptors, if already computed.
        atomic: Its atomic graph, if known (from a file); otherwise it is
            built from the water graph, where the atomic punishments can
            only come from waters that donate more than 2 bonds.
        degree_target: The ``x`` of the generic degree punishments.

    Returns:
        ``(values, absent)``: component name to value, and the names of the
        path components that are absent because the graph is disconnected.
    """
    descriptors = descriptors or describe(graph)
    degrees = graph.degrees().astype(float)
    values: dict[str, float] = {
        "degree": degree_term(degrees),
        "rings_3": descriptors.rings_3,
        "rings_4": descriptors.rings_4,
        "rings_5": descriptors.rings_5,
        "rings_6": descriptors.rings_6,
        "n_hbonds": descriptors.n_hbonds,
        "isolated_waters": 0.0 - np.count_nonzero(degrees == 0),
        "excess_degree": 0.0 - np.maximum(degrees - 4, 0).sum(),
        "degree_square_deviation": 0.0 - ((degrees - degree_target) ** 2).sum(),
        "degree_excess": 0.0 - np.maximum(degrees - degree_target, 0).sum(),
    }
    absent: tuple[str, ...] = ()
    if descriptors.connected:
        values["diameter"] = descriptors.diameter
        values["aspl"] = descriptors.aspl
        values["wiener_index"] = descriptors.wiener_index
    else:
        absent = PATH_COMPONENTS
        values.update(dict.fromkeys(PATH_COMPONENTS, 0.0))
    values.update(atomic_punishments(atomic if atomic is not None else atomic_graph_from_water(graph)))
    return {name: float(values[name]) for name in COMPONENTS}, absent


_evaluations = 0
#: Surrogate predictions kept per process: (model key, graph) -> energy in kcal/mol.
_predictions: OrderedDict[tuple[str, WaterGraph], float] = OrderedDict()
#: Largest number of predictions kept. A search scores the same graphs again (look-ahead, chosen step, settling).
MAX_CACHED_PREDICTIONS = 200_000


def evaluation_count() -> int:
    """Return how many graphs :func:`score` and :func:`score_many` have scored in this process (for benchmarks)."""
    return _evaluations


def score(
    graph: WaterGraph,
    weights: RewardWeights = DEFAULT_WEIGHTS,
    descriptors: Descriptors | None = None,
    atomic: AtomicGraph | None = None,
) -> RewardBreakdown:
    """Compute the reward of a water graph and its breakdown."""
    return score_many([graph], weights, None if descriptors is None else [descriptors], atomic)[0]


def score_many(
    graphs: list[WaterGraph],
    weights: RewardWeights = DEFAULT_WEIGHTS,
    descriptors: list[Descriptors] | None = None,
    atomic: AtomicGraph | None = None,
) -> list[RewardBreakdown]:
    """Score several water graphs, predicting the surrogate's energies of all of them in one batch.

    Args:
        graphs: The water graphs.
        weights: The weights.
        descriptors: Descriptors of each graph, if already computed.
        atomic: The atomic graph, for a single graph read from a file (see
            :func:`component_values`).

    Returns:
        One breakdown per graph, in order.
    """
    global _evaluations
    if atomic is not None and len(graphs) != 1:
        raise ValueError("an atomic graph can only be given with a single water graph")
    _evaluations += len(graphs)
    energies = predicted_energies(graphs, weights.surrogate_model) if weights.uses_surrogate else None
    results = []
    for index, graph in enumerate(graphs):
        values, absent = component_values(
            graph, descriptors[index] if descriptors else None, atomic, weights.degree_target
        )
        components = {name: weights.weight(name) * values[name] for name in COMPONENTS if weights.weight(name) != 0.0}
        absent = tuple(name for name in absent if weights.weight(name) != 0.0)
        if energies is not None:
            components[SURROGATE_COMPONENT] = weights.surrogate_weight * float(energies[index]) / graph.n_waters
        results.append(RewardBreakdown(float(sum(components.values())), components, absent))
    return results


def clear_prediction_cache() -> None:
    """Forget the surrogate predictions kept by :func:`predicted_energies` (for benchmarks)."""
    _predictions.clear()


def predicted_energies(graphs: list[WaterGraph], model_dir: str) -> np.ndarray:
    """Return the surrogate's energy of each water graph, kcal/mol, predicting only graphs not seen before.

    Predictions are kept per process for the model folder's current
    weights (a rewritten ``model.pt`` starts afresh).

    Raises:
        InputError: if ``model_dir`` is not a usable model folder.
    """
    from engine.surrogate.modeldir import weights_version
    from engine.surrogate.predict import predict_water_graphs

    model_key = weights_version(model_dir)
    missing = list(dict.fromkeys(graph for graph in graphs if (model_key, graph) not in _predictions))
    if missing:
        for graph, energy in zip(missing, predict_water_graphs(model_dir, missing)):
            _predictions[(model_key, graph)] = float(energy)
    energies = np.array([_predictions[(model_key, graph)] for graph in graphs])
    # The oldest predictions go first, after this call's have been read.
    while len(_predictions) > MAX_CACHED_PREDICTIONS:
        _predictions.popitem(last=False)
    return energies


def predicted_energy_per_water(graph: WaterGraph, model_dir: str) -> float:
    """Return the surrogate's energy of ``graph`` divided by its number of waters, kcal/mol.

    Raises:
        InputError: if ``model_dir`` is not a usable model folder.
    """
    return float(predicted_energies([graph], model_dir)[0]) / graph.n_waters

"""Water graphs and atomic graphs of water clusters, and conversions between them.

Two views of the same hydrogen-bond network are used throughout the engine:

* the **water graph**: one node per water molecule and one directed edge
  ``donor -> acceptor`` per hydrogen bond. It is what the reward and the search
  work on.
* the **atomic graph**: O and H atoms as nodes, covalent O-H bonds and hydrogen
  bonds (donor H ... acceptor O) as edges. It is the form of the HydroNet
  training records and of the surrogate's input.

Atoms of an atomic graph built here always come in water order (O, H, H, O, H,
H, ...), so atom ``i`` belongs to water ``i // 3``.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import networkx as nx
import numpy as np

OXYGEN = 0
HYDROGEN = 1
COVALENT = 0
HYDROGEN_BOND = 1

#: Maximum number of hydrogen bonds one water donates (it has two H atoms).
MAX_DONATED = 2
#: Maximum number of hydrogen bonds one water accepts (its two lone pairs).
MAX_ACCEPTED = 2


class GraphError(ValueError):
    """Raised when a graph breaks a structural rule (bad indices, invalid bonds)."""


@dataclass(frozen=True)
class WaterGraph:
    """Directed hydrogen-bond graph with one node per water.

    Attributes:
        n_waters: Number of waters (nodes ``0 .. n_waters - 1``).
        hbonds: ``(donor, acceptor)`` pairs, sorted. Repeated pairs are kept so
            that graphs read from data that breaks the validity rules still
            round-trip; :meth:`validity_problems` reports them.
    """

    n_waters: int
    hbonds: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.n_waters < 0:
            raise GraphError(f"n_waters must be >= 0, got {self.n_waters!r}")
        pairs = tuple(sorted((int(d), int(a)) for d, a in self.hbonds))
        for donor, acceptor in pairs:
            if not (0 <= donor < self.n_waters and 0 <= acceptor < self.n_waters):
                raise GraphError(
                    f"hydrogen bond {donor} -> {acceptor} refers to a water outside "
                    f"0..{self.n_waters - 1}"
                )
        object.__setattr__(self, "hbonds", pairs)

    @classmethod
    def from_edges(cls, n_waters: int, hbonds: Iterable[tuple[int, int]]) -> WaterGraph:
        """Build a water graph from ``(donor, acceptor)`` pairs."""
        return cls(n_waters, tuple(hbonds))

    @property
    def n_hbonds(self) -> int:
        """Number of hydrogen bonds."""
        return len(self.hbonds)

    def out_degrees(self) -> np.ndarray:
        """Number of bonds each water donates, shape ``(n_waters,)``."""
        counts = np.zeros(self.n_waters, dtype=np.int64)
        for donor, _ in self.hbonds:
            counts[donor] += 1
        return counts

    def in_degrees(self) -> np.ndarray:
        """Number of bonds each water accepts, shape ``(n_waters,)``."""
        counts = np.zeros(self.n_waters, dtype=np.int64)
        for _, acceptor in self.hbonds:
            counts[acceptor] += 1
        return counts

    def degrees(self) -> np.ndarray:
        """Degree of each water in the undirected simple view, shape ``(n_waters,)``.

        A pair of waters joined by more than one bond counts once, and self
        bonds are ignored, as in :meth:`to_networkx`.
        """
        counts = np.zeros(self.n_waters, dtype=np.int64)
        for u, v in self.undirected_edges():
            counts[u] += 1
            counts[v] += 1
        return counts

    def undirected_edges(self) -> list[tuple[int, int]]:
        """Distinct unordered pairs ``(u, v)`` with ``u < v`` joined by a bond."""
        return sorted({(min(d, a), max(d, a)) for d, a in self.hbonds if d != a})

    def to_networkx(self) -> nx.Graph:
        """Return the undirected simple graph used by the descriptors."""
        graph = nx.Graph()
        graph.add_nodes_from(range(self.n_waters))
        graph.add_edges_from(self.undirected_edges())
        return graph

    def to_digraph(self) -> nx.DiGraph:
        """Return the directed donor -> acceptor graph (repeated bonds merged)."""
        graph = nx.DiGraph()
        graph.add_nodes_from(range(self.n_waters))
        graph.add_edges_from(self.hbonds)
        return graph

    def validity_problems(self) -> list[str]:
        """List every broken validity rule, each with the offending water(s).

        The rules: no self bond; at most one bond per pair of waters (in either
        direction); each water donates at most 2 and accepts at most 2 bonds.
        An empty list means the graph is valid.
        """
        problems = []
        for donor, acceptor in self.hbonds:
            if donor == acceptor:
                problems.append(f"water {donor} bonds to itself")
        pair_counts = Counter((min(d, a), max(d, a)) for d, a in self.hbonds if d != a)
        for (u, v), count in sorted(pair_counts.items()):
            if count > 1:
                problems.append(f"waters {u} and {v} share {count} hydrogen bonds (at most 1)")
        for water, count in enumerate(self.out_degrees()):
            if count > MAX_DONATED:
                problems.append(f"water {water} donates {count} hydrogen bonds (at most {MAX_DONATED})")
        for water, count in enumerate(self.in_degrees()):
            if count > MAX_ACCEPTED:
                problems.append(f"water {water} accepts {count} hydrogen bonds (at most {MAX_ACCEPTED})")
        return problems

    def is_valid(self) -> bool:
        """Check whether the graph follows every validity rule."""
        return not self.validity_problems()

    def can_add(self, donor: int, acceptor: int) -> bool:
        """Check whether bond ``donor -> acceptor`` keeps a valid graph valid.

        ``acceptor`` or ``donor`` equal to ``n_waters`` stands for a new water.
        """
        if donor == acceptor or not (0 <= donor <= self.n_waters and 0 <= acceptor <= self.n_waters):
            return False
        if donor == self.n_waters and acceptor == self.n_waters:
            return False
        if donor < self.n_waters and acceptor < self.n_waters:
            if (donor, acceptor) in self.hbonds or (acceptor, donor) in self.hbonds:
                return False
        if donor < self.n_waters and self.out_degrees()[donor] >= MAX_DONATED:
            return False
        if acceptor < self.n_waters and self.in_degrees()[acceptor] >= MAX_ACCEPTED:
            return False
        return True

    def add_hbond(self, donor: int, acceptor: int) -> WaterGraph:
        """Return a new graph with bond ``donor -> acceptor`` added.

        An index equal to ``n_waters`` adds a new water first.

        Raises:
            GraphError: if the bond would break a validity rule.
        """
        if not self.can_add(donor, acceptor):
            raise GraphError(
                f"cannot add hydrogen bond {donor} -> {acceptor} to a graph of "
                f"{self.n_waters} waters: it breaks a validity rule"
            )
        n_waters = self.n_waters + (1 if self.n_waters in (donor, acceptor) else 0)
        return WaterGraph(n_waters, self.hbonds + ((donor, acceptor),))

    def canonical_hash(self) -> str:
        """Return a hash that is equal for isomorphic directed graphs.

        Uses the Weisfeiler-Lehman hash of the directed graph; different hashes
        prove non-isomorphism, and equal hashes must be confirmed with
        :func:`networkx.is_isomorphic` (see :func:`same_network`).
        """
        with warnings.catch_warnings():
            # networkx 3.5+ warns on every call that its hashes changed from older versions.
            warnings.simplefilter("ignore", UserWarning)
            wl = nx.weisfeiler_lehman_graph_hash(self.to_digraph(), iterations=4)
        return hashlib.sha1(f"{self.n_waters}:{self.n_hbonds}:{wl}".encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        """Return the JSON form ``{"n_waters": n, "hbonds": [[donor, acceptor], ...]}``."""
        return {"n_waters": self.n_waters, "hbonds": [list(pair) for pair in self.hbonds]}

    @classmethod
    def from_dict(cls, data: dict, where: str = "water graph") -> WaterGraph:
        """Parse the JSON form written by :meth:`to_dict`.

        Raises:
            GraphError: naming ``where`` and the field when the shape is wrong.
        """
        if not isinstance(data, dict):
            raise GraphError(f"{where}: expected an object with 'n_waters' and 'hbonds', got {type(data).__name__}")
        n_waters = data.get("n_waters")
        hbonds = data.get("hbonds")
        if not isinstance(n_waters, int) or isinstance(n_waters, bool):
            raise GraphError(f"{where}: field 'n_waters' must be an integer, got {n_waters!r}")
        if not isinstance(hbonds, list):
            raise GraphError(f"{where}: field 'hbonds' must be a list of [donor, acceptor] pairs, got {hbonds!r}")
        pairs = []
        for index, pair in enumerate(hbonds):
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in pair)
            ):
                raise GraphError(f"{where}: hbonds[{index}] must be a pair of integers, got {pair!r}")
            pairs.append((pair[0], pair[1]))
        try:
            return cls(n_waters, tuple(pairs))
        except GraphError as error:
            raise GraphError(f"{where}: {error}") from None


def same_network(first: WaterGraph, second: WaterGraph) -> bool:
    """Check whether two water graphs are isomorphic as directed graphs."""
    if first.n_waters != second.n_waters or first.n_hbonds != second.n_hbonds:
        return False
    return nx.is_isomorphic(first.to_digraph(), second.to_digraph())


@dataclass(frozen=True)
class AtomicGraph:
    """Graph of O and H atoms with covalent and hydrogen bonds.

    Attributes:
        elements: Atom types, shape ``(n_atoms,)``: 0 for O, 1 for H.
        bonds: Atom index pairs, shape ``(n_bonds, 2)``, each bond once. For a
            hydrogen bond the pair is ``(donor H, acceptor O)`` when built here.
        bond_types: Shape ``(n_bonds,)``: 0 for covalent, 1 for hydrogen bond.
    """

    elements: np.ndarray
    bonds: np.ndarray
    bond_types: np.ndarray

    @property
    def n_atoms(self) -> int:
        return int(self.elements.shape[0])

    def directed_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(src, dst, type)`` with every bond in both directions, shapes ``(2 * n_bonds,)``."""
        src = np.concatenate([self.bonds[:, 0], self.bonds[:, 1]])
        dst = np.concatenate([self.bonds[:, 1], self.bonds[:, 0]])
        types = np.concatenate([self.bond_types, self.bond_types])
        return src, dst, types


def water_graph_from_atomic(graph: AtomicGraph) -> WaterGraph:
    """Derive the water graph of an atomic graph whose atoms are in water order.

    Each hydrogen bond between an H of water ``d`` and the O of water ``a``
    becomes ``d -> a``. Hydrogen bonds between two O or two H atoms have no
    donor and no acceptor and are left out; the punishments count them on
    the atomic graph.

    Raises:
        GraphError: if the atom count is not a multiple of 3 or the atoms are
            not in O, H, H order.
    """
    n_atoms = graph.n_atoms
    if n_atoms % 3:
        raise GraphError(f"atomic graph has {n_atoms} atoms, not a multiple of 3 (O, H, H per water)")
    expected = np.tile([OXYGEN, HYDROGEN, HYDROGEN], n_atoms // 3)
    if not np.array_equal(graph.elements, expected):
        raise GraphError("atoms of the atomic graph are not in water order (O, H, H, O, H, H, ...)")
    i, j = graph.bonds[:, 0], graph.bonds[:, 1]
    is_hbond = graph.bond_types == HYDROGEN_BOND
    elem_i, elem_j = graph.elements[i], graph.elements[j]
    h_to_o = is_hbond & (elem_i == HYDROGEN) & (elem_j == OXYGEN)
    o_to_h = is_hbond & (elem_i == OXYGEN) & (elem_j == HYDROGEN)
    donors = np.concatenate([i[h_to_o], j[o_to_h]]) // 3
    acceptors = np.concatenate([j[h_to_o], i[o_to_h]]) // 3
    return WaterGraph(n_atoms // 3, tuple(zip(donors.tolist(), acceptors.tolist())))


def atomic_graph_from_water(graph: WaterGraph) -> AtomicGraph:
    """Build the atomic graph of a water graph, atoms in O, H, H order.

    Each donated bond of water ``d`` is assigned to the first H of ``d`` that
    has not donated yet; a water that donates more than 2 bonds (an invalid
    graph) puts the extra bonds on its last H.
    """
    n_waters = graph.n_waters
    elements = np.tile(np.array([OXYGEN, HYDROGEN, HYDROGEN], dtype=np.int64), n_waters)
    oxygens = 3 * np.arange(n_waters)
    covalent = np.stack(
        [np.repeat(oxygens, 2), np.stack([oxygens + 1, oxygens + 2], axis=1).ravel()], axis=1
    )
    used = np.zeros(n_waters, dtype=np.int64)
    hbonds = []
    for donor, acceptor in graph.hbonds:
        slot = min(used[donor], 1)
        used[donor] += 1
        hbonds.append((3 * donor + 1 + slot, 3 * acceptor))
    hbond_array = np.array(hbonds, dtype=np.int64).reshape(-1, 2)
    bonds = np.concatenate([covalent, hbond_array], axis=0)
    types = np.concatenate(
        [np.full(len(covalent), COVALENT, dtype=np.int64), np.full(len(hbond_array), HYDROGEN_BOND, dtype=np.int64)]
    )
    return AtomicGraph(elements, bonds, types)

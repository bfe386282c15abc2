"""Message-passing neural network (MPNN) that predicts water-cluster energies.

The input is the atomic graph of a cluster: O and H atoms as nodes, covalent
and hydrogen bonds as edges in both directions. Atom and bond types are
embedded into ``F`` features each. ``T`` message-passing steps then update
both states, and the energy is a sum of atomwise contributions:

``E = sum_atoms (scale * readout(h_atom) + mean[type(atom)]) + offset[n_waters]``   (kcal/mol)

``mean`` is a learned per-atom-type energy, initialised from the training
energies by least squares on atom counts (:func:`fit_type_means`), so that an
untrained model already predicts the linear size trend. ``offset`` is an
optional fixed table: the mean training energy per cluster size left after
the per-type means (:func:`fit_size_offsets`). The per-size means are not
linear in size (the curvature is several kcal/mol over 3 to 11 waters), and
the table takes that curvature off the network, which is left with the
~1 kcal/mol differences between clusters of one size. ``scale`` is a fixed buffer, the spread of the training
energies around the per-type means and offsets, so the network learns a
residual of order 1.

Each step (:class:`MessagePassingStep`):

1. batch normalisation of the incoming atom states ``a`` and bond states ``b``;
2. bond update ``u = W2 silu(W1 [a_src, a_dst, b])`` (two dense layers);
3. new bond state ``b' = b + dropout(u)``;
4. messages ``m = (W3 a_src) * b'``, summed over the bonds ending at each atom;
5. new atom state ``a' = a + dropout(sum m)``.

The graph operations go through a small interface (:class:`GraphOps`):
:class:`DGLOps` uses DGL's built-in message functions, which DGL runs as
fused sparse kernels, and :mod:`engine.surrogate.plain` implements the same
operations with index gathers and ``index_add_`` for comparison.
"""

from __future__ import annotations

from typing import Protocol

import dgl
import dgl.function as fn
import numpy as np
import torch
from torch import nn

from engine.surrogate.config import ModelConfig

#: Atom types: 0 for O, 1 for H (as in :mod:`engine.graphs`).
N_ATOM_TYPES = 2
#: Bond types: 0 for covalent, 1 for hydrogen bond.
N_BOND_TYPES = 2
#: Largest cluster size with its own entry in the size-offset table; larger
#: clusters use this entry.
MAX_TABULATED_WATERS = 64


class GraphOps(Protocol):
    """Graph operations the model needs, for one (batched) graph.

    Shapes: ``N`` atoms, ``E`` directed bonds, ``B`` graphs, ``F`` features.
    """

    def add_endpoints(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return ``source[src] + target[dst]`` per bond: ``(N, F), (N, F) -> (E, F)``."""

    def sum_messages(self, atom_values: torch.Tensor, bond_values: torch.Tensor) -> torch.Tensor:
        """Return ``sum over bonds into each atom of atom_values[src] * bond_values``: ``-> (N, F)``."""

    def sum_per_graph(self, atom_values: torch.Tensor) -> torch.Tensor:
        """Return the sum of ``atom_values`` over the atoms of each graph: ``(N, K) -> (B, K)``."""


class DGLOps:
    """:class:`GraphOps` on a (batched) DGL graph, with DGL's built-in functions."""

    def __init__(self, graph: dgl.DGLGraph):
        self.graph = graph

    def add_endpoints(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with self.graph.local_scope():
            self.graph.ndata["source"] = source
            self.graph.ndata["target"] = target
            self.graph.apply_edges(fn.u_add_v("source", "target", "pair"))
            return self.graph.edata["pair"]

    def sum_messages(self, atom_values: torch.Tensor, bond_values: torch.Tensor) -> torch.Tensor:
        with self.graph.local_scope():
            self.graph.ndata["value"] = atom_values
            self.graph.edata["weight"] = bond_values
            self.graph.update_all(fn.u_mul_e("value", "weight", "message"), fn.sum("message", "total"))
            return self.graph.ndata["total"]

    def sum_per_graph(self, atom_values: torch.Tensor) -> torch.Tensor:
        with self.graph.local_scope():
            self.graph.ndata["value"] = atom_values
            return dgl.readout_nodes(self.graph, "value", op="sum")


class MessagePassingStep(nn.Module):
    """One message-passing step with residual updates of atom and bond states.

    The first dense layer of the bond update acts on the concatenation
    ``[a_src, a_dst, b]`` (``3F -> 2F``). It is stored as three ``F -> 2F``
    blocks, because ``W [a_src, a_dst, b] = Ws a_src + Wd a_dst + Wb b`` lets
    the atom terms be computed once per atom and added per bond by the graph
    backend, instead of building an ``(E, 3F)`` concatenation.

    Args:
        features: Width ``F`` of atom and bond states.
        dropout: Dropout rate applied to both updates.
    """

    def __init__(self, features: int, dropout: float):
        super().__init__()
        hidden = 2 * features
        self.atom_norm = nn.BatchNorm1d(features)
        self.bond_norm = nn.BatchNorm1d(features)
        self.source_dense = nn.Linear(features, hidden, bias=False)
        self.target_dense = nn.Linear(features, hidden, bias=False)
        self.bond_dense = nn.Linear(features, hidden)
        self.bond_output = nn.Linear(hidden, features)
        self.message_dense = nn.Linear(features, features)
        self.activation = nn.SiLU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, ops: GraphOps, atoms: torch.Tensor, bonds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Update the states.

        Args:
            ops: Graph operations of the batch.
            atoms: Atom states, shape ``(N, F)``.
            bonds: Bond states, shape ``(E, F)``.

        Returns:
            New atom states ``(N, F)`` and bond states ``(E, F)``.
        """
        atoms_normed = self.atom_norm(atoms)
        bonds_normed = self.bond_norm(bonds)

        pair = ops.add_endpoints(self.source_dense(atoms_normed), self.target_dense(atoms_normed))
        update = self.bond_output(self.activation(pair + self.bond_dense(bonds_normed)))
        bonds = bonds + self.dropout(update)

        messages = ops.sum_messages(self.message_dense(atoms_normed), bonds)
        atoms = atoms + self.dropout(messages)
        return atoms, bonds


class EnergyModel(nn.Module):
    """MPNN energy model: atomic graph in, energy in kcal/mol out.

    Args:
        features: Width ``F`` of atom and bond states.
        steps: Number ``T`` of message-passing steps.
        dropout: Dropout rate of the state updates.
        size_offsets: Add the per-size offset table to each graph's energy.

    Buffers:
        energy_scale: Scalar, kcal/mol: multiplies the network's atomwise
            output; set by :meth:`initialise_output`.
        size_offset: Shape ``(MAX_TABULATED_WATERS + 1,)``, kcal/mol, indexed
            by the number of O atoms; zeros unless set by :meth:`initialise_output`.
    """

    def __init__(self, features: int = 32, steps: int = 8, dropout: float = 0.0, size_offsets: bool = False):
        super().__init__()
        self.use_size_offsets = size_offsets
        self.atom_embedding = nn.Embedding(N_ATOM_TYPES, features)
        self.bond_embedding = nn.Embedding(N_BOND_TYPES, features)
        self.steps = nn.ModuleList(MessagePassingStep(features, dropout) for _ in range(steps))
        self.readout = nn.Sequential(nn.Linear(features, features), nn.SiLU(), nn.Linear(features, 1))
        self.type_mean = nn.Embedding(N_ATOM_TYPES, 1)
        self.register_buffer("energy_scale", torch.tensor(1.0))
        self.register_buffer("size_offset", torch.zeros(MAX_TABULATED_WATERS + 1))
        nn.init.zeros_(self.type_mean.weight)
        # A small last layer makes the untrained model predict close to the per-type means and offsets.
        with torch.no_grad():
            self.readout[-1].weight.mul_(0.1)
            self.readout[-1].bias.zero_()

    def forward(self, graph: dgl.DGLGraph) -> torch.Tensor:
        """Predict the energy of each graph in a batch.

        Args:
            graph: Batched DGL graph with ``ndata["type"]`` (``(N,)`` int64,
                0 = O, 1 = H) and ``edata["type"]`` (``(E,)`` int64,
                0 = covalent, 1 = hydrogen bond), each bond in both directions.

        Returns:
            Energies in kcal/mol, shape ``(B,)``.
        """
        return self.energies(DGLOps(graph), graph.ndata["type"], graph.edata["type"])

    def energies(self, ops: GraphOps, atom_types: torch.Tensor, bond_types: torch.Tensor) -> torch.Tensor:
        """Predict energies with any graph backend.

        Args:
            ops: Graph operations of the batch.
            atom_types: Shape ``(N,)``, int64.
            bond_types: Shape ``(E,)``, int64.

        Returns:
            Energies in kcal/mol, shape ``(B,)``.
        """
        atoms = self.atom_embedding(atom_types)
        bonds = self.bond_embedding(bond_types)
        for step in self.steps:
            atoms, bonds = step(ops, atoms, bonds)
        atom_energies = self.energy_scale * self.readout(atoms) + self.type_mean(atom_types)
        energies = ops.sum_per_graph(atom_energies).squeeze(-1)
        if self.use_size_offsets:
            oxygens = ops.sum_per_graph((atom_types == 0).to(atom_energies.dtype).unsqueeze(-1)).squeeze(-1)
            energies = energies + self.size_offset[oxygens.round().long().clamp(max=MAX_TABULATED_WATERS)]
        return energies

    @torch.no_grad()
    def initialise_output(self, type_means: torch.Tensor, energy_scale: float, size_offset: torch.Tensor | None = None) -> None:
        """Set the output's fitted parts.

        Args:
            type_means: kcal/mol per atom, shape ``(2,)``.
            energy_scale: kcal/mol.
            size_offset: kcal/mol per cluster, shape ``(MAX_TABULATED_WATERS + 1,)``, or None to keep zeros.
        """
        self.type_mean.weight.copy_(type_means.reshape(N_ATOM_TYPES, 1))
        self.energy_scale.fill_(energy_scale)
        if size_offset is not None:
            self.size_offset.copy_(size_offset)


def fit_type_means(type_counts: torch.Tensor, energies: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Fit per-atom-type energies by least squares on atom counts.

    Water clusters always hold twice as many H as O atoms, so the counts have
    rank 1; the minimum-norm solution is used, which splits the energy per
    water between O and H in the ratio 1:2.

    Args:
        type_counts: Atoms of each type per graph, shape ``(B, 2)``.
        energies: Energies in kcal/mol, shape ``(B,)``.

    Returns:
        Per-type means in kcal/mol per atom, shape ``(2,)``, and the standard
        deviation of the energies left after subtracting them (kcal/mol, at
        least 1e-3 so it can scale an output).
    """
    counts = type_counts.double()
    targets = energies.double()
    solution = torch.linalg.lstsq(counts, targets.unsqueeze(1), driver="gelsd").solution.squeeze(1)
    residual = targets - counts @ solution
    scale = float(residual.std()) if len(residual) > 1 else 1.0
    return solution.float(), max(scale, 1e-3)


def fit_size_offsets(n_waters: torch.Tensor, residuals: torch.Tensor, trend_sizes: int = 3) -> torch.Tensor:
    """Tabulate the mean residual energy per cluster size.

    Sizes between two sizes of the data are interpolated linearly. Sizes below
    the smallest one take its value. Sizes above the largest one continue the
    straight line fitted to the ``trend_sizes`` largest sizes, because the
    energy per water keeps falling with size. A model trained on the HydroNet
    clusters of 3 to 11 waters predicted the global minima of 12 to 30 waters
    12 to 74 kcal/mol too high with the offset of 11 waters kept constant. With
    this line the errors were 10 to 34 kcal/mol.

    NOTE: sizes above the data's range are an extrapolation, checked only on
    those global minima.

    Args:
        n_waters: Waters per cluster, shape ``(B,)``.
        residuals: Energy minus the per-type means, kcal/mol, shape ``(B,)``.
        trend_sizes: Number of largest sizes the extrapolation line is fitted to.

    Returns:
        Offsets in kcal/mol, shape ``(MAX_TABULATED_WATERS + 1,)``.
    """
    sizes = n_waters.long().numpy()
    values = residuals.double().numpy()
    seen = np.unique(sizes)
    means = np.array([values[sizes == size].mean() for size in seen])
    grid = np.arange(MAX_TABULATED_WATERS + 1)
    table = np.interp(grid, seen, means)
    if len(seen) >= 2:
        tail = slice(-min(trend_sizes, len(seen)), None)
        slope, _ = np.polyfit(seen[tail].astype(float), means[tail], 1)
        above = grid > seen[-1]
        # The line is shifted to pass through the largest size's mean, so the table stays continuous.
        table[above] = means[-1] + slope * (grid[above] - seen[-1])
    return torch.from_numpy(table).float()


def build_model(config: ModelConfig) -> EnergyModel:
    """Build an untrained model from the ``model`` section of a config."""
    return EnergyModel(config.features, config.steps, config.dropout, config.size_offsets)

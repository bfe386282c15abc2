"""The model's graph operations in plain PyTorch, for comparison with DGL.

:class:`IndexOps` implements :class:`engine.surrogate.model.GraphOps` with
index gathers (``x[src]``) and scatter-adds (``index_add_``), so the same
:class:`~engine.surrogate.model.EnergyModel` and the same weights run
without DGL's fused kernels. The throughput benchmark compares the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import dgl
import torch

from engine.surrogate.model import EnergyModel


@dataclass(frozen=True)
class IndexOps:
    """Graph operations on index tensors.

    Attributes:
        src: Source atom of each directed bond, shape ``(E,)``, int64.
        dst: Target atom of each directed bond, shape ``(E,)``, int64.
        graph_ids: Graph of each atom, shape ``(N,)``, int64.
        n_graphs: Number of graphs ``B`` in the batch.
    """

    src: torch.Tensor
    dst: torch.Tensor
    graph_ids: torch.Tensor
    n_graphs: int

    def add_endpoints(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return source[self.src] + target[self.dst]

    def sum_messages(self, atom_values: torch.Tensor, bond_values: torch.Tensor) -> torch.Tensor:
        messages = atom_values[self.src] * bond_values
        total = torch.zeros(atom_values.shape[0], messages.shape[1], dtype=messages.dtype, device=messages.device)
        return total.index_add_(0, self.dst, messages)

    def sum_per_graph(self, atom_values: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(self.n_graphs, atom_values.shape[1], dtype=atom_values.dtype, device=atom_values.device)
        return total.index_add_(0, self.graph_ids, atom_values)

    @classmethod
    def from_graph(cls, graph: dgl.DGLGraph) -> IndexOps:
        """Take the index tensors of a batched DGL graph."""
        src, dst = graph.edges()
        counts = graph.batch_num_nodes()
        graph_ids = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)
        return cls(src.long(), dst.long(), graph_ids, int(len(counts)))


def predict_plain(model: EnergyModel, graph: dgl.DGLGraph, ops: IndexOps | None = None) -> torch.Tensor:
    """Run ``model`` with :class:`IndexOps`; returns energies in kcal/mol, shape ``(B,)``."""
    ops = ops or IndexOps.from_graph(graph)
    return model.energies(ops, graph.ndata["type"], graph.edata["type"])

"""The learned model M_RL: a DGL graph network that scores growth actions.

The network takes the water graph plus one extra node, the next new water,
so that bonds to a new water are scored like any other pair. Node features
(:data:`FEATURE_NAMES`) are the in- and out-degree, the free donor and
acceptor slots, the number of chordless rings of 3-6 waters the water
belongs to, whether it is the next new water, and two graph-level values
broadcast to every node: the fraction of the target size reached and
whether the target size is reached.

A few residual GraphSAGE layers (mean aggregation over the bonds, taken in
both directions) give node states ``h``; mean pooling gives the graph state
``g``. A pair head scores a bond ``donor -> acceptor`` from
``[h_donor, h_acceptor, g]`` and a stop head scores stopping from ``g``.
Scores are Q-values: the expected rest-of-episode return.
"""

from __future__ import annotations

from dataclasses import dataclass

import dgl
import networkx as nx
import numpy as np
import torch
from dgl.nn.pytorch import SAGEConv
from torch import nn

from engine.graphs import MAX_ACCEPTED, MAX_DONATED, WaterGraph
from engine.search import Action

#: Names of the node features, in column order.
FEATURE_NAMES = (
    "in_degree",
    "out_degree",
    "free_donor_slots",
    "free_acceptor_slots",
    "rings_3",
    "rings_4",
    "rings_5",
    "rings_6",
    "is_next_new_water",
    "fraction_of_target",
    "at_target_size",
)
#: Version of the feature layout; bump it whenever features change.
FEATURE_LAYOUT_VERSION = 1


def node_features(graph: WaterGraph, target_size: int) -> np.ndarray:
    """Return node features for the graph plus the next new water, shape ``(n_waters + 1, len(FEATURE_NAMES))``."""
    n = graph.n_waters
    features = np.zeros((n + 1, len(FEATURE_NAMES)), dtype=np.float32)
    in_degrees = graph.in_degrees()
    out_degrees = graph.out_degrees()
    features[:n, 0] = in_degrees / MAX_ACCEPTED
    features[:n, 1] = out_degrees / MAX_DONATED
    features[:, 2] = 1.0
    features[:, 3] = 1.0
    features[:n, 2] = (MAX_DONATED - out_degrees) / MAX_DONATED
    features[:n, 3] = (MAX_ACCEPTED - in_degrees) / MAX_ACCEPTED
    for cycle in nx.chordless_cycles(graph.to_networkx(), length_bound=6):
        if len(cycle) >= 3:
            features[cycle, 4 + len(cycle) - 3] += 1.0
    features[n, 8] = 1.0
    features[:, 9] = n / target_size
    features[:, 10] = float(n >= target_size)
    return features


@dataclass
class EncodedBatch:
    """Graphs and candidate actions ready for the network.

    Attributes:
        graph: Batched DGL graph.
        features: Node features, shape ``(total_nodes, F)``.
        donors, acceptors: Global node indices of every candidate bond, shape ``(P,)``.
        pair_graph: Graph of each candidate bond, shape ``(P,)``.
        action_slots: Per graph, the position of each listed action in the
            output: a pair index, or ``-1 - g`` for graph ``g``'s stop.
    """

    graph: dgl.DGLGraph
    features: torch.Tensor
    donors: torch.Tensor
    acceptors: torch.Tensor
    pair_graph: torch.Tensor
    action_slots: list[list[int]]


def encode(states: list[tuple[WaterGraph, list[Action]]], target_size: int, feature_cache: dict | None = None) -> EncodedBatch:
    """Encode graphs and their candidate actions into one batch."""
    graphs, features, donors, acceptors, pair_graph, slots = [], [], [], [], [], []
    offset = 0
    for g, (graph, actions) in enumerate(states):
        n = graph.n_waters
        edges = np.array(graph.hbonds, dtype=np.int64).reshape(-1, 2)
        src = np.concatenate([edges[:, 0], edges[:, 1]])
        dst = np.concatenate([edges[:, 1], edges[:, 0]])
        graphs.append(dgl.graph((torch.from_numpy(src), torch.from_numpy(dst)), num_nodes=n + 1))
        key = (graph, target_size)
        cached = feature_cache.get(key) if feature_cache is not None else None
        if cached is None:
            cached = node_features(graph, target_size)
            if feature_cache is not None:
                feature_cache[key] = cached
        features.append(cached)
        graph_slots = []
        for action in actions:
            if action.donor < 0:
                graph_slots.append(-1 - g)
            else:
                graph_slots.append(len(donors))
                donors.append(offset + action.donor)
                acceptors.append(offset + action.acceptor)
                pair_graph.append(g)
        slots.append(graph_slots)
        offset += n + 1
    return EncodedBatch(
        dgl.batch(graphs),
        torch.from_numpy(np.concatenate(features)),
        torch.tensor(donors, dtype=torch.long),
        torch.tensor(acceptors, dtype=torch.long),
        torch.tensor(pair_graph, dtype=torch.long),
        slots,
    )


class PolicyNetwork(nn.Module):
    """Scores candidate bonds and the stop action of water graphs.

    Args:
        hidden: Width of node and graph states.
        layers: Number of message-passing layers.
    """

    def __init__(self, hidden: int = 64, layers: int = 3):
        super().__init__()
        self.embed = nn.Linear(len(FEATURE_NAMES), hidden)
        self.convs = nn.ModuleList([SAGEConv(hidden, hidden, "mean") for _ in range(layers)])
        self.pair_hidden = nn.Linear(3 * hidden, hidden)
        self.pair_out = nn.Linear(hidden, 1)
        self.stop_head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, batch: EncodedBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(pair_scores (P,), stop_scores (G,))``."""
        h = torch.relu(self.embed(batch.features))
        for conv in self.convs:
            h = h + torch.relu(conv(batch.graph, h))

        with batch.graph.local_scope():
            batch.graph.ndata["h"] = h
            pooled = dgl.mean_nodes(batch.graph, "h")

        # The pair head's first layer acts on [h_donor, h_acceptor, g]. Applying its three
        # weight blocks to the nodes and graphs first, then gathering, gives the same
        # result with work per node instead of per candidate pair.
        donor_weight, acceptor_weight, graph_weight = self.pair_hidden.weight.split(h.shape[1], dim=1)
        per_donor = h @ donor_weight.T
        per_acceptor = h @ acceptor_weight.T
        per_graph = pooled @ graph_weight.T + self.pair_hidden.bias
        hidden = torch.relu(per_donor[batch.donors] + per_acceptor[batch.acceptors] + per_graph[batch.pair_graph])
        return self.pair_out(hidden).squeeze(-1), self.stop_head(pooled).squeeze(-1)

    def action_scores(self, batch: EncodedBatch) -> list[torch.Tensor]:
        """Return one score tensor per graph, in the order of its listed actions."""
        pair_scores, stop_scores = self(batch)
        result = []
        for slots in batch.action_slots:
            index = torch.tensor(slots, dtype=torch.long)
            stop = index < 0
            values = torch.empty(len(slots))
            if (~stop).any():
                values[~stop] = pair_scores[index[~stop]]
            if stop.any():
                values[stop] = stop_scores[-1 - index[stop]]
            result.append(values)
        return result

"""Fusion of the connectome and synapse views (the project's hybrid encoder) and its ablations.

Paper: this project's hybrid of Synapformer-style synapse-set encoders with a connectome GNN.

Input: a graph ``Data`` (see ``synhelpers.graph``): ``x`` (N, F), ``edge_index`` (2, E),
``edge_weight`` (E,), ``edge_roi`` (E, R), CSR synapse sets and per-neuron sites.
Node representation (each part optional, for ablations)::

    r_i = [ GNN(x, edges, [log1p w, roi, z_e])_i || pool_{e -> i} z_e || pool_{i -> e} z_e || cloud_i ]

with ``z_e`` (E, syn_dim) from :class:`SynapseSetEncoder`, pool = [max || mean], cloud_i
from :class:`SynapseCloudEncoder`. Then a shared trunk ``MLP(r_i)`` and one linear head per
label column. Output: ``{column: logits (N, C_column)}``.

Auxiliary view heads (``cfg.aux_heads``, training only): one extra head per view, on the
wiring part ``GNN(...)_i`` and on the synapse part ``[pool || pool || cloud_i]``, returned as
``{"<column>@wiring", "<column>@synapse"}`` and added to the loss with weight
``TrainConfig.aux_weight``.
Jointly trained multimodal networks tend to fit the easiest view first and leave the other
under-trained (Wang, Tran & Feiszli, "What makes training multi-modal classification networks
hard?", CVPR 2020); a loss per view keeps both views learning. Evaluation uses the fused head only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from .cloud_encoder import SynapseCloudEncoder
from .config import ModelConfig
from .connectome import ConnectomeEncoder
from .synapse_encoder import SynapseSetEncoder

__all__ = ["HybridModel", "TaskHeads", "pool_edges_to_nodes", "node_unit_um"]


def pool_edges_to_nodes(z: Tensor, index: Tensor, num_nodes: int) -> Tensor:
    """``[max || mean]`` of edge embeddings ``z`` (E, d) grouped by ``index`` (E,) -> (N, 2d).

    A node with no such edge gets zeros.
    """
    zmax = scatter(z, index, dim=0, dim_size=num_nodes, reduce="max")
    zmean = scatter(z, index, dim=0, dim_size=num_nodes, reduce="mean")
    return torch.cat([zmax, zmean], dim=-1)


def node_unit_um(data) -> Tensor:
    """(N,) micrometres per normalised unit for every node, from its connectome's frame."""
    unit = data.pos_unit_um if "pos_unit_um" in data else torch.ones(1)
    conn = data.connectome if "connectome" in data else None
    if conn is None:
        return unit.to(data.x.device).float().expand(int(data.num_nodes))
    return unit.to(conn.device).float()[conn]


class TaskHeads(nn.Module):
    """LayerNorm, shared trunk, one linear head per column. ``(N, in_dim) -> {col: (N, C)}``."""

    def __init__(self, in_dim: int, hidden: int, num_classes: dict[str, int], dropout: float):
        super().__init__()
        self.trunk = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.ReLU(),
                                   nn.Dropout(dropout))
        self.heads = nn.ModuleDict({c: nn.Linear(hidden, n) for c, n in num_classes.items()})

    def forward(self, r: Tensor) -> dict[str, Tensor]:
        h = self.trunk(r)
        return {c: head(h) for c, head in self.heads.items()}


class HybridModel(nn.Module):
    """Configurable fusion model; the registry builds the fused model and its ablations from it.

    Args:
        cfg: sizes. use_node_features: give ``x`` to the GNN (or to the trunk without a GNN).
        gnn: GNN kind or ``None`` (no message passing). syn_in_gnn: synapse-set embeddings as
        GNN edge features. pool_syn: pooled in/out connection embeddings. use_cloud: the
        per-neuron synapse-cloud embedding.
    """

    def __init__(self, cfg: ModelConfig, *, use_node_features: bool = True, gnn: str | None = "sage",
                 syn_in_gnn: bool = True, pool_syn: bool = True, use_cloud: bool = True):
        super().__init__()
        self.cfg = cfg
        self.use_node_features = use_node_features
        self.syn_in_gnn = syn_in_gnn and gnn is not None
        self.pool_syn = pool_syn
        needs_syn = self.syn_in_gnn or pool_syn
        self.synapse_encoder = SynapseSetEncoder(cfg) if needs_syn else None
        self.cloud_encoder = SynapseCloudEncoder(cfg) if use_cloud else None
        wiring_width, synapse_width = 0, 0
        self.gnn = None
        if gnn is not None:
            edge_dim = 1 + cfg.num_rois + (cfg.syn_dim if self.syn_in_gnn else 0)
            in_dim = cfg.num_node_features if use_node_features else 1
            self.gnn = ConnectomeEncoder(in_dim, edge_dim, cfg.hidden, cfg.gnn_layers, gnn,
                                         cfg.gat_heads, cfg.dropout)
            wiring_width += cfg.hidden
        elif use_node_features:
            wiring_width += cfg.num_node_features
        if pool_syn:
            synapse_width += 4 * cfg.syn_dim
        if use_cloud:
            synapse_width += cfg.cloud_dim
        self.heads = TaskHeads(wiring_width + synapse_width, cfg.hidden, cfg.num_classes, cfg.dropout)
        self.aux_heads = nn.ModuleDict()
        if cfg.aux_heads and wiring_width and synapse_width:  # only a fused model has two views
            self.aux_heads["wiring"] = TaskHeads(wiring_width, cfg.hidden, cfg.num_classes, cfg.dropout)
            self.aux_heads["synapse"] = TaskHeads(synapse_width, cfg.hidden, cfg.num_classes, cfg.dropout)
        self._widths = (wiring_width, synapse_width)

    def forward(self, data) -> dict[str, Tensor]:
        """``data``: a graph (see ``synhelpers.graph.build``) -> ``{column: logits (N, C)}``."""
        n = int(data.num_nodes)
        parts = []
        z = None
        needs_unit = self.synapse_encoder is not None or self.cloud_encoder is not None
        unit = node_unit_um(data) if needs_unit else None
        if self.synapse_encoder is not None:
            z = self.synapse_encoder(data.syn_ptr, data.syn_pos, data.syn_roi, data.syn_conf,
                                     data.roi_center, unit[data.edge_index[0]])
        if self.gnn is not None:
            attr = [torch.log1p(data.edge_weight.float())[:, None], data.edge_roi.float()]
            if self.syn_in_gnn:
                attr.append(z)
            x = data.x if self.use_node_features else data.x.new_ones(n, 1)
            parts.append(self.gnn(x, data.edge_index, torch.cat(attr, dim=1)))
        elif self.use_node_features:
            parts.append(data.x)
        if self.pool_syn:
            parts.append(pool_edges_to_nodes(z, data.edge_index[1], n))  # incoming connections
            parts.append(pool_edges_to_nodes(z, data.edge_index[0], n))  # outgoing connections
        if self.cloud_encoder is not None:
            parts.append(self.cloud_encoder(data.site_ptr, data.site_pos, data.site_is_post, unit))
        r = torch.cat(parts, dim=-1)
        out = self.heads(r)
        if self.training and len(self.aux_heads):
            views = dict(zip(("wiring", "synapse"), r.split(self._widths, dim=-1)))
            for view, head in self.aux_heads.items():
                out.update({f"{c}@{view}": logits for c, logits in head(views[view]).items()})
        return out

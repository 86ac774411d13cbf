"""Connectome encoder: a GNN over the neuron graph whose messages carry edge features.

Papers: GCN (Kipf & Welling, ICLR 2017), GraphSAGE (Hamilton et al., NeurIPS 2017),
GAT (Velickovic et al., ICLR 2018), GATv2 (Brody et al., ICLR 2022), GIN/GINE (Xu et al.,
ICLR 2019; Hu et al., ICLR 2020).

Direction: Dir-GNN (Rossi et al., LoG 2023). Each layer has one convolution over the input
connections and one, with its own weights, over the output connections:
``h_i' = (conv_in(h, E)_i + conv_out(h, E^T)_i) / 2``, so a neuron's upstream and downstream
partners are aggregated separately (in a connectome they mean different things: a class that
differs only in whom it targets is visible only in its outputs).

Input: node features ``x`` (N, F), ``edge_index`` (2, E) pre -> post, ``edge_attr`` (E, De)
= ``[log1p weight, ROI distribution (R), synapse-set embedding (optional)]``.
Every convolution puts the edge features into the message, e.g. SAGE here is
``h_i' = W_r h_i + W_n mean_j ReLU(h_j + W_e e_ji)``, so synapse information flows through
message passing rather than being concatenated at the end.
Output: ``(N, hidden)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GATv2Conv, GINEConv, MessagePassing
from torch_geometric.utils import degree

from .config import GNN_KINDS

__all__ = ["GNN_KINDS", "EdgeSAGEConv", "EdgeGCNConv", "DirectedConv", "ConnectomeEncoder"]


class EdgeSAGEConv(MessagePassing):
    """GraphSAGE (mean) with edge features in the message: ``W_r h_i + W_n mean_j ReLU(h_j + W_e e_ji)``."""

    def __init__(self, in_dim: int, out_dim: int, edge_dim: int):
        super().__init__(aggr="mean")
        self.lin_edge = nn.Linear(edge_dim, in_dim)
        self.lin_neigh = nn.Linear(in_dim, out_dim)
        self.lin_root = nn.Linear(in_dim, out_dim, bias=False)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        agg = self.propagate(edge_index, x=x, e=self.lin_edge(edge_attr))
        return self.lin_neigh(agg) + self.lin_root(x)

    def message(self, x_j: Tensor, e: Tensor) -> Tensor:
        return torch.relu(x_j + e)


class EdgeGCNConv(MessagePassing):
    """GCN with edge features: ``h_i' = sum_{j in N(i) + i} (W h_j + W_e e_ji) / sqrt(d_i d_j)``."""

    def __init__(self, in_dim: int, out_dim: int, edge_dim: int):
        super().__init__(aggr="add")
        self.lin = nn.Linear(in_dim, out_dim)
        self.lin_edge = nn.Linear(edge_dim, out_dim, bias=False)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        n = x.shape[0]
        loops = torch.arange(n, device=x.device)
        ei = torch.cat([edge_index, torch.stack([loops, loops])], dim=1)
        ea = torch.cat([edge_attr, edge_attr.new_zeros(n, edge_attr.shape[1])])
        deg = degree(ei[1], n, dtype=x.dtype)
        dinv = deg.pow(-0.5).masked_fill(deg == 0, 0)
        norm = dinv[ei[0]] * dinv[ei[1]]
        return self.propagate(ei, x=self.lin(x), e=self.lin_edge(ea), norm=norm)

    def message(self, x_j: Tensor, e: Tensor, norm: Tensor) -> Tensor:
        return norm[:, None] * (x_j + e)

    def forward_with_degree(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor,
                            deg: Tensor) -> Tensor:
        """:meth:`forward` normalised by given degrees ``deg`` (N,) (incoming edges + 1 self
        loop, counted in the FULL graph), for layer-wise inference on a subgraph whose
        nodes other than the targets miss some of their edges."""
        n = x.shape[0]
        loops = torch.arange(n, device=x.device)
        ei = torch.cat([edge_index, torch.stack([loops, loops])], dim=1)
        ea = torch.cat([edge_attr, edge_attr.new_zeros(n, edge_attr.shape[1])])
        dinv = deg.to(x.dtype).pow(-0.5).masked_fill(deg == 0, 0)
        norm = dinv[ei[0]] * dinv[ei[1]]
        return self.propagate(ei, x=self.lin(x), e=self.lin_edge(ea), norm=norm)


def make_conv(kind: str, dim: int, edge_dim: int, heads: int) -> nn.Module:
    if kind == "gat":
        return GATConv(dim, dim // heads, heads=heads, edge_dim=edge_dim)
    if kind == "gatv2":
        return GATv2Conv(dim, dim // heads, heads=heads, edge_dim=edge_dim)
    if kind == "sage":
        return EdgeSAGEConv(dim, dim, edge_dim)
    if kind == "gcn":
        return EdgeGCNConv(dim, dim, edge_dim)
    if kind == "gin":
        mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        return GINEConv(mlp, train_eps=True, edge_dim=edge_dim)
    raise ValueError(f"unknown GNN {kind!r}; choose one of {GNN_KINDS}")


class DirectedConv(nn.Module):
    """Dir-GNN wrapper with edge features: ``(conv_in(x, E, e) + conv_out(x, E^T, e)) / 2``.

    PyG's ``DirGNNConv`` does the same but passes no edge features, which carry the synapse
    embeddings here. With ``gap_junctions``, an undirected electrical-synapse edge type gets a
    convolution of its own and the three are averaged. ``x`` (N, d), ``edge_index`` (2, E),
    ``edge_attr`` (E, De), ``gap_index`` (2, G) both directions, ``gap_attr`` (G, 1) -> (N, d).
    """

    def __init__(self, kind: str, dim: int, edge_dim: int, heads: int, gap_junctions: bool = False):
        super().__init__()
        self.conv_in = make_conv(kind, dim, edge_dim, heads)
        self.conv_out = make_conv(kind, dim, edge_dim, heads)
        self.conv_gap = make_conv(kind, dim, 1, heads) if gap_junctions else None

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor,
                gap_index: Tensor | None = None, gap_attr: Tensor | None = None) -> Tensor:
        out = self.conv_in(x, edge_index, edge_attr) + self.conv_out(x, edge_index.flip(0), edge_attr)
        if self.conv_gap is None:
            return 0.5 * out
        return (out + self.conv_gap(x, gap_index, gap_attr)) / 3.0

    def forward_with_degrees(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor,
                             gap_index: Tensor | None, gap_attr: Tensor | None,
                             degrees: tuple[Tensor, Tensor, Tensor] | None) -> Tensor:
        """:meth:`forward` with full-graph degrees (in, out, gap) (N,) each for GCN
        convolutions (others ignore them); ``degrees=None`` is :meth:`forward`."""
        d_in, d_out, d_gap = degrees if degrees is not None else (None, None, None)
        out = (_conv(self.conv_in, x, edge_index, edge_attr, d_in)
               + _conv(self.conv_out, x, edge_index.flip(0), edge_attr, d_out))
        if self.conv_gap is None:
            return 0.5 * out
        return (out + _conv(self.conv_gap, x, gap_index, gap_attr, d_gap)) / 3.0


def _conv(conv: nn.Module, x: Tensor, edge_index: Tensor, edge_attr: Tensor,
          deg: Tensor | None) -> Tensor:
    if deg is not None and isinstance(conv, EdgeGCNConv):
        return conv.forward_with_degree(x, edge_index, edge_attr, deg)
    return conv(x, edge_index, edge_attr)


class ConnectomeEncoder(nn.Module):
    """``forward(x (N, F), edge_index (2, E), edge_attr (E, De)[, gap_index, gap_attr]) -> (N, hidden)``.

    Input projection, then ``layers`` residual blocks ``h + Dropout(ReLU(LN(conv(h))))``.
    """

    def __init__(self, in_dim: int, edge_dim: int, hidden: int = 64, layers: int = 2,
                 kind: str = "sage", heads: int = 2, dropout: float = 0.2, gap_junctions: bool = False):
        super().__init__()
        self.kind = kind
        self.inp = nn.Linear(in_dim, hidden)
        self.convs = nn.ModuleList(DirectedConv(kind, hidden, edge_dim, heads, gap_junctions)
                                   for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor,
                gap_index: Tensor | None = None, gap_attr: Tensor | None = None) -> Tensor:
        h = torch.relu(self.inp(x))
        for conv, norm in zip(self.convs, self.norms):
            h = h + self.dropout(torch.relu(norm(conv(h, edge_index, edge_attr, gap_index, gap_attr))))
        return h

    @torch.no_grad()
    def layerwise(self, x: Tensor, edge_index: Tensor, edge_attr_of: Callable[[Tensor], Tensor],
                  neighbourhoods: Callable[[], Iterable], gap_index: Tensor | None = None,
                  gap_attr: Tensor | None = None, device: torch.device | None = None) -> Tensor:
        """:meth:`forward` in eval mode, one layer at a time over chunks of target nodes.

        Each layer is computed for every node from the previous layer's output of its full
        in- and out-neighbourhood (and gap-junction partners), so the result equals
        :meth:`forward` (up to float rounding) without holding every edge's messages at once.

        Args:
            x: (N, F) input features (CPU is fine). edge_index: (2, E) the full graph's edges.
            edge_attr_of: ``e_id (E',) -> (E', De)`` edge features of the given edges.
            neighbourhoods: returns an iterable of chunks with ``n_id`` (targets first),
                ``e_id``, local ``edge_index`` (every edge into or out of a target) and
                ``batch_size`` (number of targets), covering every node once, e.g.
                ``lambda: synhelpers.graph.sampler.layerwise_batches(csr, 4096)``.
            gap_index, gap_attr: the gap-junction edges (2, G) and (G, 1), if any.
            device: where each chunk is computed (default: the parameters').

        Returns:
            (N, hidden) on the device of ``x``.
        """
        if self.training:
            raise RuntimeError("layerwise() computes eval-mode outputs; call .eval() first")
        device = device or self.inp.weight.device
        n = x.shape[0]
        degrees = _full_degrees(edge_index, gap_index, n) if self.kind == "gcn" else None
        h = None  # the previous layer's output for all nodes (None: the input projection)
        for conv, norm in zip(self.convs, self.norms):
            out = x.new_empty(n, self.inp.out_features)
            for chunk in neighbourhoods():
                nodes, ei, gi, g_id = _with_gap_partners(chunk, gap_index, n)
                hs = (torch.relu(self.inp(x[nodes].to(device))) if h is None
                      else h[nodes].to(device))
                gap = ((gi.to(device), gap_attr[g_id].to(device)) if gi is not None
                       else (None, None))
                deg = tuple(d[nodes].to(device) for d in degrees) if degrees else None
                y = conv.forward_with_degrees(hs, ei.to(device), edge_attr_of(chunk.e_id).to(device),
                                              *gap, deg)
                t = int(chunk.batch_size)
                out[nodes[:t]] = (hs[:t] + torch.relu(norm(y[:t]))).to(out.dtype).to(x.device)
            h = out
        return h if h is not None else torch.relu(self.inp(x.to(device))).to(x.device)


def _full_degrees(edge_index: Tensor, gap_index: Tensor | None, n: int) -> tuple[Tensor, ...]:
    """(in, out, gap) degree + 1 (the self loop EdgeGCNConv adds) of every node, (N,) each."""
    def deg(index: Tensor | None) -> Tensor:
        if index is None:
            return torch.ones(n, dtype=torch.long)
        return torch.bincount(index.cpu(), minlength=n) + 1
    return deg(edge_index[1]), deg(edge_index[0]), deg(gap_index[1] if gap_index is not None else None)


def _with_gap_partners(chunk, gap_index: Tensor | None, n: int):
    """Nodes, local edges, local gap edges and gap edge ids of one layer-wise chunk.

    The chunk's nodes come first (targets first); the gap-junction partners of its targets
    that are not among them are appended, so ``conv_gap`` sees every gap edge into a target.
    """
    nodes, ei = chunk.n_id, chunk.edge_index
    if gap_index is None:
        return nodes, ei, None, None
    is_target = torch.zeros(n, dtype=torch.bool)
    is_target[nodes[:chunk.batch_size]] = True
    g_id = is_target[gap_index[1]].nonzero().flatten()
    local = torch.full((n,), -1, dtype=torch.long)
    local[nodes] = torch.arange(nodes.numel())
    partners = gap_index[0, g_id]
    extra = torch.unique(partners[local[partners] < 0])
    local[extra] = torch.arange(nodes.numel(), nodes.numel() + extra.numel())
    return torch.cat([nodes, extra]), ei, local[gap_index[:, g_id]], g_id

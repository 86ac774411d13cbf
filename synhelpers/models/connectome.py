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
    r"""GraphSAGE (mean aggregator) with edge features in the message.

    Paper: "Inductive Representation Learning on Large Graphs" (Hamilton, Ying & Leskovec,
    NeurIPS 2017, https://arxiv.org/abs/1706.02216); the edge term enters the message as in
    GINE (Hu et al., "Strategies for Pre-training Graph Neural Networks", ICLR 2020,
    https://arxiv.org/abs/1905.12265). PyG's ``SAGEConv`` takes no edge features.

    ``h_i' = W_r h_i + W_n mean_{j -> i} ReLU(h_j + W_e e_ji) + b`` over the edges into ``i``
    (no self loop; a node without incoming edges gets ``W_r h_i + b``).

    Args:
        in_dim: F_in, width of the node features ``h``.
        out_dim: F_out, width of the output.
        edge_dim: D_e, width of the edge features ``e`` (projected to ``in_dim`` by ``W_e``).

    Shapes:
        - **input:** ``x`` (N, F_in), ``edge_index`` (2, E) source -> target,
          ``edge_attr`` (E, D_e)
        - **output:** (N, F_out)

    Example:
        >>> conv = EdgeSAGEConv(8, 16, edge_dim=3)
        >>> conv(torch.randn(4, 8), torch.tensor([[0, 1], [1, 2]]), torch.randn(2, 3)).shape
        torch.Size([4, 16])
    """

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
    r"""GCN with edge features added to each message.

    Paper: "Semi-Supervised Classification with Graph Convolutional Networks" (Kipf & Welling,
    ICLR 2017, https://arxiv.org/abs/1609.02907); the edge term as in GINE (Hu et al., ICLR
    2020). PyG's ``GCNConv`` takes a scalar edge weight only.

    ``h_i' = sum_{j in N_in(i) + {i}} (W h_j + b + W_e e_ji) / sqrt(d_i d_j)`` with one self
    loop per node (``e_ii = 0``) and ``d`` each node's in-degree + 1 (symmetric normalisation).

    Args:
        in_dim: F_in, width of the node features.
        out_dim: F_out, width of the output.
        edge_dim: D_e, width of the edge features (``W_e`` has no bias).

    Shapes:
        - **input:** ``x`` (N, F_in), ``edge_index`` (2, E) source -> target,
          ``edge_attr`` (E, D_e)
        - **output:** (N, F_out)

    :meth:`forward_with_degree` takes the degrees from the full graph instead (layer-wise
    inference on subgraphs).
    """

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
    """One convolution ``(x (N, dim), edge_index (2, E), edge_attr (E, edge_dim)) -> (N, dim)``
    of :data:`GNN_KINDS` (GAT / GATv2: ``heads`` heads of ``dim // heads``, concatenated)."""
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
    r"""Dir-GNN wrapper with edge features: one convolution per edge direction.

    Paper: "Edge Directionality Improves Learning on Heterophilic Graphs" (Rossi et al., LoG
    2023, https://arxiv.org/abs/2305.10498), with its mixing weight fixed at 1/2. PyG's
    ``DirGNNConv`` does the same but passes no edge features, which carry the synapse
    embeddings here.

    ``h' = (conv_in(h, E, e) + conv_out(h, E^T, e)) / 2``: ``conv_in`` aggregates each
    neuron's presynaptic partners, ``conv_out`` (its own weights) its postsynaptic ones, and
    a reversed edge keeps its features. With ``gap_junctions``, electrical synapses get a third
    convolution and ``h' = (conv_in + conv_out + conv_gap(h, G, g)) / 3``.

    Args:
        kind: one of :data:`GNN_KINDS` (``"sage"`` :class:`EdgeSAGEConv`, ``"gcn"``
            :class:`EdgeGCNConv`, ``"gat"`` / ``"gatv2"`` / ``"gin"`` PyG's ``GATConv``,
            ``GATv2Conv``, ``GINEConv`` with ``edge_dim``).
        dim: d, input and output width.
        edge_dim: D_e, width of the chemical-synapse edge features.
        heads: attention heads for GAT / GATv2 (``dim`` must be divisible by it).
        gap_junctions: add the electrical-synapse convolution (edge features of width 1).

    Shapes:
        - **input:** ``x`` (N, d), ``edge_index`` (2, E) pre -> post, ``edge_attr`` (E, D_e);
          with ``gap_junctions`` also ``gap_index`` (2, G) (both directions of every gap
          junction) and ``gap_attr`` (G, 1) (``log1p`` weight)
        - **output:** (N, d)

    Example:
        >>> conv = DirectedConv("sage", 8, edge_dim=3, heads=2)
        >>> conv(torch.randn(4, 8), torch.tensor([[0, 1], [1, 2]]), torch.randn(2, 3)).shape
        torch.Size([4, 8])
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
    r"""The wiring view: a directed GNN over the neuron graph (module docstring).

    Papers: the convolution of ``kind`` (module docstring) inside :class:`DirectedConv`
    (Dir-GNN, Rossi et al., LoG 2023); residual blocks as in ResNet (He et al., CVPR 2016).

    ``h^0 = ReLU(W_0 x)``, ``h^{l+1} = h^l + Dropout(ReLU(LayerNorm(DirectedConv_l(h^l, E, e))))``
    for ``l = 0 .. layers-1``; the output is ``h^layers``.

    Args:
        in_dim: F, width of the node features ``x`` (wiring features, standardised per
            connectome by the graph builder).
        edge_dim: D_e, width of ``edge_attr``: ``1 + R`` (``log1p`` synapse count, ROI
            fractions) plus ``syn_dim`` when synapse-set embeddings enter the messages.
        hidden: width of every layer (``ModelConfig.hidden``).
        layers: number of message-passing layers (``ModelConfig.gnn_layers``).
        kind: one of :data:`GNN_KINDS`.
        heads: attention heads for GAT / GATv2 (``hidden`` must be divisible by it).
        dropout: dropout probability on each block's output.
        gap_junctions: every layer also convolves over electrical synapses.

    Shapes:
        - **input:** ``x`` (N, F), ``edge_index`` (2, E) pre -> post, ``edge_attr`` (E, D_e),
          optional ``gap_index`` (2, G) and ``gap_attr`` (G, 1)
        - **output:** (N, hidden)

    Example:
        >>> enc = ConnectomeEncoder(in_dim=5, edge_dim=3, hidden=16, layers=2, kind="gcn")
        >>> enc(torch.randn(4, 5), torch.tensor([[0, 1, 2], [1, 2, 3]]), torch.randn(3, 3)).shape
        torch.Size([4, 16])
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

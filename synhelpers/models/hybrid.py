"""Fusion of the connectome and synapse views (the project's hybrid encoder) and its ablations.

Paper: this project's hybrid of Synapformer-style synapse-set encoders with a connectome GNN.

Input: a graph ``Data`` (see ``synhelpers.graph``): ``x`` (N, F), ``edge_index`` (2, E),
``edge_weight`` (E,), ``edge_roi`` (E, R), CSR synapse sets and per-neuron sites.
Node representation (each part optional, for ablations)::

    r_i = [ GNN(x, edges, [log1p w, roi, z_e])_i || pool_{e -> i} z_e || pool_{i -> e} z_e || cloud_i ]
    h_i = MLP([LayerNorm(r_i) || x_i]),   logits_c = W_c h_i + S_c x_i

with ``z_e`` (E, syn_dim) from :class:`SynapseSetEncoder`, pool = [max || mean], cloud_i
from :class:`SynapseCloudEncoder`, and ``x_i`` the input wiring features (standardised per
connectome by the graph builder). ``x_i`` reaches the trunk and, through a linear skip
``S_c``, every head directly (the layer-0 term of jumping-knowledge networks, Xu et al., ICML
2018), so a model that sees the baseline's features can always do what the logistic-regression
baseline does; raw features are never normalised per node. Output: a
:class:`~synhelpers.models.output.ModelOutput` (``out[column]``: logits (N, C));
:meth:`HybridModel.embed` returns ``h`` (the fused representation before the heads) and each
view's part.

Opt-in transmitter inputs (off by default; ``--set pair_stats=true``, ``--set edge_votes=true``):
``pair_stats`` adds each neuron's soft histogram of T-bar -> PSD distances
(:mod:`synhelpers.models.pair_stats`, (N, 34)) to the raw inputs ``x_i`` of the heads;
``edge_votes`` adds ``mean_{i -> e} log softmax(V_c z_e)`` to ``logits_c``: every outgoing
connection votes on its presynaptic neuron's label (a transmitter is shared by all of a neuron's
output synapses), and the votes are also trained alone as an auxiliary head (``out.aux["edges"]``).

Auxiliary view heads (``cfg.aux_heads``, training only): one extra head per view, on the
wiring part ``GNN(...)_i`` and on the synapse part ``[pool || pool || cloud_i]``, returned as
``out.aux["wiring"]`` and ``out.aux["synapse"]`` and added to the loss with weight
``TrainConfig.aux_weight``.
Jointly trained multimodal networks tend to fit the easiest view first and leave the other
under-trained (Wang, Tran & Feiszli, "What makes training multi-modal classification networks
hard?", CVPR 2020); a loss per view keeps both views learning. Evaluation uses the fused head only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from .cloud_encoder import SynapseCloudEncoder
from .config import ModelConfig
from .connectome import ConnectomeEncoder
from .output import ModelOutput
from .pair_stats import pair_distance_histogram, pair_features_dim
from .synapse_encoder import SynapseSetEncoder

__all__ = ["HybridModel", "TaskHeads", "Chunks", "pool_edges_to_nodes", "node_unit_um", "head_key"]


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


def head_key(column: str) -> str:
    """A ``ModuleDict`` key for a label column: any column name is allowed (``type`` would
    clash with ``nn.Module.type``; a dot is not allowed in a key)."""
    return "col_" + column.replace(".", "_")


@dataclass
class Chunks:
    """How to compute a model's eval-mode outputs in pieces (layer-wise inference).

    Attributes:
        neighbourhoods: returns the layer-wise chunks of target nodes with their full in- and
            out-neighbourhoods, e.g. ``lambda: layerwise_batches(DirectedCSR.from_data(data), 4096)``.
        syn_bounds: (C+1,) edge chunk boundaries of the synapse sets; None: one chunk.
        site_bounds: (C'+1,) node chunk boundaries of the site clouds and heads; None: one chunk.
        device: where the pieces are computed (None: the parameters' device).
    """

    neighbourhoods: Callable[[], Iterable]
    syn_bounds: Tensor | None = None
    site_bounds: Tensor | None = None
    device: torch.device | None = None


class TaskHeads(nn.Module):
    """Shared trunk and one linear head per label column, with a linear skip from raw features.

    ``forward(learned (N, D_l) | None, raw (N, D_r) | None) -> ({column: (N, C)}, h (N, hidden))``.
    Only the learned part is layer-normalised; raw input features pass as they are.
    """

    def __init__(self, learned_dim: int, raw_dim: int, hidden: int, num_classes: dict[str, int],
                 dropout: float, skip: bool = True):
        super().__init__()
        if learned_dim + raw_dim == 0:
            raise ValueError("TaskHeads needs at least one input")
        self.norm = nn.LayerNorm(learned_dim) if learned_dim else None
        self.trunk = nn.Sequential(nn.Linear(learned_dim + raw_dim, hidden), nn.ReLU(),
                                   nn.Dropout(dropout))
        self.columns = list(num_classes)
        self.heads = nn.ModuleDict({head_key(c): nn.Linear(hidden, n) for c, n in num_classes.items()})
        self.skip = nn.ModuleDict({head_key(c): nn.Linear(raw_dim, n, bias=False)
                                   for c, n in num_classes.items()}) if skip and raw_dim else None

    def forward(self, learned: Tensor | None, raw: Tensor | None = None):
        parts = ([self.norm(learned)] if learned is not None else []) + ([raw] if raw is not None else [])
        h = self.trunk(torch.cat(parts, dim=-1))
        out = {c: self.heads[head_key(c)](h) for c in self.columns}
        if self.skip is not None:
            out = {c: logits + self.skip[head_key(c)](raw) for c, logits in out.items()}
        return out, h


class HybridModel(nn.Module):
    """Configurable fusion model; the registry builds the fused model and its ablations from it.

    Args:
        cfg: sizes. use_node_features: give ``x`` to the GNN and the heads (skip path).
        gnn: GNN kind or ``None`` (no message passing). syn_in_gnn: synapse-set embeddings as
        GNN edge features. pool_syn: pooled in/out connection embeddings. use_cloud: the
        per-neuron synapse-cloud embedding.
    """

    #: A neuron's sites (its synapse cloud) reach that neuron's own output only, never a message,
    #: so a mini-batch may carry the seeds' sites alone (``build_batch(seed_sites_only=True)``).
    sites_reach_own_output_only = True

    def __init__(self, cfg: ModelConfig, *, use_node_features: bool = True, gnn: str | None = "sage",
                 syn_in_gnn: bool = True, pool_syn: bool = True, use_cloud: bool = True):
        super().__init__()
        self.cfg = cfg
        self.use_node_features = use_node_features
        self.syn_in_gnn = syn_in_gnn and gnn is not None
        self.pool_syn = pool_syn
        self.synapse_encoder = SynapseSetEncoder(cfg) if (self.syn_in_gnn or pool_syn) else None
        self.cloud_encoder = SynapseCloudEncoder(cfg) if use_cloud else None
        self.gnn = None
        if gnn is not None:
            edge_dim = 1 + cfg.num_rois + (cfg.syn_dim if self.syn_in_gnn else 0)
            in_dim = cfg.num_node_features if use_node_features else 1
            self.gnn = ConnectomeEncoder(in_dim, edge_dim, cfg.hidden, cfg.gnn_layers, gnn,
                                         cfg.gat_heads, cfg.dropout, gap_junctions=cfg.gap_junctions)
        self.use_pair_stats = bool(cfg.pair_stats) and self.synapse_encoder is not None
        wiring = cfg.hidden if gnn is not None else 0
        synapse = (4 * cfg.syn_dim if pool_syn else 0) + (cfg.cloud_dim if use_cloud else 0)
        raw = cfg.num_node_features if use_node_features else 0
        pairs = pair_features_dim() if self.use_pair_stats else 0
        self._widths = (wiring, synapse)
        self.heads = TaskHeads(wiring + synapse, raw + pairs, cfg.hidden, cfg.num_classes, cfg.dropout)
        # one linear vote per connection about its presynaptic neuron, per label column
        self.edge_votes = nn.ModuleDict(
            {head_key(c): nn.Linear(cfg.syn_dim, k) for c, k in cfg.num_classes.items()}
        ) if cfg.edge_votes and self.synapse_encoder is not None else None
        self.aux_heads = nn.ModuleDict()
        if cfg.aux_heads and (wiring or raw) and synapse:  # only a fused model has two views
            self.aux_heads["wiring"] = TaskHeads(wiring, raw, cfg.hidden, cfg.num_classes, cfg.dropout)
            self.aux_heads["synapse"] = TaskHeads(synapse, pairs, cfg.hidden, cfg.num_classes,
                                                  cfg.dropout)

    def forward(self, data, *, augment=None, chunks: Chunks | None = None) -> ModelOutput:
        """``data``: a graph (see ``synhelpers.graph.build``) -> :class:`ModelOutput`.

        Args:
            augment: None, or a point-set augmentation applied by both set encoders to every
                padded chunk (one draw of its global parameters per call; see
                :mod:`synhelpers.train.augmenting`).
            chunks: None (one pass over the whole graph on its device), or :class:`Chunks`:
                the same outputs computed piece by piece, layer-wise, in eval mode (see
                :meth:`inference`); the logits then come back on the CPU.
        """
        if chunks is not None and self.training:
            raise RuntimeError("layer-wise (chunked) outputs are eval-mode outputs; call model.eval()")
        v, votes = self._parts(data, augment, chunks)
        out, _ = self._heads(v, votes, chunks)
        aux = {}
        if self.training and len(self.aux_heads):
            aux["wiring"] = self.aux_heads["wiring"](v.get("wiring"), v.get("input"))[0]
            aux["synapse"] = self.aux_heads["synapse"](v["synapse"], v.get("pairs"))[0]
        if self.training and votes:
            aux["edges"] = dict(votes)
        return ModelOutput(out, aux=aux, votes=votes)

    def _parts(self, data, augment, chunks: Chunks | None):
        """Each view's part of the representation, and the edge votes: ``wiring`` (N, hidden)
        from the GNN, ``synapse`` (N, 4 syn_dim + cloud_dim), ``input`` (N, F) the wiring
        features, ``pairs`` (N, 2K+2) the pair-distance histogram (``cfg.pair_stats``); votes
        ``{column: (N, C)}``. With ``chunks`` every part is computed in pieces, on the CPU."""
        n = int(data.num_nodes)
        edges = data.edge_index if chunks is None else data.edge_index.cpu()
        needs_unit = self.synapse_encoder is not None or self.cloud_encoder is not None
        unit = node_unit_um(data) if needs_unit else None
        if unit is not None and chunks is not None:
            unit = unit.cpu()
        z = self._encode_sets(data, unit, augment, chunks) if self.synapse_encoder is not None else None
        v: dict[str, Tensor] = {}
        if self.gnn is not None:
            v["wiring"] = self._wiring(data, z, chunks)
        syn = []
        if self.pool_syn:
            syn.append(pool_edges_to_nodes(z, edges[1], n))  # incoming connections
            syn.append(pool_edges_to_nodes(z, edges[0], n))  # outgoing connections
        if self.cloud_encoder is not None:
            syn.append(self._clouds(data, unit, augment, chunks))
        if syn:
            v["synapse"] = torch.cat(syn, dim=-1)
        if self.use_node_features:
            v["input"] = data.x if chunks is None else data.x.cpu()
        if self.use_pair_stats:
            syn_ptr, syn_pos = ((data.syn_ptr, data.syn_pos) if chunks is None
                                else (data.syn_ptr.cpu(), data.syn_pos.cpu()))
            v["pairs"] = pair_distance_histogram(syn_ptr, syn_pos, edges, n, unit[edges[0]],
                                                 self.cfg.pair_unit_um)
        if z is None or chunks is None:
            votes = self._votes(z, edges[0], n)
        else:  # on the device, as the set embeddings would be there
            device = chunks.device or next(self.parameters()).device
            votes = {c: t.cpu() for c, t in self._votes(z.to(device), edges[0].to(device), n).items()}
        return v, votes

    def _encode_sets(self, data, unit: Tensor, augment, chunks: Chunks | None) -> Tensor:
        """``z`` (E, syn_dim): every connection's synapse-set embedding."""
        if chunks is None:
            return self.synapse_encoder(data.syn_ptr, data.syn_pos, data.syn_roi, data.syn_conf,
                                        data.roi_center, unit[data.edge_index[0]], augment=augment)
        return self._chunked_syn(data, unit, chunks.syn_bounds, self._device(chunks), augment)

    def _wiring(self, data, z: Tensor | None, chunks: Chunks | None) -> Tensor:
        """The wiring view (N, hidden): the GNN over the whole graph, or layer-wise."""
        if chunks is not None:
            return self._layerwise_gnn(data, z, chunks.neighbourhoods, self._device(chunks))
        attr = [torch.log1p(data.edge_weight.float())[:, None], data.edge_roi.float()]
        if self.syn_in_gnn:
            attr.append(z)
        x = data.x if self.use_node_features else data.x.new_ones(int(data.num_nodes), 1)
        gap = (data.gap_index, torch.log1p(data.gap_weight.float())[:, None]) \
            if self.cfg.gap_junctions else (None, None)
        return self.gnn(x, data.edge_index, torch.cat(attr, dim=1), *gap)

    def _clouds(self, data, unit: Tensor, augment, chunks: Chunks | None) -> Tensor:
        """Every neuron's synapse-cloud embedding (N, cloud_dim)."""
        if chunks is None:
            return self.cloud_encoder(data.site_ptr, data.site_pos, data.site_is_post, unit,
                                      augment=augment)
        bounds = chunks.site_bounds if chunks.site_bounds is not None \
            else torch.tensor([0, int(data.num_nodes)])
        return self._chunked_clouds(data, unit, bounds, self._device(chunks), augment)

    def _device(self, chunks: Chunks) -> torch.device:
        return chunks.device or next(self.parameters()).device

    def _votes(self, z: Tensor | None, src: Tensor, n: int) -> dict[str, Tensor]:
        """``{column: (N, C)}``: the mean log-probability that each outgoing connection's
        synapse set gives its presynaptic neuron (zeros without one)."""
        if self.edge_votes is None or z is None:
            return {}
        return {c: scatter(torch.log_softmax(self.edge_votes[head_key(c)](z).float(), -1),
                           src, dim=0, dim_size=n, reduce="mean")
                for c in self.heads.columns}

    @staticmethod
    def _raw(v: dict[str, Tensor]) -> Tensor | None:
        """The un-normalised inputs of the heads: wiring features, then the pair histogram."""
        raw = [v[k] for k in ("input", "pairs") if k in v]
        return torch.cat(raw, dim=-1) if raw else None

    def _heads(self, v: dict[str, Tensor], votes: dict[str, Tensor], chunks: Chunks | None = None):
        """Fused logits ``{column: (N, C)}`` and ``h`` (N, hidden); with ``chunks``, node chunk
        by node chunk on the device (``h`` is then None)."""
        if chunks is not None:
            n = next(iter(v.values())).shape[0]
            bounds = chunks.site_bounds if chunks.site_bounds is not None else torch.tensor([0, n])
            device, parts = self._device(chunks), []
            for a, b in _ranges(bounds):
                piece = {k: t[a:b].to(device) for k, t in v.items()}
                out, _ = self._heads(piece, {c: t[a:b].to(device) for c, t in votes.items()})
                parts.append({c: t.float().cpu() for c, t in out.items()})
            return {c: torch.cat([p[c] for p in parts]) for c in self.heads.columns}, None
        learned = [v[k] for k in ("wiring", "synapse") if k in v]
        out, h = self.heads(torch.cat(learned, dim=-1) if learned else None, self._raw(v))
        return {c: t + votes[c] if c in votes else t for c, t in out.items()}, h

    def embed(self, data) -> dict[str, Tensor]:
        """``{"fused": h (N, hidden), "wiring": ..., "synapse": ...}``: the representation the
        heads read, and each view's part (absent views are left out)."""
        v, votes = self._parts(data, None, None)
        _, h = self._heads(v, votes)
        return {"fused": h, **{k: v[k] for k in ("wiring", "synapse") if k in v}}

    @property
    def hops(self) -> int:
        """How many hops of neighbours a node's output depends on: the GNN layers, else 1
        when pooled connection embeddings are used, else 0 (mini-batch fan-outs needed)."""
        if self.gnn is not None:
            return len(self.gnn.convs)
        return 1 if self.pool_syn else 0

    @torch.no_grad()
    def inference(self, data, neighbourhoods: Callable[[], Iterable], syn_bounds: Tensor | None = None,
                  site_bounds: Tensor | None = None, device: torch.device | None = None,
                  augment=None) -> ModelOutput:
        """:meth:`forward` in eval mode, computed in pieces so that no step holds the whole graph:
        ``forward(data, chunks=Chunks(...))`` (the same code; only where each part is computed
        differs).

        1. the synapse-set embeddings ``z_e`` of every edge, chunk by chunk (``syn_bounds``);
        2. each GNN layer for chunks of target nodes with their full in- and out-neighbourhoods
           (``neighbourhoods``, see :meth:`ConnectomeEncoder.layerwise`);
        3. pooled connection embeddings (a scatter over all edges), the synapse clouds chunk by
           chunk (``site_bounds``), then the heads per node chunk.

        No neighbour is sampled, so the logits equal ``forward(data)`` in eval mode up to
        float rounding (a test checks this) and do not depend on any mini-batch setting.

        Args:
            data: the whole graph, typically on the CPU; only pieces move to ``device``.
            neighbourhoods: returns the layer-wise chunks (targets first), e.g.
                ``lambda: layerwise_batches(DirectedCSR.from_data(data), 4096)``.
            syn_bounds: (C+1,) edge chunk boundaries, e.g. ``edge_chunks(data.syn_ptr, 2**21)``;
                None: one chunk.
            site_bounds: (C'+1,) node chunk boundaries for the synapse clouds and heads, e.g.
                ``edge_chunks(data.site_ptr, 2**21)``; None: one chunk.
            device: where pieces are computed (default: the parameters').
            augment: as in :meth:`forward` (test-time augmentation views).

        Returns:
            :class:`ModelOutput` whose logits ``{column: (N, C)}`` are on the CPU.
        """
        return self.forward(data, augment=augment,
                            chunks=Chunks(neighbourhoods, syn_bounds, site_bounds, device))

    def _chunked_syn(self, data, unit: Tensor, bounds: Tensor | None, device, augment=None) -> Tensor:
        """``z`` (E, syn_dim) on the CPU, encoding the edges ``bounds[c]:bounds[c+1]`` at a time."""
        num_edges = int(data.edge_index.shape[1])
        bounds = bounds if bounds is not None else torch.tensor([0, num_edges])
        src, ptr = data.edge_index[0].cpu(), data.syn_ptr.cpu()
        out = [torch.zeros(0, self.cfg.syn_dim)]
        for a, b in _ranges(bounds):
            p0, p1 = int(ptr[a]), int(ptr[b])
            rows = [data[k][p0:p1].to(device) for k in ("syn_pos", "syn_roi", "syn_conf")]
            z = self.synapse_encoder((ptr[a:b + 1] - p0).to(device), *rows,
                                     data.roi_center.to(device), unit[src[a:b]].to(device),
                                     augment=augment)
            out.append(z.float().cpu())
        return torch.cat(out)

    def _chunked_clouds(self, data, unit: Tensor, bounds: Tensor, device, augment=None) -> Tensor:
        """Synapse-cloud embeddings (N, cloud_dim) on the CPU, node chunk by node chunk."""
        ptr = data.site_ptr.cpu()
        out = [torch.zeros(0, self.cfg.cloud_dim)]
        for a, b in _ranges(bounds):
            p0, p1 = int(ptr[a]), int(ptr[b])
            emb = self.cloud_encoder((ptr[a:b + 1] - p0).to(device), data.site_pos[p0:p1].to(device),
                                     data.site_is_post[p0:p1].to(device), unit[a:b].to(device),
                                     augment=augment)
            out.append(emb.float().cpu())
        return torch.cat(out)

    def _layerwise_gnn(self, data, z: Tensor | None, neighbourhoods, device) -> Tensor:
        """The wiring view (N, hidden) by :meth:`ConnectomeEncoder.layerwise`."""
        weight = torch.log1p(data.edge_weight.float().cpu())[:, None]
        roi = data.edge_roi.cpu()

        def edge_attr_of(e_id: Tensor) -> Tensor:
            parts = [weight[e_id], roi[e_id].float()] + ([z[e_id]] if self.syn_in_gnn else [])
            return torch.cat(parts, dim=1)

        x = data.x.cpu() if self.use_node_features else torch.ones(int(data.num_nodes), 1)
        gap = ((data.gap_index.cpu(), torch.log1p(data.gap_weight.float().cpu())[:, None])
               if self.cfg.gap_junctions else (None, None))
        return self.gnn.layerwise(x, data.edge_index.cpu(), edge_attr_of, neighbourhoods, *gap,
                                  device=device)


def _ranges(bounds: Tensor) -> list[tuple[int, int]]:
    """``[(bounds[0], bounds[1]), (bounds[1], bounds[2]), ...]`` as Python ints."""
    b = bounds.tolist()
    return list(zip(b[:-1], b[1:]))

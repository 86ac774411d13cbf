"""The registered models: the fused encoder, its ablations, the baselines and the original design.

Views: ``wiring`` = node features and connectome edges (weights, ROI fractions);
``synapse`` = synapse positions (per-connection sets and per-neuron clouds).
"""

from __future__ import annotations

from .connectome import GNN_KINDS
from .hybrid import HybridModel
from .original import OriginalSynapformer
from .registry import register_model

__all__: list[str] = []


@register_model("hybrid", views="wiring+synapse",
                description="fused: GNN (cfg.gnn) with synapse-set edge features + pooled in/out "
                            "connection embeddings + neuron synapse cloud")
def _hybrid(cfg):
    return HybridModel(cfg, gnn=cfg.gnn)


for _kind in GNN_KINDS:
    def _make_fused(cfg, kind=_kind):
        return HybridModel(cfg, gnn=kind)

    def _make_conn(cfg, kind=_kind):
        return HybridModel(cfg, gnn=kind, syn_in_gnn=False, pool_syn=False, use_cloud=False)

    register_model(f"hybrid_{_kind}", views="wiring+synapse",
                   description=f"fused model with a {_kind.upper()} connectome encoder")(_make_fused)
    register_model(_kind, views="wiring",
                   description=f"connectome only: {_kind.upper()} on node features, edge weight "
                               "and ROI fractions")(_make_conn)


@register_model("mlp", views="wiring", description="MLP on node features (no message passing)")
def _mlp(cfg):
    return HybridModel(cfg, gnn=None, pool_syn=False, use_cloud=False)


@register_model("synapse_only", views="synapse",
                description="synapse only: pooled in/out connection embeddings + neuron cloud, "
                            "no node features, no message passing")
def _synapse_only(cfg):
    return HybridModel(cfg, use_node_features=False, gnn=None, pool_syn=True, use_cloud=True)


@register_model("original", views="wiring+synapse", inductive=False,
                description="faithful original Synapformer design (1024-d neuron table, 2 GAT, "
                            "per-connection point encoder, concat); transductive only")
def _original(cfg):
    return OriginalSynapformer(cfg)

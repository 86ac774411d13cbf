"""The registered models: the fused encoder, its ablations, the baselines and the original design.

Importing this module fills the registry (:mod:`synhelpers.models.registry`);
``synhelpers.models`` exports the registry functions from here, so they always see it full.
"""

from __future__ import annotations

from .config import GNN_KINDS
from .hybrid import HybridModel
from .original import OriginalSynapformer
from .registry import build_model, get_spec, graph_views, list_models, register_model

__all__ = ["build_model", "get_spec", "graph_views", "list_models", "register_model"]

_ALL = ("wiring", "synapses", "sites")


@register_model("hybrid", needs=_ALL,
                description="fused: GNN (--set gnn=KIND, default sage) with synapse-set edge "
                            "features + pooled in/out connection embeddings + neuron synapse cloud")
def _hybrid(cfg):
    return HybridModel(cfg, gnn=cfg.gnn)


def _connectome_only(kind: str):
    def make(cfg):
        return HybridModel(cfg, gnn=kind, syn_in_gnn=False, pool_syn=False, use_cloud=False)

    return make


for _kind in GNN_KINDS:
    register_model(_kind, needs=("wiring",), fixed={"gnn": _kind},
                   description=f"connectome only: {_kind.upper()} on node features, edge weight "
                               "and ROI fractions")(_connectome_only(_kind))


@register_model("mlp", needs=("wiring",), description="MLP on node features (no message passing)")
def _mlp(cfg):
    return HybridModel(cfg, gnn=None, pool_syn=False, use_cloud=False)


@register_model("synapse_only", needs=("synapses", "sites"),
                description="synapse only: pooled in/out connection embeddings + neuron cloud, "
                            "no node features, no message passing")
def _synapse_only(cfg):
    return HybridModel(cfg, use_node_features=False, gnn=None, pool_syn=True, use_cloud=True)


@register_model("hybrid_cloud", needs=("wiring", "sites"),
                description="fused without per-connection sets: GNN + each neuron's synapse "
                            "cloud (for connectomes with per-neuron sites but no synapse pairs)")
def _hybrid_cloud(cfg):
    return HybridModel(cfg, gnn=cfg.gnn, syn_in_gnn=False, pool_syn=False, use_cloud=True)


@register_model("cloud_only", needs=("sites",),
                description="synapse cloud only: each neuron's own sites, no wiring")
def _cloud_only(cfg):
    return HybridModel(cfg, use_node_features=False, gnn=None, pool_syn=False, use_cloud=True)


@register_model("original", needs=("wiring", "synapses"), inductive=False,
                description="faithful original Synapformer design (1024-d neuron table, 2 GAT, "
                            "per-connection point encoder, concat); transductive only")
def _original(cfg):
    return OriginalSynapformer(cfg)

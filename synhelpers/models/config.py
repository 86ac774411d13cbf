"""Model configuration: one small dataclass shared by every model in the registry."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["ModelConfig", "TASK_COLUMNS"]

#: Task name on the command line -> label column(s) in the graph.
TASK_COLUMNS: dict[str, tuple[str, ...]] = {
    "cell_class": ("cell_class",),
    "nt": ("predictedNt",),
    "both": ("cell_class", "predictedNt"),
}


@dataclass
class ModelConfig:
    """Sizes of every model. Data-dependent fields are filled by :meth:`from_data`.

    Attributes:
        num_node_features: F, width of ``data.x``.
        num_rois: R, number of ROIs (``len(data.roi_names)``).
        num_nodes: N, only used by the original design's per-neuron table.
        num_classes: label column -> number of classes (one head per column).
        hidden: node representation width.
        point_dim: per-point width inside the set encoders.
        syn_dim: connection embedding width.
        cloud_dim: neuron synapse-cloud embedding width.
        set_size: K, points kept per connection (larger sets are subsampled).
        cloud_size: K_n, sites kept per neuron.
        knn: k, neighbours per point in local set attention.
        attn_heads: heads of the local set attention.
        gnn: one of ``gat``, ``gatv2``, ``sage``, ``gin``, ``gcn``.
        gnn_layers: message-passing layers.
        gat_heads: attention heads in GAT / GATv2 layers.
        dropout: dropout on node representations.
        roi_embed_dim: width of the learned per-synapse ROI embedding.
        coord_unit: multiply centroid-relative normalised coordinates by this (the graph
            stores (voxel - center) / pos_scale; ``pos_scale / 1000`` puts them in ~8 um units).
        pair_unit: multiply a normalised pre -> post displacement by this
            (``pos_scale / 32``: T-bar to PSD distances of 20-50 voxels become ~1).
        roi_centers: (R, 3) mean normalised pre-synaptic position per ROI, from the training
            graph (label-free); synapses are also located relative to their ROI's centre.
        point_budget: max padded points per chunk of sets (memory bound at hemibrain scale).
        checkpoint_chunks: recompute set-encoder chunks in backward (activation checkpointing).
        table_dim: width of the original design's per-neuron embedding table.
        aux_weight: loss weight of the per-view auxiliary heads of a fused model (0 = none;
            see :class:`synhelpers.models.HybridModel`). Models with one view ignore it.
    """

    num_node_features: int = 0
    num_rois: int = 0
    num_nodes: int = 0
    num_classes: dict[str, int] = field(default_factory=dict)
    hidden: int = 64
    point_dim: int = 16
    syn_dim: int = 32
    cloud_dim: int = 32
    set_size: int = 16
    cloud_size: int = 32
    knn: int = 8
    attn_heads: int = 2
    gnn: str = "sage"
    gnn_layers: int = 2
    gat_heads: int = 2
    dropout: float = 0.1
    roi_embed_dim: int = 8
    coord_unit: float = 1.0
    pair_unit: float = 1.0
    roi_centers: list = field(default_factory=list)
    point_budget: int = 1_000_000
    checkpoint_chunks: bool = False
    table_dim: int = 1024
    aux_weight: float = 0.5

    @classmethod
    def from_data(cls, data, label_columns, **overrides) -> ModelConfig:
        """Fill the data-dependent fields from a graph ``Data`` and the label columns to predict."""
        num_classes = {c: len(data.label_names[c]) for c in label_columns}
        pos_scale = float(getattr(data, "pos_scale", 1000.0))
        base = dict(
            num_node_features=int(data.x.shape[1]),
            num_rois=len(data.roi_names),
            num_nodes=int(data.num_nodes),
            num_classes=num_classes,
            coord_unit=pos_scale / 1000.0,
            pair_unit=pos_scale / 32.0,
            roi_centers=_roi_centers(data),
        )
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict:
        return asdict(self)


def _roi_centers(data) -> list:
    """Mean normalised pre-synaptic position of each ROI's synapses (zeros if none)."""
    import torch

    r = len(data.roi_names)
    if "syn_pos" not in data or r == 0:
        return [[0.0, 0.0, 0.0] for _ in range(r)]
    roi = data.syn_roi
    ok = roi >= 0
    sums = torch.zeros(r, 3, dtype=torch.float64).index_add_(0, roi[ok], data.syn_pos[ok, :3].double())
    counts = torch.bincount(roi[ok], minlength=r).clamp(min=1).double()
    return (sums / counts[:, None]).float().tolist()

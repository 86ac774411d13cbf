"""Model configuration: one small dataclass of sizes and choices shared by every registry model.

It holds no data statistics (those are graph attributes written by the builder, e.g.
``roi_center`` and ``pos_unit_um``) and no loss weights (those are in ``TrainConfig``).
Pure Python: cheap to import.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import get_origin, get_type_hints

__all__ = ["ModelConfig", "TASK_COLUMNS", "GNN_KINDS"]

#: Task name on the command line -> label column(s) in the graph.
TASK_COLUMNS: dict[str, tuple[str, ...]] = {
    "cell_class": ("cell_class",),
    "nt": ("predictedNt",),
    "both": ("cell_class", "predictedNt"),
}

#: Message-passing layers the connectome encoder can use.
GNN_KINDS = ("gat", "gatv2", "sage", "gin", "gcn")

#: Spellings of a boolean setting (``--set pair_stats=no``), case-insensitive.
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
_KIND_TEXT = {bool: "true or false (yes/no, on/off, 1/0)", int: "an integer", float: "a number",
              str: "a string", dict: "a mapping"}


def _typed(name: str, value, kind):
    """``value`` as the field type ``kind`` (bool, int, float, str or dict), converting only
    what is unambiguous: ``"no"`` -> False, ``"32"`` or ``32.0`` -> 32, ``1`` -> 1.0.

    Raises:
        ValueError: one line naming the field, the value and the type it needs.
    """
    kind = get_origin(kind) or kind
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, numbers.Integral) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
    elif kind is int and not isinstance(value, bool):
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real) and float(value).is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
    elif kind is float and not isinstance(value, bool):
        if isinstance(value, numbers.Real):
            return float(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return float(value)
    elif kind is str and isinstance(value, str):
        return value
    elif kind is dict and isinstance(value, Mapping):
        return dict(value)
    raise ValueError(f"model setting {name} must be {_KIND_TEXT.get(kind, kind)}, got {value!r}")


@dataclass
class ModelConfig:
    """Sizes and choices of every model. Shape fields are filled by :meth:`from_data`.

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
        gnn: one of :data:`GNN_KINDS`.
        gnn_layers: message-passing layers.
        gat_heads: attention heads in GAT / GATv2 layers.
        dropout: dropout on node representations.
        roi_embed_dim: width of the learned per-synapse ROI embedding.
        coord_unit_um: length unit of positions inside a set, in micrometres (8 um = 1,000
            hemibrain voxels): coordinates relative to a set's centroid are divided by it.
        pair_unit_um: length unit of the T-bar -> PSD displacement, in micrometres (0.256 um =
            32 voxels of 8 nm; real displacements are 20-50 voxels, so values are ~1).
        point_budget: max padded points per chunk of sets (memory bound at hemibrain scale).
        checkpoint_chunks: recompute set-encoder chunks in backward (activation checkpointing).
        table_dim: width of the original design's per-neuron embedding table.
        gap_junctions: the graph has an undirected electrical-synapse edge type (``gap_index``,
            ``gap_weight``); the GNN gets one more convolution per layer for it. Filled by
            :meth:`from_data`.
        aux_heads: give a fused model one extra head per view (wiring, synapse), trained with
            ``TrainConfig.aux_weight`` (see :class:`synhelpers.models.hybrid.HybridModel`).
        pair_stats: give the heads of a model with synapse sets each neuron's soft histogram
            of T-bar -> PSD distances over its outgoing and incoming pairs
            (:mod:`synhelpers.models.pair_stats`), beside the raw input features.
        edge_votes: every connection's synapse-set embedding votes on its presynaptic neuron's
            label (a linear head per column); the mean log-probability over a neuron's outgoing
            connections is added to its logits, and trained alone as an auxiliary head.

    Example:
        >>> ModelConfig(gnn="gat").gnn
        'gat'
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
    coord_unit_um: float = 8.0
    pair_unit_um: float = 0.256
    point_budget: int = 1_000_000
    checkpoint_chunks: bool = False
    table_dim: int = 1024
    aux_heads: bool = True
    gap_junctions: bool = False
    pair_stats: bool = False
    edge_votes: bool = False

    def __post_init__(self) -> None:
        kinds = get_type_hints(type(self))
        for f in fields(self):
            setattr(self, f.name, _typed(f.name, getattr(self, f.name), kinds[f.name]))
        if self.gnn not in GNN_KINDS:
            raise ValueError(f"gnn must be one of {', '.join(GNN_KINDS)}; got {self.gnn!r}")
        for name in ("hidden", "point_dim", "syn_dim", "cloud_dim", "set_size", "cloud_size",
                     "knn", "attn_heads", "gnn_layers", "gat_heads", "point_budget", "table_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.hidden % self.gat_heads or self.point_dim % self.attn_heads:
            raise ValueError("hidden must be divisible by gat_heads, point_dim by attn_heads")

    @classmethod
    def field_names(cls) -> list[str]:
        """Every field that ``--set FIELD=VALUE`` may override."""
        return [f.name for f in fields(cls)]

    @classmethod
    def check_overrides(cls, overrides: Mapping) -> dict:
        """``overrides`` with known field names and values of each field's type (``"no"`` ->
        False for a bool field, ``"32"`` -> 32 for an int field).

        Example:
            >>> ModelConfig.check_overrides({"pair_stats": "no", "hidden": "32"})
            {'pair_stats': False, 'hidden': 32}

        Raises:
            ValueError: an unknown name (the message lists the fields) or a value that is not
                of its field's type.
        """
        unknown = sorted(set(overrides) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"unknown model setting(s) {unknown}; settings are "
                             f"{', '.join(cls.field_names())}")
        kinds = get_type_hints(cls)
        return {k: _typed(k, v, kinds[k]) for k, v in overrides.items()}

    @classmethod
    def from_data(cls, data, label_columns, **overrides) -> ModelConfig:
        """Fill the shape fields from a graph ``Data`` and the label columns to predict.

        Raises:
            ValueError: an override names no field (the message lists them) or a bad value.
        """
        overrides = cls.check_overrides(overrides)
        base = dict(
            num_node_features=int(data.x.shape[1]),
            num_rois=len(data.roi_names),
            num_nodes=int(data.num_nodes),
            num_classes={c: len(data.label_names[c]) for c in label_columns},
            gap_junctions="gap_index" in data,
        )
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict:
        return asdict(self)

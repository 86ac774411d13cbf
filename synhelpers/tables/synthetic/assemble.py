"""The synapse and connection tables of the synthetic connectome, and ``synthetic.json``'s record.

Shared by the one-pass draw (:mod:`.generator`) and the chunked draw (:mod:`.chunked`), so both
write the same columns and dtypes.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from .config import BOX, CLASS_NAMES, NEUROTRANSMITTERS, ROI_NAMES, SyntheticConfig
from .design import Design
from .frames import Frame
from .sampling import SynapseSample

__all__ = ["synapse_table", "connection_rows", "connection_table", "dataset_name", "metadata"]


def synapse_table(syn: SynapseSample, body_id, pre, post, n_rois: int) -> pd.DataFrame:
    """One row per synaptic pair, neuPrint's columns (int32 voxels, float32 confidences).

    ``syn.syn_edge`` indexes ``pre``/``post`` (the edges the sample was drawn for).
    """
    roi_cat = pd.Categorical.from_codes(syn.syn_roi, categories=list(ROI_NAMES[:n_rois]))
    return pd.DataFrame({
        "bodyId_pre": body_id[pre[syn.syn_edge]],
        "bodyId_post": body_id[post[syn.syn_edge]],
        "roi_pre": roi_cat,
        "roi_post": roi_cat,
        "x_pre": syn.pos_pre[:, 0], "y_pre": syn.pos_pre[:, 1], "z_pre": syn.pos_pre[:, 2],
        "x_post": syn.pos_post[:, 0], "y_post": syn.pos_post[:, 1], "z_post": syn.pos_post[:, 2],
        "confidence_pre": syn.conf_pre,
        "confidence_post": syn.conf_post,
    })


def connection_rows(syn_edge: np.ndarray, syn_roi: np.ndarray, n_rois: int):
    """``(edge, roi, count)``: synapses per (edge, ROI), sorted by edge then ROI.

    Example:
        >>> e, r, c = connection_rows(np.array([0, 0, 0, 1]), np.array([2, 0, 2, 1]), 3)
        >>> e.tolist(), r.tolist(), c.tolist()
        ([0, 0, 1], [0, 2, 1], [1, 2, 1])
    """
    ukey, counts = np.unique(syn_edge * n_rois + syn_roi, return_counts=True)
    return ukey // n_rois, ukey % n_rois, counts


def connection_table(body_id, pre, post, edge, roi, count, n_rois: int) -> pd.DataFrame:
    """Per-ROI connection rows, as neuPrint's ``fetch_adjacencies``: synapses per (edge, ROI)."""
    return pd.DataFrame({
        "bodyId_pre": body_id[pre[edge]],
        "bodyId_post": body_id[post[edge]],
        "roi": np.array(ROI_NAMES[:n_rois], dtype=object)[roi],
        "weight": count.astype(np.int64),
    })


def dataset_name(cfg: SyntheticConfig) -> str:
    """``synthetic (2000 neurons, seed 0)``; other individuals say which one they are.

    Example:
        >>> dataset_name(SyntheticConfig(n_neurons=300, individual=2))
        'synthetic individual 2 (300 neurons, seed 0)'
    """
    who = f"synthetic individual {cfg.individual}" if cfg.individual else "synthetic"
    return f"{who} ({cfg.n_neurons} neurons, seed {cfg.seed})"


def metadata(cfg: SyntheticConfig, d: Design, weight, n_rows: int, n_syn: int, ceiling,
             frame: Frame) -> dict:
    """What ``synthetic.json`` records: settings, sizes, ceiling, which class needs which view."""
    n, n_edges = cfg.n_neurons, len(weight)
    return {
        "name": dataset_name(cfg),
        "generator": "synhelpers.tables.synthetic",
        "config": asdict(cfg),
        "seed": cfg.seed,
        "n_neurons": int(n),
        "n_connections": int(n_edges),
        "n_connection_rows": int(n_rows),
        "n_synapses": int(n_syn),
        "mean_out_degree": float(n_edges / n),
        "mean_synapses_per_connection": float(weight.mean()),
        "fraction_connections_1_to_3": float((weight <= 3).mean()),
        "voxel_nm": frame.voxel_nm,
        "frame": frame.to_dict(),
        "box_voxels": list(BOX),
        "classes": list(CLASS_NAMES[:cfg.n_classes]),
        "class_sizes": {CLASS_NAMES[c]: int(s) for c, s in enumerate(d.sizes)},
        "neurotransmitters": list(NEUROTRANSMITTERS),
        "rois": list(ROI_NAMES[:cfg.n_rois]),
        **ceiling,
        "class_dependency": d.dependency,
        "geometry_pairs": [[CLASS_NAMES[g], CLASS_NAMES[h]] for g, h in d.geometry_pairs],
        "wiring_pairs": [
            {"pair": [CLASS_NAMES[a], CLASS_NAMES[b]], "targets": [CLASS_NAMES[x], CLASS_NAMES[y]]}
            for a, b, x, y in d.wiring_pairs
        ],
        "notes": (
            "Synthetic data. 'ceiling' is the accuracy of the noise-free labels against the "
            "published cell_class labels (labelled neurons only); no model can beat it in "
            "expectation. 'synapse' classes are separable only from synapse positions, "
            "'wiring' classes only through message passing, 'both' from either."
        ),
    }

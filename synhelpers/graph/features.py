"""Wiring-only node features: degrees, weights and ROI fractions per neuron (no label)."""

from __future__ import annotations

import torch

__all__ = ["node_features"]


def node_features(
    edge_index: torch.Tensor, edge_weight: torch.Tensor, edge_roi: torch.Tensor, num_nodes: int
) -> torch.Tensor:
    """Wiring-only node features; they use no label.

    Columns: ``log1p`` of in-degree, out-degree, total input weight, total output weight,
    then the fraction of input synapses in each ROI (R columns) and of output synapses (R).

    Args:
        edge_index: (2, E) pre -> post.
        edge_weight: (E,) synapse counts.
        edge_roi: (E, R) per-ROI fractions of each edge's synapses.
        num_nodes: N.

    Returns:
        (N, 4 + 2R) float32.
    """
    pre, post = edge_index
    n, r = num_nodes, edge_roi.shape[1]
    ones = torch.ones_like(edge_weight)
    in_deg = torch.zeros(n).index_add_(0, post, ones)
    out_deg = torch.zeros(n).index_add_(0, pre, ones)
    in_w = torch.zeros(n).index_add_(0, post, edge_weight)
    out_w = torch.zeros(n).index_add_(0, pre, edge_weight)
    roi_w = edge_roi * edge_weight[:, None]
    in_roi = torch.zeros(n, r).index_add_(0, post, roi_w)
    out_roi = torch.zeros(n, r).index_add_(0, pre, roi_w)
    in_roi = in_roi / in_roi.sum(1, keepdim=True).clamp_min(1e-12)
    out_roi = out_roi / out_roi.sum(1, keepdim=True).clamp_min(1e-12)
    deg = torch.stack([in_deg, out_deg, in_w, out_w], 1).log1p()
    return torch.cat([deg, in_roi, out_roi], 1).float()

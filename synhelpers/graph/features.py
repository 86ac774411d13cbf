"""Wiring-only node features: degrees, weights and ROI fractions per neuron (no label)."""

from __future__ import annotations

import torch

__all__ = ["node_features", "standardise", "wiring_features"]


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


def standardise(x: torch.Tensor, connectome: torch.Tensor | None = None) -> torch.Tensor:
    """Z-score every column within each connectome (a constant column becomes 0).

    Connectomes differ in size and frame, so a degree of 30 means something else in a 2,000
    neuron fragment than in a whole brain; features are compared within their connectome.
    Label-free: uses every neuron's wiring, never a label.

    Example:
        >>> standardise(torch.tensor([[1.0], [3.0], [10.0], [10.0]]), torch.tensor([0, 0, 1, 1])).flatten().tolist()
        [-1.0, 1.0, 0.0, 0.0]
    """
    conn = torch.zeros(x.shape[0], dtype=torch.long) if connectome is None else connectome
    c = int(conn.max()) + 1 if conn.numel() else 1
    count = torch.bincount(conn, minlength=c).clamp(min=1).double()[:, None]
    xd = x.double()
    mean = torch.zeros(c, x.shape[1], dtype=torch.float64).index_add_(0, conn, xd) / count
    var = torch.zeros(c, x.shape[1], dtype=torch.float64).index_add_(0, conn, (xd - mean[conn]) ** 2) / count
    std = var.sqrt()
    z = (xd - mean[conn]) / torch.where(std > 1e-9, std, torch.ones_like(std))[conn]
    return torch.where(std[conn] > 1e-9, z, torch.zeros_like(z)).float()


def wiring_features(edge_index, edge_weight, edge_roi, num_nodes: int, connectome=None) -> torch.Tensor:
    """:func:`node_features`, standardised per connectome: the ``x`` every model reads."""
    return standardise(node_features(edge_index, edge_weight, edge_roi, num_nodes), connectome)

"""Synapse-cloud encoder, per neuron.

Paper: same building blocks as the Synapformer connection encoder (PointNet shared MLP,
kNN local attention, masked pooling), applied to all of one neuron's own synaptic sites.

Input: ``site_ptr`` (N+1,), ``site_pos`` (M, 3) normalised, ``site_is_post`` (M,) bool.
Each neuron's sites are subsampled to K_n (random in training, FPS in evaluation).
Per point: ``[(p - c_n) * unit (3), is_post (1)]``; per set: ``[c_n (3), log1p(n_sites) / 5]``.
Output: ``(N, cloud_dim)`` one embedding per neuron (zeros' encoding for a neuron without sites).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .blocks import PointSetCore
from .config import ModelConfig
from .synapse_encoder import PlanCache

__all__ = ["SynapseCloudEncoder"]


class SynapseCloudEncoder(nn.Module):
    """Per-neuron synapse-cloud encoder. ``forward(data) -> (N, cfg.cloud_dim)``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.core = PointSetCore(4, 4, cfg.point_dim, cfg.cloud_dim, cfg.knn, cfg.attn_heads)
        self.plans = PlanCache()

    def encode_padded(self, pos: Tensor, is_post: Tensor, mask: Tensor, centroid: Tensor, size: Tensor) -> Tensor:
        """pos (B, P, 3), is_post (B, P) bool, mask (B, P), centroid (B, 3), size (B,) -> (B, cloud_dim)."""
        rel = (pos - centroid[:, None]) * self.cfg.coord_unit
        feats = torch.cat([rel, is_post[..., None].to(pos.dtype)], dim=-1)
        set_feats = torch.cat([centroid, torch.log1p(size.float())[:, None] / 5.0], dim=-1)
        return self.core(feats, rel, mask, set_feats)

    def forward(self, data) -> Tensor:
        ptr, pos = data.site_ptr, data.site_pos
        plan, centroid = self.plans.get(ptr, pos, self.cfg.cloud_size, self.cfg.point_budget)
        centroid = centroid.to(pos.dtype)
        sizes = ptr[1:] - ptr[:-1]
        sets_all, embs = [], []
        for chunk in plan.chunks(self.training, pos):
            idx = chunk.index
            embs.append(self.encode_padded(pos[idx], data.site_is_post[idx], chunk.mask,
                                           centroid[chunk.sets], sizes[chunk.sets]))
            sets_all.append(chunk.sets)
        n = plan.num_sets
        if not embs:
            return pos.new_zeros(n, self.cfg.cloud_dim)
        emb = torch.cat(embs)
        return emb.new_zeros(n, emb.shape[1]).index_copy(0, torch.cat(sets_all), emb)

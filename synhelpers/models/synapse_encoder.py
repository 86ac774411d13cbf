"""Synapse encoder, per connection (the "Synapformer" set encoder, done in padded tensors).

Paper: Synapformer (connection-level point-set transformer over synaptic pairs), built from
PointNet (Qi et al., CVPR 2017) and kNN local attention (Point Transformer, Zhao et al., 2021).

Input: for every connection e (pre -> post) its set of synaptic pairs, read from the graph's
CSR table: ``syn_ptr`` (E+1,), ``syn_pos`` (S, 6) = (pre xyz, post xyz) normalised,
``syn_roi`` (S,) int64 (-1 unknown), ``syn_conf`` (S, 2). Sets are padded to at most K
points with a mask (bucketed 1, 2, 4, ..., K); a larger set is subsampled to K points:
random in training, farthest-point sampling in evaluation.

Per point: ``[(p - c_e) * unit (6), (post - pre) * pair_unit (3), |post - pre| * pair_unit (1),
(pre - roi_centre) * unit (3), confidences (2), ROI embedding]`` with ``c_e`` the centroid of
the whole set (``unit`` ~ 1000 voxels, ``pair_unit`` ~ 32 voxels); per set:
``[c_e (6), log1p(n_e) / 5]``.
Maths: ``z_e = MLP([pool_i Block(MLP(f_i)) || c_e || log1p n_e])``.

Output: ``(E, syn_dim)`` one embedding per connection. Sets are encoded in chunks under a
point budget; with ``checkpoint_chunks`` each chunk is recomputed in backward, so memory is
bounded by one chunk plus the (E, syn_dim) output (hemibrain scale on one GPU).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .blocks import PointSetCore
from .config import ModelConfig
from .pointset import SetPlan, build_set_plan, segment_mean

__all__ = ["SynapseSetEncoder", "PlanCache"]


class PlanCache:
    """Per-graph cache of set plans and centroids (keyed by the CSR tensor's storage)."""

    def __init__(self, max_items: int = 4):
        self.max_items = max_items
        self._items: dict = {}

    def get(self, ptr: Tensor, pos: Tensor, k: int, budget: int) -> tuple[SetPlan, Tensor]:
        key = (ptr.data_ptr(), ptr.numel(), pos.data_ptr(), str(ptr.device), k, budget)
        if key not in self._items:
            if len(self._items) >= self.max_items:
                self._items.pop(next(iter(self._items)))
            self._items[key] = (build_set_plan(ptr, k, budget), segment_mean(pos.float(), ptr))
        return self._items[key]


class SynapseSetEncoder(nn.Module):
    """Per-connection synapse-set encoder. ``forward(data) -> (E, cfg.syn_dim)``."""

    def __init__(self, cfg: ModelConfig, use_attention: bool = True, relative: bool = True):
        super().__init__()
        self.cfg = cfg
        self.relative = relative
        self.roi_embed = nn.Embedding(cfg.num_rois + 1, cfg.roi_embed_dim)
        point_in = 6 + 3 + 1 + 3 + 2 + cfg.roi_embed_dim
        centers = torch.tensor(cfg.roi_centers, dtype=torch.float32).reshape(-1, 3)
        self.register_buffer("roi_centers", torch.cat([torch.zeros(1, 3), centers]), persistent=False)
        self.core = PointSetCore(point_in, 7, cfg.point_dim, cfg.syn_dim, cfg.knn, cfg.attn_heads,
                                 use_attention=use_attention)
        self.plans = PlanCache()

    def encode_padded(self, pos: Tensor, roi: Tensor, conf: Tensor, mask: Tensor,
                      centroid: Tensor, size: Tensor) -> Tensor:
        """Encode padded sets. pos (B, P, 6), roi (B, P), conf (B, P, 2), mask (B, P),
        centroid (B, 6), size (B,) number of synapses of the full set -> (B, syn_dim)."""
        unit = self.cfg.coord_unit
        rel = (pos - centroid[:, None]) * unit if self.relative else pos * unit
        disp = (pos[..., 3:] - pos[..., :3]) * self.cfg.pair_unit
        roi1 = roi.clamp(min=-1) + 1  # 0 = unknown ROI
        centre = self.roi_centers[roi1] if self.roi_centers.shape[0] == self.cfg.num_rois + 1 else 0.0
        in_roi = (pos[..., :3] - centre) * unit * (roi1 > 0)[..., None]
        feats = torch.cat([rel, disp, disp.norm(dim=-1, keepdim=True), in_roi, conf,
                           self.roi_embed(roi1)], dim=-1)
        set_feats = torch.cat([centroid, torch.log1p(size.float())[:, None] / 5.0], dim=-1)
        return self.core(feats, rel, mask, set_feats)

    def _encode_chunk(self, pos, roi, conf, centroid, sizes, sets, index, mask):
        return self.encode_padded(pos[index], roi[index], conf[index], mask, centroid[sets], sizes[sets])

    def forward(self, data) -> Tensor:
        ptr, pos = data.syn_ptr, data.syn_pos
        plan, centroid = self.plans.get(ptr, pos, self.cfg.set_size, self.cfg.point_budget)
        centroid = centroid.to(pos.dtype)
        sizes = ptr[1:] - ptr[:-1]
        roi, conf = data.syn_roi, data.syn_conf
        sets_all, embs = [], []
        use_ckpt = self.cfg.checkpoint_chunks and self.training and torch.is_grad_enabled()
        for chunk in plan.chunks(self.training, pos):
            args = (pos, roi, conf, centroid, sizes, chunk.sets, chunk.index, chunk.mask)
            if use_ckpt:
                emb = checkpoint(self._encode_chunk, *args, use_reentrant=False)
            else:
                emb = self._encode_chunk(*args)
            sets_all.append(chunk.sets)
            embs.append(emb)
        num_sets = plan.num_sets
        if not embs:
            return pos.new_zeros(num_sets, self.cfg.syn_dim)
        emb = torch.cat(embs)
        out = emb.new_zeros(num_sets, emb.shape[1])
        return out.index_copy(0, torch.cat(sets_all), emb)

"""Shared building blocks of the set encoders: PointNet shared MLP, local kNN attention, masked pooling.

- PointNet (Qi et al., CVPR 2017): ``h_i = MLP(f_i)`` shared over points, ``g = pool_i h_i``.
- Local set attention ("Synapformer" block; neighbourhood attention as in Point Transformer,
  Zhao et al., ICCV 2021): ``h_i += softmax_{j in kNN(i)}(q_i . k_j / sqrt(d)) v_j``, then
  ``h_i += FFN(h_i)``, pre-LayerNorm.
- :func:`masked_pool`: ``[max_i h_i || mean_i h_i]`` over real points only.

Padded points never reach a real point: they are excluded as keys and in pooling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .pointset import knn_mask

__all__ = ["PointMLP", "LocalSetAttention", "masked_pool", "PointSetCore"]


class PointMLP(nn.Module):
    """Shared per-point MLP. ``(B, P, in_dim) -> (B, P, out_dim)``."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class LocalSetAttention(nn.Module):
    """Multi-head attention restricted to each point's k nearest points in its own set.

    Input ``h`` ``(B, P, d)`` and ``allowed`` ``(B, P, P)`` bool (from :func:`knn_mask`);
    output ``(B, P, d)``.
    """

    def __init__(self, dim: int, heads: int = 2):
        super().__init__()
        if dim % heads:
            raise ValueError("dim must be divisible by heads")
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, dim))

    def forward(self, h: Tensor, allowed: Tensor) -> Tensor:
        b, p, d = h.shape
        qkv = self.qkv(self.norm1(h)).view(b, p, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, P, dh)
        if p <= 2:  # tiny sets: explicit softmax is faster than the fused kernel on CPU
            scores = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
            scores = scores.masked_fill(~allowed[:, None], float("-inf"))
            att = scores.softmax(-1) @ v
        else:
            att = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None])
        h = h + self.out(att.transpose(1, 2).reshape(b, p, d))
        return h + self.ffn(self.norm2(h))


def masked_pool(h: Tensor, mask: Tensor) -> Tensor:
    """``[max || mean]`` over real points. ``h`` (B, P, d), ``mask`` (B, P) -> (B, 2d)."""
    m = mask[..., None]
    hmax = h.masked_fill(~m, float("-inf")).amax(1)
    hmax = torch.where(mask.any(1, keepdim=True), hmax, torch.zeros_like(hmax))
    hmean = (h * m).sum(1) / m.sum(1).clamp(min=1)
    return torch.cat([hmax, hmean], dim=-1)


class PointSetCore(nn.Module):
    """PointNet shared MLP + one local-attention block + masked pooling + set-level MLP.

    forward(point_feats (B, P, Fp), coords (B, P, D), mask (B, P), set_feats (B, Fs)) -> (B, out_dim).
    ``coords`` only choose the k nearest neighbours; ``use_attention=False`` gives plain PointNet.
    """

    def __init__(self, point_in: int, set_in: int, point_dim: int, out_dim: int, knn: int = 8,
                 heads: int = 2, use_attention: bool = True):
        super().__init__()
        self.knn = knn
        self.point_mlp = PointMLP(point_in, point_dim)
        self.block = LocalSetAttention(point_dim, heads) if use_attention else None
        self.set_mlp = nn.Sequential(
            nn.Linear(2 * point_dim + set_in, out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim)
        )

    def forward(self, point_feats: Tensor, coords: Tensor, mask: Tensor, set_feats: Tensor) -> Tensor:
        h = self.point_mlp(point_feats)
        if self.block is not None:
            h = self.block(h, knn_mask(coords, mask, self.knn))
        return self.set_mlp(torch.cat([masked_pool(h, mask), set_feats], dim=-1))

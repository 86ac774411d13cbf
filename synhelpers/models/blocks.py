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
    r"""PointNet's shared per-point MLP: the same weights for every point of every set.

    Paper: "PointNet: Deep Learning on Point Sets for 3D Classification and Segmentation"
    (Qi et al., CVPR 2017, https://arxiv.org/abs/1612.00593).

    ``h_i = W_2 ReLU(W_1 f_i + b_1) + b_2`` (no activation after the last layer).

    Args:
        in_dim: width of each point's features ``f_i``.
        out_dim: width of the hidden layer and of the output.

    Shapes:
        - **input:** (..., in_dim), usually (B, P, in_dim): B sets of P (padded) points
        - **output:** (..., out_dim)
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class LocalSetAttention(nn.Module):
    r"""Pre-LayerNorm transformer block whose attention is restricted to each point's k nearest
    points in its own set (the "Synapformer" block).

    Papers: scaled dot-product multi-head attention (Vaswani et al., "Attention Is All You
    Need", NeurIPS 2017) over a kNN neighbourhood, as Point Transformer restricts it (Zhao et
    al., ICCV 2021, https://arxiv.org/abs/2012.09164; its vector attention and positional
    encoding are not used here); pre-LN ordering (Xiong et al., ICML 2020). The project cites
    no paper for the combination; its design (issue 4) calls it the "Synapformer" block.

    ``h_i <- h_i + W_o concat_heads(sum_{j in kNN(i)} softmax_j(q_i . k_j / sqrt(d_h)) v_j)``
    with ``q, k, v = W_qkv LN_1(h)`` split into heads of ``d_h = d / heads``, then
    ``h_i <- h_i + FFN(LN_2(h_i))``, FFN = Linear(d, 2d), ReLU, Linear(2d, d).

    Args:
        dim: d, width of the point features (divisible by ``heads``).
        heads: attention heads.

    Shapes:
        - **input:** ``h`` (B, P, d); ``allowed`` (B, P, P) bool, ``[b, i, j]`` True where
          point ``i`` may attend to point ``j`` (:func:`knn_mask`; every row needs a True)
        - **output:** (B, P, d)

    Example:
        >>> att = LocalSetAttention(8, heads=2)
        >>> pos, mask = torch.randn(2, 5, 3), torch.ones(2, 5, dtype=torch.bool)
        >>> att(torch.randn(2, 5, 8), knn_mask(pos, mask, k=3)).shape
        torch.Size([2, 5, 8])
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
    """``[max || mean]`` over real points. ``h`` (B, P, d), ``mask`` (B, P) -> (B, 2d).

    A set without real points pools to zeros.

    Example:
        >>> h = torch.tensor([[[1.0], [3.0], [100.0]]])  # one set, the third point padded
        >>> masked_pool(h, torch.tensor([[True, True, False]])).tolist()
        [[3.0, 2.0]]
    """
    m = mask[..., None]
    hmax = h.masked_fill(~m, float("-inf")).amax(1)
    hmax = torch.where(mask.any(1, keepdim=True), hmax, torch.zeros_like(hmax))
    hmean = (h * m).sum(1) / m.sum(1).clamp(min=1)
    return torch.cat([hmax, hmean], dim=-1)


class PointSetCore(nn.Module):
    r"""One set encoder: PointNet shared MLP, one local-attention block, masked pooling and a
    set-level MLP; the core of both :class:`~synhelpers.models.synapse_encoder.SynapseSetEncoder`
    and :class:`~synhelpers.models.cloud_encoder.SynapseCloudEncoder`.

    Papers: PointNet (Qi et al., CVPR 2017) with the kNN attention block of
    :class:`LocalSetAttention`.

    ``z = MLP_set([max_i h_i || mean_i h_i || s])``, ``h = Block(PointMLP(f), kNN(coords))``,
    over the real points ``i`` of each set (MLP_set = Linear, ReLU, Linear).

    Args:
        point_in: F_p, width of the per-point features ``f``.
        set_in: F_s, width of the per-set features ``s`` (e.g. centroid, log size).
        point_dim: width of the per-point representation ``h``.
        out_dim: width of the set embedding ``z``.
        knn: k, neighbours per point in the attention block (itself included).
        heads: attention heads (``point_dim`` must be divisible by it).
        use_attention: False drops the attention block (plain PointNet).

    Shapes:
        - **input:** ``point_feats`` (B, P, F_p), ``coords`` (B, P, D) (only choose the k
          nearest neighbours; any frame, distances are compared within a set), ``mask``
          (B, P) bool True for real points, ``set_feats`` (B, F_s)
        - **output:** (B, out_dim)

    Example:
        >>> core = PointSetCore(point_in=4, set_in=2, point_dim=8, out_dim=16, knn=3)
        >>> mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
        >>> core(torch.randn(2, 5, 4), torch.randn(2, 5, 3), mask, torch.randn(2, 2)).shape
        torch.Size([2, 16])
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

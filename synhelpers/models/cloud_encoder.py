"""Synapse-cloud encoder, per neuron.

Paper: same building blocks as the Synapformer connection encoder (PointNet shared MLP,
kNN local attention, masked pooling), applied to all of one neuron's own synaptic sites.

Input (explicit tensors): ``site_ptr`` (N+1,), ``site_pos`` (M, 3) in the normalised frame,
``site_is_post`` (M,) bool, ``unit_um`` (N,) micrometres per normalised unit of each neuron's
connectome. Each neuron's sites are subsampled to K_n (random in training, FPS in evaluation).
Per point: ``[(p - c_n) u (3), is_post (1)]`` with ``u = unit_um / coord_unit_um``;
per set: ``[c_n (3), log1p(n_sites) / 5]``.
Output: ``(N, cloud_dim)`` one embedding per neuron (a zero row for a neuron without sites).

Augmentation: the ``augment`` argument (None: no change) is a callable on a padded chunk
``{"pos" (B, P, 3), "mask" (B, P), "conf" (B, P, 1) all 1.0 (sites carry no confidence),
"centroid" (B, 3)} -> dict``, as for the synapse-set encoder.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .blocks import PointSetCore
from .config import ModelConfig
from .synapse_encoder import PlanCache

__all__ = ["SynapseCloudEncoder"]


class SynapseCloudEncoder(nn.Module):
    r"""Per-neuron synapse-cloud encoder: one embedding per neuron from its own synaptic sites.

    Papers: PointNet (Qi et al., CVPR 2017) and kNN local attention (Point Transformer, Zhao
    et al., ICCV 2021) in :class:`~synhelpers.models.blocks.PointSetCore`; farthest-point
    sampling from PointNet++ (Qi et al., NeurIPS 2017). Applying the blocks to a neuron's
    whole cloud of sites is this project's design (issue 4), not a published model.

    ``z_n = PointSetCore([(p - c_n) u || is_post_p]_{p in S_n}, [c_n || log1p(m_n) / 5])``
    over the sites ``S_n`` kept of neuron n (all, or ``K_n`` of them), with ``c_n`` the centroid of all its
    ``m_n`` sites (normalised frame) and ``u = unit_um / coord_unit_um``.

    Args:
        cfg: sizes and units: ``cloud_size`` (K_n, sites kept per neuron), ``point_dim``,
            ``cloud_dim`` (output width), ``knn``, ``attn_heads``, ``coord_unit_um``
            (length unit of the centred coordinates, micrometres), ``point_budget``.

    Shapes:
        - **input:** ``site_ptr`` (N+1,) int64 CSR pointer, ``site_pos`` (M, 3) in the
          normalised frame, ``site_is_post`` (M,) bool (True: postsynaptic density, False:
          T-bar), ``unit_um`` (N,) micrometres per normalised unit of each neuron's connectome
        - **output:** (N, cloud_dim); a zero row for a neuron without sites

    Example:
        >>> enc = SynapseCloudEncoder(ModelConfig()).eval()
        >>> ptr = torch.tensor([0, 3, 3])  # neuron 0: three sites; neuron 1: none
        >>> out = enc(ptr, 0.01 * torch.randn(3, 3), torch.tensor([True, False, True]),
        ...           torch.full((2,), 160.0))
        >>> out.shape, bool(out[1].eq(0).all())
        (torch.Size([2, 32]), True)
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.core = PointSetCore(4, 4, cfg.point_dim, cfg.cloud_dim, cfg.knn, cfg.attn_heads)
        self.plans = PlanCache()

    def encode_padded(self, pos: Tensor, is_post: Tensor, mask: Tensor, centroid: Tensor,
                      size: Tensor, unit_um: Tensor) -> Tensor:
        """pos (B, P, 3), is_post (B, P) bool, mask (B, P), centroid (B, 3), size (B,),
        unit_um (B,) -> (B, cloud_dim)."""
        unit = (unit_um / self.cfg.coord_unit_um).to(pos.dtype)[:, None, None]
        rel = (pos - centroid[:, None]) * unit
        feats = torch.cat([rel, is_post[..., None].to(pos.dtype)], dim=-1)
        set_feats = torch.cat([centroid, torch.log1p(size.float())[:, None] / 5.0], dim=-1)
        return self.core(feats, rel, mask, set_feats)

    def forward(self, site_ptr: Tensor, site_pos: Tensor, site_is_post: Tensor,
                unit_um: Tensor, augment=None) -> Tensor:
        """Encode every neuron's site cloud (shapes in the module docstring) -> (N, cloud_dim).
        ``augment``: None, or a callable on padded chunks (see the module docstring)."""
        ptr, pos = site_ptr, site_pos
        plan, centroid = self.plans.get(ptr, pos, self.cfg.cloud_size, self.cfg.point_budget)
        centroid = centroid.to(pos.dtype)
        sizes = ptr[1:] - ptr[:-1]
        sets_all, embs = [], []
        for chunk in plan.chunks(self.training, pos):
            idx = chunk.index
            p, mask, cen = pos[idx], chunk.mask, centroid[chunk.sets]
            if augment is not None:
                b = augment({"pos": p, "mask": mask, "centroid": cen,
                                        "conf": p.new_ones(*mask.shape, 1)})
                p, mask, cen = b["pos"], b["mask"], b["centroid"]
            embs.append(self.encode_padded(p, site_is_post[idx], mask, cen, sizes[chunk.sets],
                                           unit_um[chunk.sets]))
            sets_all.append(chunk.sets)
        n = plan.num_sets
        if not embs:
            return pos.new_zeros(n, self.cfg.cloud_dim)
        emb = torch.cat(embs)
        return emb.new_zeros(n, emb.shape[1]).index_copy(0, torch.cat(sets_all), emb)

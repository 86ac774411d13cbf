"""Synapse encoder, per connection (the "Synapformer" set encoder, done in padded tensors).

Paper: Synapformer (connection-level point-set transformer over synaptic pairs), built from
PointNet (Qi et al., CVPR 2017) and kNN local attention (Point Transformer, Zhao et al., 2021).

Input (explicit tensors, as in PyG layers): for every connection e (pre -> post) its set of
synaptic pairs from the graph's CSR table: ``syn_ptr`` (E+1,), ``syn_pos`` (S, 6) = (pre xyz,
post xyz) in the normalised frame, ``syn_roi`` (S,) int64 (-1 unknown), ``syn_conf`` (S, 2);
``roi_center`` (R, 3) normalised; ``unit_um`` (E,) micrometres per normalised unit of each
set's connectome. Sets are padded to at most K points with a mask (bucketed 1, 2, 4, ..., K);
a larger set is subsampled to K points: random in training, farthest-point sampling in
evaluation.

Per point, with ``u = unit_um / coord_unit_um`` and ``v = unit_um / pair_unit_um``:
``[(p - c_e) u (6), (post - pre) v (3), |post - pre| v (1), (pre - roi_centre) u (3),
confidences (2), ROI embedding]`` with ``c_e`` the centroid of the whole set (before any
subsampling) and the ROI term zero where the ROI is unknown; per set:
``[c_e (6), log1p(n_e) / 5]`` (``c_e`` in the normalised frame, ``n_e`` the full set size).
Maths: ``z_e = MLP([pool_i Block(MLP(f_i)) || c_e || log1p n_e])``.

Output: ``(E, syn_dim)`` one embedding per connection. Sets are encoded in chunks under a
point budget; with ``checkpoint_chunks`` each chunk is recomputed in backward, so memory is
bounded by one chunk plus the (E, syn_dim) output (hemibrain scale on one GPU).

Augmentation: the ``augment`` argument (None by default: the output is exactly as without the
hook) is a callable on a padded chunk ``{"pos" (B, P, 6), "mask" (B, P), "conf" (B, P, 2),
"centroid" (B, 6)} -> dict`` (see ``synhelpers.augment``), set by the training code. It runs
on the gathered chunk *outside* the activation checkpoint, so a recomputed chunk sees the
same augmented points.
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
    """Cache of set plans and centroids, keyed by the CSR tensors' storage.

    :meth:`get` returns the :class:`~synhelpers.models.pointset.SetPlan` of CSR ``ptr``
    (B+1,) for ``k`` kept points under a point ``budget``, and the (B, D) centroid of every
    set of ``pos`` (S, D). The key is the tensors' data pointers, sizes and device; a hit is
    checked against the pointer's values and the sum of ``pos``, so a new table allocated at
    a freed one's address never gets its stale plan.

    A plan is kept only for tables seen at least twice (the whole graph, epoch after epoch),
    so the one-off tables of mini-batches never evict it: training code need not manage the
    cache. At most ``max_items`` plans are kept (oldest out first) and ``max_seen`` keys are
    remembered. Plans are deterministic, so caching never changes an output.
    """

    def __init__(self, max_items: int = 4, max_seen: int = 64):
        self.max_items, self.max_seen = max_items, max_seen
        self._items: dict = {}
        self._seen: dict = {}

    def get(self, ptr: Tensor, pos: Tensor, k: int, budget: int) -> tuple[SetPlan, Tensor]:
        if ptr.numel() <= 1 or pos.shape[0] == 0:  # no sets or no points: nothing worth keeping
            return build_set_plan(ptr, k, budget), segment_mean(pos.float(), ptr)
        key = (ptr.data_ptr(), ptr.numel(), pos.data_ptr(), pos.shape[0], str(ptr.device), k,
               budget)
        # a freed table's memory can hold a new one at the same address: check the contents
        check = (ptr.detach().clone(), float(pos.detach().float().sum()))
        hit = self._items.get(key)
        if hit is not None and torch.equal(hit[0][0], check[0]) and hit[0][1] == check[1]:
            return hit[1]
        value = (build_set_plan(ptr, k, budget), segment_mean(pos.float(), ptr))
        if key in self._seen:
            self._items.pop(key, None)
            if len(self._items) >= self.max_items:
                self._items.pop(next(iter(self._items)))
            self._items[key] = (check, value)
        else:
            if len(self._seen) >= self.max_seen:
                self._seen.pop(next(iter(self._seen)))
            self._seen[key] = True
        return value


class SynapseSetEncoder(nn.Module):
    r"""Per-connection synapse-set encoder: one embedding per edge from its synaptic pairs.

    Papers: PointNet (Qi et al., CVPR 2017) and kNN local attention (Point Transformer, Zhao
    et al., ICCV 2021) in :class:`~synhelpers.models.blocks.PointSetCore`; farthest-point
    sampling from PointNet++ (Qi et al., NeurIPS 2017). One point set per connection is the
    Synapformer idea (the published code that :mod:`synhelpers.models.original`
    re-implements); the project cites no paper for it.

    ``z_e = PointSetCore([f_s]_{s in S_e}, [c_e || log1p(n_e) / 5])`` over the pairs ``S_e``
    kept of connection e (all, or K of them) with the per-point features ``f_s`` of the
    module docstring.

    Args:
        cfg: sizes and units: ``set_size`` (K, points kept per set), ``point_dim``,
            ``syn_dim`` (output width), ``knn``, ``attn_heads``, ``num_rois`` (R) and
            ``roi_embed_dim``, ``coord_unit_um`` (length unit of positions in a set, um),
            ``pair_unit_um`` (length unit of the pre -> post displacement, um),
            ``point_budget`` and ``checkpoint_chunks`` (memory).
        use_attention: local kNN attention block (False: plain PointNet).
        relative: point coordinates relative to the set's centroid (False: absolute, as the
            original design).

    Shapes:
        - **input:** ``syn_ptr`` (E+1,) int64 CSR pointer, ``syn_pos`` (S, 6) pre xyz, post
          xyz in the normalised frame (``(voxel - pos_center) / pos_scale``, see
          :mod:`synhelpers.graph.build`), ``syn_roi`` (S,) int64 in ``-1 .. R-1``,
          ``syn_conf`` (S, 2) detection confidences (1.0 where absent), ``roi_center``
          (R, 3) normalised, ``unit_um`` (E,) micrometres per normalised unit of each
          edge's connectome
        - **output:** (E, syn_dim); a zero row for an edge without synapses

    Example:
        >>> enc = SynapseSetEncoder(ModelConfig(num_rois=3)).eval()
        >>> ptr = torch.tensor([0, 2, 3])  # two connections: 2 pairs, 1 pair
        >>> pos = torch.tensor([[0.1, 0.1, 0.1, 0.1, 0.1, 0.101], [0.2, 0.1, 0.1, 0.2, 0.1, 0.102],
        ...                     [-0.3, 0.0, 0.2, -0.301, 0.0, 0.2]])
        >>> z = enc(ptr, pos, torch.tensor([0, 0, -1]), torch.ones(3, 2), torch.zeros(3, 3),
        ...         torch.full((2,), 160.0))  # um per unit: a half-side of 20,000 voxels of 8 nm
        >>> z.shape
        torch.Size([2, 32])
    """

    def __init__(self, cfg: ModelConfig, use_attention: bool = True, relative: bool = True):
        super().__init__()
        self.cfg = cfg
        self.relative = relative
        self.roi_embed = nn.Embedding(cfg.num_rois + 1, cfg.roi_embed_dim)
        point_in = 6 + 3 + 1 + 3 + 2 + cfg.roi_embed_dim
        self.core = PointSetCore(point_in, 7, cfg.point_dim, cfg.syn_dim, cfg.knn, cfg.attn_heads,
                                 use_attention=use_attention)
        self.plans = PlanCache()

    def encode_padded(self, pos: Tensor, roi: Tensor, conf: Tensor, mask: Tensor,
                      centroid: Tensor, size: Tensor, roi_center: Tensor, unit_um: Tensor) -> Tensor:
        """Encode padded sets. pos (B, P, 6) normalised, roi (B, P), conf (B, P, 2), mask (B, P),
        centroid (B, 6), size (B,) number of synapses of the full set, roi_center (R, 3),
        unit_um (B,) micrometres per normalised unit -> (B, syn_dim)."""
        unit = (unit_um / self.cfg.coord_unit_um).to(pos.dtype)[:, None, None]
        pair = (unit_um / self.cfg.pair_unit_um).to(pos.dtype)[:, None, None]
        rel = (pos - centroid[:, None]) * unit if self.relative else pos * unit
        disp = (pos[..., 3:] - pos[..., :3]) * pair
        roi1 = roi.clamp(min=-1) + 1  # 0 = unknown ROI
        centers = torch.cat([roi_center.new_zeros(1, 3), roi_center.to(pos.dtype)])
        in_roi = (pos[..., :3] - centers[roi1]) * unit * (roi1 > 0)[..., None]
        feats = torch.cat([rel, disp, disp.norm(dim=-1, keepdim=True), in_roi, conf,
                           self.roi_embed(roi1)], dim=-1)
        set_feats = torch.cat([centroid, torch.log1p(size.float())[:, None] / 5.0], dim=-1)
        return self.core(feats, rel, mask, set_feats)

    def _encode_chunk(self, pos, roi, conf, centroid, sizes, roi_center, unit_um, sets, index, mask):
        return self.encode_padded(pos[index], roi[index], conf[index], mask, centroid[sets],
                                  sizes[sets], roi_center, unit_um[sets])

    @staticmethod
    def _augmented_args(augment, pos, roi, conf, centroid, sizes, roi_center, unit_um, sets,
                        index, mask) -> tuple:
        """Gather one chunk and augment it: the arguments of :meth:`encode_padded`."""
        b = augment({"pos": pos[index], "mask": mask, "conf": conf[index],
                     "centroid": centroid[sets]})
        return (b["pos"], roi[index], b["conf"], b["mask"], b["centroid"], sizes[sets],
                roi_center, unit_um[sets])

    def forward(self, syn_ptr: Tensor, syn_pos: Tensor, syn_roi: Tensor, syn_conf: Tensor,
                roi_center: Tensor, unit_um: Tensor, augment=None) -> Tensor:
        """Encode every set of the CSR table (shapes in the module docstring) -> (E, syn_dim).
        ``augment``: None, or a callable on padded chunks (see the module docstring)."""
        ptr, pos = syn_ptr, syn_pos
        plan, centroid = self.plans.get(ptr, pos, self.cfg.set_size, self.cfg.point_budget)
        centroid = centroid.to(pos.dtype)
        sizes = ptr[1:] - ptr[:-1]
        sets_all, embs = [], []
        use_ckpt = self.cfg.checkpoint_chunks and self.training and torch.is_grad_enabled()
        for chunk in plan.chunks(self.training, pos):
            args = (pos, syn_roi, syn_conf, centroid, sizes, roi_center, unit_um,
                    chunk.sets, chunk.index, chunk.mask)
            fn = self._encode_chunk
            if augment is not None:  # gather + augment outside the checkpoint
                fn, args = self.encode_padded, self._augmented_args(augment, *args)
            if use_ckpt:
                emb = checkpoint(fn, *args, use_reentrant=False)
            else:
                emb = fn(*args)
            sets_all.append(chunk.sets)
            embs.append(emb)
        num_sets = plan.num_sets
        if not embs:
            return pos.new_zeros(num_sets, self.cfg.syn_dim)
        emb = torch.cat(embs)
        out = emb.new_zeros(num_sets, emb.shape[1])
        return out.index_copy(0, torch.cat(sets_all), emb)

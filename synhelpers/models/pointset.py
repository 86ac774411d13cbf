"""Point-set operations on padded tensors, in plain torch (no pyg-lib, no torch_cluster).

Synapse sets are stored in CSR form (``ptr`` of length ``B + 1`` into a flat point table).
Everything here is vectorised over sets: there is no Python loop over sets or edges, only
over a handful of size buckets and over the ``K`` steps of farthest-point sampling.

Shapes: ``B`` sets, ``P`` padded points per set, ``D`` coordinate dimensions, ``K`` kept points.

- :func:`segment_ids` / :func:`segment_mean`: CSR helpers.
- :func:`random_subsample_csr`: ``K`` random points per set (training).
- :func:`farthest_point_sample`: FPS on padded ``(B, P, D)`` (evaluation; Qi et al. 2017,
  PointNet++: ``i_t = argmax_j min_{s<t} ||p_j - p_{i_s}||``).
- :func:`fps_subsample_csr`: FPS for every set of a CSR table, bucketed by size.
- :func:`knn_mask`: ``(B, P, P)`` boolean mask of each point's ``k`` nearest valid points.
- :class:`SetPlan`: size buckets and point-budget chunks for encoding all sets of a CSR table.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "segment_ids",
    "segment_mean",
    "random_subsample_csr",
    "farthest_point_sample",
    "fps_subsample_csr",
    "knn_mask",
    "SetChunk",
    "SetPlan",
    "build_set_plan",
]


def segment_ids(ptr: Tensor) -> Tensor:
    """Set id of every point: ``(ptr[-1],)`` int64 from CSR ``ptr`` ``(B + 1,)``."""
    sizes = ptr[1:] - ptr[:-1]
    return torch.repeat_interleave(torch.arange(sizes.numel(), device=ptr.device), sizes)


def segment_mean(values: Tensor, ptr: Tensor) -> Tensor:
    """Mean of ``values`` ``(S, D)`` per CSR set -> ``(B, D)`` (zeros for empty sets).

    Example:
        >>> ptr = torch.tensor([0, 2, 2, 3])  # sets of 2, 0 and 1 points
        >>> segment_mean(torch.tensor([[1.0], [3.0], [5.0]]), ptr).flatten().tolist()
        [2.0, 0.0, 5.0]
    """
    sizes = (ptr[1:] - ptr[:-1]).clamp(min=1).to(values.dtype)
    out = torch.zeros(ptr.numel() - 1, values.shape[1], dtype=values.dtype, device=values.device)
    out.index_add_(0, segment_ids(ptr), values)
    return out / sizes[:, None]


def random_subsample_csr(ptr: Tensor, sets: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """``k`` distinct random points from each of the sets ``sets`` (each must hold >= ``k`` points).

    Returns ``(len(sets), k)`` int64 indices into the flat point table. One sort over the
    points of the chosen sets: key = set rank + U(0, 1), so the order inside a set is random.
    """
    if sets.numel() == 0:
        return torch.zeros(0, k, dtype=torch.long, device=ptr.device)
    start, end = ptr[sets], ptr[sets + 1]
    sub_ptr = torch.zeros(sets.numel() + 1, dtype=torch.long, device=ptr.device)
    sub_ptr[1:] = torch.cumsum(end - start, 0)
    seg = segment_ids(sub_ptr)
    flat = start[seg] + (torch.arange(seg.numel(), device=ptr.device) - sub_ptr[seg])
    if generator is None:
        noise = torch.rand(seg.numel(), dtype=torch.float64, device=ptr.device)
    else:
        noise = torch.rand(seg.numel(), generator=generator, dtype=torch.float64).to(ptr.device)
    order = torch.argsort(seg.to(torch.float64) + noise)
    rank = torch.arange(seg.numel(), device=ptr.device) - sub_ptr[seg]  # rank inside set after sort
    keep = rank < k  # sorted positions are grouped by set, so rank applies to ``order``
    chosen = flat[order][keep]
    return chosen.view(sets.numel(), k)


def farthest_point_sample(pos: Tensor, mask: Tensor, k: int) -> Tensor:
    """Farthest-point sampling of ``k`` points per set on padded tensors.

    Args:
        pos: ``(B, P, D)`` coordinates. mask: ``(B, P)`` bool, True for real points; every
            set must have at least ``k`` real points.
    Returns:
        ``(B, k)`` int64 indices into ``P``. Starts from the real point nearest the set's
        centroid (deterministic), then ``i_t = argmax_j min_{s<t} ||p_j - p_{i_s}||``.

    The ``k`` steps run on coordinate planes ``(D, B, P)`` with preallocated buffers, which is
    about five times faster on CPU than broadcasting over ``(B, P, D)`` (same selection).
    Padded points hold ``min_dist = -1``, which no squared distance goes below, so they are
    never chosen.

    Example:
        >>> pos = torch.tensor([[[0.0], [1.0], [2.0], [10.0]]])  # one set of four points, D = 1
        >>> farthest_point_sample(pos, torch.ones(1, 4, dtype=torch.bool), 2).tolist()
        [[2, 3]]
    """
    b, p, dim = pos.shape
    pos = pos.float()
    w = mask.float()
    centroid = (pos * w[..., None]).sum(1) / w.sum(1, keepdim=True).clamp(min=1)
    planes = pos.permute(2, 0, 1).contiguous()  # (D, B, P)
    dist = torch.empty(b, p, device=pos.device)
    tmp = torch.empty_like(dist)

    def squared_distance(c: Tensor) -> Tensor:  # c (B, D) -> dist (B, P), in place
        torch.sub(planes[0], c[:, :1], out=dist).square_()
        for j in range(1, dim):
            dist.add_(torch.sub(planes[j], c[:, j : j + 1], out=tmp).square_())
        return dist

    cur = squared_distance(centroid).masked_fill(~mask, float("inf")).argmin(1)
    idx = torch.empty(b, k, dtype=torch.long, device=pos.device)
    min_dist = torch.full((b, p), float("inf"), device=pos.device).masked_fill_(~mask, -1.0)
    rows = torch.arange(b, device=pos.device)
    for t in range(k):
        idx[:, t] = cur
        torch.minimum(min_dist, squared_distance(pos[rows, cur]), out=min_dist)
        cur = min_dist.argmax(1)
    return idx


def fps_subsample_csr(ptr: Tensor, pos: Tensor, sets: Tensor, k: int, point_budget: int = 4_000_000) -> Tensor:
    """FPS ``k`` points from each CSR set in ``sets`` -> ``(len(sets), k)`` flat indices.

    Sets are sorted by size and padded in chunks of at most ``point_budget`` padded points,
    so one huge set does not pad all others to its size.
    """
    out = torch.zeros(sets.numel(), k, dtype=torch.long, device=ptr.device)
    if sets.numel() == 0:
        return out
    sizes = ptr[sets + 1] - ptr[sets]
    order = torch.argsort(sizes)
    sizes_sorted = sizes[order].tolist()
    i = 0
    n = len(sizes_sorted)
    while i < n:
        j = i + 1  # grow the chunk by doubling while (count * largest size) fits the budget
        while j < n:
            nj = min(n, i + 2 * (j - i))
            if (nj - i) * sizes_sorted[nj - 1] > point_budget:
                break
            j = nj
        sel = order[i:j]
        p = int(sizes[sel].max())
        ar = torch.arange(p, device=ptr.device)
        start = ptr[sets[sel]]
        m = ar[None] < sizes[sel][:, None]
        flat = torch.where(m, start[:, None] + ar[None], torch.zeros_like(start[:, None]))
        local = farthest_point_sample(pos[flat], m, k)
        out[sel] = torch.gather(flat, 1, local)
        i = j
    return out


def knn_mask(pos: Tensor, mask: Tensor, k: int) -> Tensor:
    """Allowed attention pairs: each point's ``k`` nearest *real* points in its own set.

    Args: pos ``(B, P, D)``, mask ``(B, P)`` bool. Returns ``(B, P, P)`` bool where
    ``[b, i, j]`` is True if real point ``j`` is among the ``k`` nearest real points of ``i``
    (itself included). A padded query may attend to real points and to itself (its output is
    never pooled), so no row is empty; a padded point never enters a real point's
    neighbourhood.

    Example:
        >>> pos = torch.tensor([[[0.0], [1.0], [5.0], [0.0]]])  # the last point is padding
        >>> knn_mask(pos, torch.tensor([[True, True, True, False]]), k=2).int().tolist()
        [[[1, 1, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [1, 1, 0, 1]]]
    """
    b, p, _ = pos.shape
    eye = torch.eye(p, dtype=torch.bool, device=pos.device)[None]
    if p <= k:
        allowed = mask[:, None, :].expand(b, p, p)
    else:
        d = torch.cdist(pos.float(), pos.float())
        d = d.masked_fill(~mask[:, None, :], float("inf"))
        nn_idx = d.topk(k, dim=-1, largest=False).indices
        allowed = torch.zeros(b, p, p, dtype=torch.bool, device=pos.device)
        allowed.scatter_(2, nn_idx, True)
        allowed &= mask[:, None, :]
    return allowed | (eye & ~mask[:, :, None])


@dataclass
class SetChunk:
    """One chunk of sets padded to the same size.

    Attributes: sets ``(b,)`` set ids; index ``(b, s)`` flat point indices (0 where padded);
    mask ``(b, s)`` bool.
    """

    sets: Tensor
    index: Tensor
    mask: Tensor


@dataclass
class SetPlan:
    """How to encode every set of a CSR table: size buckets split into point-budget chunks.

    Sets with at most ``k`` points are padded to the next bucket size (1, 2, 4, ... , k), so
    padding never more than doubles the work. Larger sets are subsampled to ``k`` points:
    randomly on every call in training, by farthest-point sampling (computed once, cached)
    in evaluation.
    """

    ptr: Tensor
    k: int
    chunks_small: list[SetChunk]  # fixed content
    large_sets: Tensor  # (L,) ids of sets with more than k points
    large_chunk_bounds: list[tuple[int, int]]  # row ranges of large_sets per chunk
    fps_index: Tensor | None = None  # (L, k) cached FPS selection

    def chunks(self, training: bool, pos: Tensor | None = None) -> list[SetChunk]:
        """All chunks; ``pos`` (S, D) is needed once for the evaluation FPS cache."""
        if self.large_sets.numel() == 0:
            return self.chunks_small
        if training:
            sel = random_subsample_csr(self.ptr, self.large_sets, self.k)
        else:
            if self.fps_index is None:
                if pos is None:
                    raise ValueError("pos is needed to compute the FPS selection")
                self.fps_index = fps_subsample_csr(self.ptr, pos, self.large_sets, self.k)
            sel = self.fps_index
        mask_full = torch.ones(self.k, dtype=torch.bool, device=sel.device)
        large = [
            SetChunk(self.large_sets[a:b], sel[a:b], mask_full.expand(b - a, self.k))
            for a, b in self.large_chunk_bounds
        ]
        return self.chunks_small + large

    @property
    def num_sets(self) -> int:
        return self.ptr.numel() - 1


def _bucket_sizes(k: int) -> list[int]:
    sizes, s = [], 1
    while s < k:
        sizes.append(s)
        s *= 2
    return sizes + [k]


def build_set_plan(ptr: Tensor, k: int, point_budget: int = 1_000_000) -> SetPlan:
    """Bucket the sets of CSR ``ptr`` by size (see :class:`SetPlan`); vectorised per bucket."""
    sizes = ptr[1:] - ptr[:-1]
    device = ptr.device
    chunks: list[SetChunk] = []
    lo = 0
    for s in _bucket_sizes(k):
        sets = torch.nonzero((sizes > lo) & (sizes <= s)).flatten()
        lo = s
        if sets.numel() == 0:
            continue
        per_chunk = max(1, point_budget // s)
        ar = torch.arange(s, device=device)
        for a in range(0, sets.numel(), per_chunk):
            part = sets[a : a + per_chunk]
            m = ar[None] < sizes[part][:, None]
            idx = torch.where(m, ptr[part][:, None] + ar[None], torch.zeros_like(ar[None]))
            chunks.append(SetChunk(part, idx, m))
    large = torch.nonzero(sizes > k).flatten()
    per_chunk = max(1, point_budget // k)
    bounds = [(a, min(a + per_chunk, large.numel())) for a in range(0, large.numel(), per_chunk)]
    return SetPlan(ptr, k, chunks, large, bounds)

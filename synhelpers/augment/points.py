"""Per-point and per-edge transforms: jitter, point dropout, confidence resampling, edge dropout.

Dropping a point never removes it from the arrays: its ``mask`` entry turns False and its
values stay as they were (so shapes are kept and a padded chunk stays a padded chunk). A
set that had at least one real point keeps at least one. An unpadded ``(P, D)`` set gets a
``mask`` ``(P,)`` in the output; ``pos[mask]`` are its kept points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from .core import Augmentation, Batch, Random, set_view, work_dtype

__all__ = ["Jitter", "PointDropout", "ConfidenceResample", "EdgeDropout", "keep_at_least_one"]


def _probability(q: float, name: str) -> float:
    if not 0.0 <= q < 1.0:
        raise ValueError(f"{name}: q must be in [0, 1), got {q}")
    return float(q)


def keep_at_least_one(keep: Tensor, mask: Tensor, score: Tensor) -> Tensor:
    """Where a set lost every real point, turn its best-scored real point back on.

    Args:
        keep: ``(B, P)`` bool, the points kept so far (a subset of ``mask``).
        mask: ``(B, P)`` bool, the real points before dropping.
        score: ``(B, P)`` float; the real point with the highest score is rescued.

    Returns:
        ``(B, P)`` bool, ``keep`` plus one point in each set that was emptied.

    Example:
        >>> import torch
        >>> keep = torch.tensor([[False, False], [False, False]])
        >>> mask = torch.tensor([[True, True], [False, False]])
        >>> keep_at_least_one(keep, mask, torch.tensor([[0.1, 0.9], [0.5, 0.5]])).tolist()
        [[False, True], [False, False]]
    """
    emptied = mask.any(-1) & ~keep.any(-1)
    best = score.masked_fill(~mask, float("-inf")).argmax(-1)
    rescue = torch.nn.functional.one_hot(best, mask.shape[-1]).bool() & emptied[:, None]
    return keep | rescue


def _mask_out(batch: Batch, keep: Tensor, squeezed: bool) -> Batch:
    return {"mask": keep[0] if squeezed else keep}


class Jitter(Augmentation):
    """Gaussian displacement of every real point, independent per point and per triple.

    Invariance claimed: the label does not depend on where within ``sigma`` of its true
    place the detector put each T-bar and PSD point (pre and post get independent noise).

    Units: give ``sigma_nm`` (nanometres), or ``sigma_voxels`` with ``voxel_nm``; the
    frame's ``length_unit_nm`` (nm per coordinate unit; for the graph's normalised frame
    ``data.pos_scale * data.voxel_nm``) converts it: sigma in frame units =
    ``sigma_nm / length_unit_nm``.

    Args:
        sigma_nm: standard deviation per coordinate, nm.
        length_unit_nm: nm per coordinate unit of ``pos`` (required).
        sigma_voxels, voxel_nm: alternative to ``sigma_nm`` (sigma_nm = sigma_voxels * voxel_nm).
        p: probability of applying (one draw per call).

    Example:
        >>> import numpy as np
        >>> jit = Jitter(sigma_nm=8.0, length_unit_nm=1000.0)  # frame unit = 1 um
        >>> jit.sigma
        0.008
        >>> out = jit({"pos": np.zeros((4, 6), np.float32)}, np.random.default_rng(0))
        >>> out["pos"].shape, out["pos"].dtype
        ((4, 6), dtype('float32'))
    """

    keys = ("pos", "mask")

    def __init__(self, sigma_nm: float | None = None, *, length_unit_nm: float,
                 sigma_voxels: float | None = None, voxel_nm: float | None = None,
                 p: float = 1.0):
        super().__init__(p)
        if (sigma_nm is None) == (sigma_voxels is None):
            raise ValueError("Jitter: give exactly one of sigma_nm or sigma_voxels (with voxel_nm)")
        if sigma_voxels is not None:
            if voxel_nm is None or voxel_nm <= 0:
                raise ValueError(f"Jitter: sigma_voxels needs voxel_nm > 0, got {voxel_nm}")
            sigma_nm = float(sigma_voxels) * float(voxel_nm)
        if sigma_nm < 0 or length_unit_nm is None or length_unit_nm <= 0:
            raise ValueError(f"Jitter: need sigma_nm >= 0 and length_unit_nm > 0 (nm per "
                             f"coordinate unit), got {sigma_nm} and {length_unit_nm}")
        self.sigma_nm = float(sigma_nm)
        self.length_unit_nm = float(length_unit_nm)
        self.sigma = self.sigma_nm / self.length_unit_nm  # frame units

    def apply(self, batch: Batch, rnd: Random, params: dict) -> Batch:
        pos, mask, squeezed = set_view(batch, "Jitter")
        work = work_dtype(pos.dtype)
        noise = rnd.normal(pos.shape, work) * self.sigma
        new = torch.where(mask[..., None], (pos.to(work) + noise).to(pos.dtype), pos)
        return {"pos": new[0] if squeezed else new}


class PointDropout(Augmentation):
    """Remove each real point with probability ``q``; a set never loses all its points.

    Invariance claimed: the label does not depend on any single synapse (detectors miss
    some; a connection is still the same connection with a tenth of its synapses unseen).
    Only ever turns ``mask`` entries off; ``pos``/``conf`` values are untouched.

    Args:
        q: drop probability per point, in [0, 1).
        p: probability of applying (one draw per call).

    Example:
        >>> import numpy as np
        >>> batch = {"pos": np.zeros((2, 3, 6)), "mask": np.array([[1, 1, 0], [1, 0, 0]], bool)}
        >>> out = PointDropout(q=0.99)(batch, np.random.default_rng(0))
        >>> out["mask"].sum(1).tolist()  # one point left in each set
        [1, 1]
    """

    keys = ("pos", "mask")

    def __init__(self, q: float = 0.1, p: float = 1.0):
        super().__init__(p)
        self.q = _probability(q, "PointDropout")

    def apply(self, batch: Batch, rnd: Random, params: dict) -> Batch:
        pos, mask, squeezed = set_view(batch, "PointDropout")
        u = rnd.uniform(mask.shape, dtype=torch.float32)
        keep = mask & (u >= self.q)
        return _mask_out(batch, keep_at_least_one(keep, mask, u), squeezed)


class ConfidenceResample(Augmentation):
    """Drop points whose confidence is below a threshold drawn from U[lo, hi].

    The score of a point is the minimum over its confidences (pre and post for a synaptic
    pair). A set that would lose every point keeps its most confident one. With all
    confidences 1.0 (the graph's value when the data has none) nothing is dropped.

    Invariance claimed: the label does not depend on the detection threshold the dataset
    was released with (a stricter threshold removes the least certain synapses).

    Args:
        threshold: ``(lo, hi)`` range of the threshold, confidence units in [0, 1].
        per_set: one threshold per set instead of one per call.
        p: probability of applying (one draw per call).

    Example:
        >>> import numpy as np
        >>> batch = {"pos": np.zeros((3, 6)), "conf": np.array([[0.9, 0.9], [0.9, 0.4], [1, 1]])}
        >>> ConfidenceResample((0.6, 0.6))(batch, np.random.default_rng(0))["mask"].tolist()
        [True, False, True]
    """

    keys = ("pos", "mask", "conf")

    def __init__(self, threshold: Sequence[float] = (0.5, 0.7), per_set: bool = False,
                 p: float = 1.0):
        super().__init__(p)
        lo, hi = (float(t) for t in threshold)
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"ConfidenceResample: threshold must be (lo, hi) with "
                             f"0 <= lo <= hi <= 1, got {threshold}")
        self.threshold = (lo, hi)
        self.per_set = per_set

    def sample_params(self, rnd: Random) -> dict:
        return {} if self.per_set else {"threshold": rnd.scalar(*self.threshold)}

    def apply(self, batch: Batch, rnd: Random, params: dict) -> Batch:
        pos, mask, squeezed = set_view(batch, "ConfidenceResample")
        if "conf" not in batch:
            raise KeyError("ConfidenceResample needs batch['conf'] ((..., P, C) confidences)")
        conf = batch["conf"]
        conf = conf[None] if squeezed else conf
        if conf.shape == mask.shape:
            conf = conf[..., None]
        if conf.shape[:-1] != mask.shape:
            raise ValueError(f"ConfidenceResample: batch['conf'] must have shape "
                             f"{tuple(mask.shape)} + (C,), got {tuple(batch['conf'].shape)}")
        score = conf.to(torch.float64).amin(-1)
        if self.per_set:
            t = rnd.uniform((mask.shape[0], 1), *self.threshold)
        else:
            t = torch.tensor(params["threshold"], dtype=torch.float64, device=mask.device)
        keep = mask & (score >= t)
        return _mask_out(batch, keep_at_least_one(keep, mask, score), squeezed)


class EdgeDropout(Augmentation):
    """Drop each edge of a graph with probability ``q`` (the wiring view's augmentation).

    Reads ``batch["edge_index"]`` ``(2, E)``; every other key starting with ``edge_`` whose
    first axis has length E (``edge_weight`` (E,), ``edge_roi`` (E, R), ...) is filtered the
    same way. Adds ``batch["edge_keep"]`` ``(E,)`` bool, the kept-edge mask (use it to select
    CSR synapse sets or anything else indexed by edge).

    Invariance claimed: the label does not depend on any single connection (proofreading
    leaves some connections out; weak ones most often).

    Args:
        q: drop probability per edge, in [0, 1).
        p: probability of applying (one draw per call).

    Example:
        >>> import numpy as np
        >>> batch = {"edge_index": np.array([[0, 1, 2], [1, 2, 0]]), "edge_weight": np.ones(3)}
        >>> out = EdgeDropout(q=0.5)(batch, np.random.default_rng(0))
        >>> kept = int(out["edge_keep"].sum())
        >>> out["edge_index"].shape == (2, kept), out["edge_weight"].shape == (kept,)
        (True, True)
    """

    def __init__(self, q: float = 0.1, p: float = 1.0):
        super().__init__(p)
        self.q = _probability(q, "EdgeDropout")

    def used_keys(self, batch: Batch) -> list[str]:
        if "edge_index" not in batch:
            raise KeyError(f"EdgeDropout needs batch['edge_index'] (2, E); keys: {sorted(batch)}")
        e = batch["edge_index"].shape[-1]
        return ["edge_index"] + [k for k, v in batch.items() if k.startswith("edge_")
                                 and k not in ("edge_index", "edge_keep")
                                 and getattr(v, "shape", ())[:1] == (e,)]

    def skip(self, batch: Batch) -> Batch:
        e = batch["edge_index"].shape[-1]
        ones = (np.ones(e, bool) if isinstance(batch["edge_index"], np.ndarray)
                else torch.ones(e, dtype=torch.bool, device=batch["edge_index"].device))
        return {**batch, "edge_keep": ones}

    def apply(self, batch: Batch, rnd: Random, params: dict) -> Batch:
        edge_index = batch["edge_index"]
        if edge_index.dim() != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"EdgeDropout: edge_index must be (2, E), got {tuple(edge_index.shape)}")
        keep = rnd.uniform((edge_index.shape[1],), dtype=torch.float32) >= self.q
        out = {k: batch[k][keep] for k in self.used_keys(batch) if k != "edge_index"}
        out["edge_index"] = edge_index[:, keep]
        out["edge_keep"] = keep
        return out

"""Augmentations for synapse point sets and the wiring graph (numpy and batched torch).

In the spirit of PyTorch Connectomics' augmentor: each transform has a probability ``p``,
transforms compose, randomness comes from an explicit generator (same seed, same output),
and arrays go in and new arrays come out. Batches are dicts (see :mod:`.core`):
``{"pos": (B, P, D) or (P, D), "mask": (B, P), "conf": (B, P, 2), "centroid": (B, D)}``
for padded synapse sets (D = 6: pre xyz, post xyz) or site clouds (D = 3), and
``{"edge_index": (2, E), "edge_*": (E, ...)}`` for edge dropout.

- :mod:`.spatial`: :class:`Rotate`, :class:`Mirror`, :class:`Scale` (one map per call,
  or per set).
- :mod:`.points`: :class:`Jitter` (nm), :class:`PointDropout`, :class:`ConfidenceResample`,
  :class:`EdgeDropout` (per point / per edge).
- :mod:`.registry`: ``get_augmentation("rotate_z,mirror_x,jitter", length_unit_nm=...)``,
  :func:`describe_augmentations`, :func:`tta_views` / :func:`tta_rngs` for test-time
  augmentation.

Example:
    >>> import numpy as np, torch
    >>> aug = get_augmentation("rotate_z,mirror_x,jitter,dropout", length_unit_nm=164_000.0)
    >>> pos = np.random.default_rng(0).uniform(-1, 1, (4, 8, 6)).astype(np.float32)
    >>> mask = np.arange(8) < np.array([[8], [5], [1], [3]])
    >>> out = aug({"pos": pos, "mask": mask}, np.random.default_rng(1))
    >>> out["pos"].shape, out["pos"].dtype, bool((out["pos"][~mask] == pos[~mask]).all())
    ((4, 8, 6), dtype('float32'), True)
    >>> t = aug({"pos": torch.from_numpy(pos), "mask": torch.from_numpy(mask)},
    ...         torch.Generator().manual_seed(1))
    >>> t["mask"].sum(1).ge(1).all().item()
    True
"""

from .core import Augmentation, Batch, Compose, Random, Rng
from .points import ConfidenceResample, EdgeDropout, Jitter, PointDropout, keep_at_least_one
from .registry import (
    ALIASES,
    AUGMENTATIONS,
    build_augmentations,
    describe_augmentations,
    frame_length_unit_nm,
    get_augmentation,
    parse_augment_spec,
    tta_rngs,
    tta_views,
)
from .spatial import Mirror, Rotate, Scale, rotation_matrix

__all__ = [
    "Augmentation",
    "Batch",
    "Compose",
    "Random",
    "Rng",
    "Rotate",
    "Mirror",
    "Scale",
    "rotation_matrix",
    "Jitter",
    "PointDropout",
    "ConfidenceResample",
    "EdgeDropout",
    "keep_at_least_one",
    "AUGMENTATIONS",
    "ALIASES",
    "build_augmentations",
    "get_augmentation",
    "describe_augmentations",
    "parse_augment_spec",
    "frame_length_unit_nm",
    "tta_rngs",
    "tta_views",
]

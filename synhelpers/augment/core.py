"""Base class, random draws and batch handling shared by every augmentation.

A *batch* is a dict of arrays, all numpy or all torch:

- ``pos`` ``(P, D)`` one set, or ``(B, P, D)`` padded sets; ``D`` a multiple of 3 (xyz
  triples: 6 for synaptic pairs = pre xyz, post xyz; 3 for site clouds);
- ``mask`` ``(P,)`` / ``(B, P)`` bool, True for real points (absent: every point is real);
- ``conf`` ``(..., P, C)`` or ``(..., P)`` detection confidences in [0, 1] (optional);
- ``centroid`` ``(D,)`` / ``(B, D)`` one point per set that spatial maps move with the set
  (optional; e.g. the full-set centroid the synapse encoder uses as a set feature);
- ``edge_index`` ``(2, E)`` and per-edge ``edge_*`` arrays (edge dropout only).

Every transform is a callable ``t(batch, rng, params=None) -> new dict``. Arrays a transform
changes are new; arrays it does not use are passed through (not copied); inputs are never
written to. ``rng`` is a ``np.random.Generator`` for numpy batches, a ``torch.Generator``
(or None: torch's global generator) for torch batches.

Why one torch kernel for both interfaces: the numpy path converts to CPU tensors, runs the
same code as the torch path and converts back, so the two cannot drift apart; only the
random draws come from the caller's own generator type. torch is already a core dependency.

Randomness has two levels (as in PyTorch Connectomics' augmentor: sample, then apply):
:meth:`Augmentation.sample` draws the per-call parameters once (whether to apply, with
probability ``p``; the rotation angle; ...); :meth:`Augmentation.apply` uses them and draws
only the per-set and per-point randomness. Passing the same ``params`` to several calls
applies the same global map to several chunks of one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["Augmentation", "Compose", "Random", "Batch", "Rng", "set_view", "work_dtype"]

Batch = dict[str, Any]
Rng = np.random.Generator | torch.Generator | None


class Random:
    """Uniform and normal draws from a numpy or torch generator, returned as torch tensors.

    Args:
        rng: ``np.random.Generator``, ``torch.Generator`` (any device) or None (torch's
            global generator).
        device: where the returned tensors live (the batch's device).
    """

    def __init__(self, rng: Rng, device: torch.device | str = "cpu"):
        if rng is not None and not isinstance(rng, np.random.Generator | torch.Generator):
            raise TypeError(f"rng must be a np.random.Generator, torch.Generator or None, "
                            f"got {type(rng).__name__}")
        self.rng = rng
        self.device = torch.device(device)

    def uniform(self, shape: Sequence[int], low: float = 0.0, high: float = 1.0,
                dtype: torch.dtype = torch.float64) -> Tensor:
        """``shape`` draws from U[low, high), on ``self.device``."""
        shape = tuple(shape)
        if isinstance(self.rng, np.random.Generator):
            u = torch.from_numpy(self.rng.random(shape)).to(self.device, dtype)
        elif isinstance(self.rng, torch.Generator):
            u = torch.rand(shape, generator=self.rng, device=self.rng.device, dtype=dtype)
            u = u.to(self.device)
        else:
            u = torch.rand(shape, device=self.device, dtype=dtype)
        return low + (high - low) * u

    def normal(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> Tensor:
        """``shape`` standard normal draws, on ``self.device``."""
        shape = tuple(shape)
        if isinstance(self.rng, np.random.Generator):
            np_dtype = np.float64 if dtype == torch.float64 else np.float32
            z = torch.from_numpy(self.rng.standard_normal(shape, dtype=np_dtype))
            return z.to(self.device, dtype)
        if isinstance(self.rng, torch.Generator):
            z = torch.randn(shape, generator=self.rng, device=self.rng.device, dtype=dtype)
            return z.to(self.device)
        return torch.randn(shape, device=self.device, dtype=dtype)

    def scalar(self, low: float = 0.0, high: float = 1.0) -> float:
        """One draw from U[low, high) as a Python float (for per-call parameters)."""
        return float(self.uniform((1,), low, high).item())


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """Dtype the maths runs in: float64 stays float64, every other float becomes float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def set_view(batch: Batch, name: str) -> tuple[Tensor, Tensor, bool]:
    """``pos`` as ``(B, P, D)`` and ``mask`` as ``(B, P)`` (all True if absent).

    Returns ``(pos, mask, squeezed)``; ``squeezed`` is True for a single ``(P, D)`` set.
    ``name`` is the transform's name, for error messages.
    """
    if "pos" not in batch:
        raise KeyError(f"{name} needs batch['pos'] ((P, D) or (B, P, D)); keys: {sorted(batch)}")
    pos = batch["pos"]
    if pos.dim() not in (2, 3) or pos.shape[-1] % 3 != 0 or not pos.is_floating_point():
        raise ValueError(f"{name}: batch['pos'] must be a float (P, D) or (B, P, D) array with D "
                         f"a multiple of 3 (xyz triples), got {tuple(pos.shape)} {pos.dtype}")
    mask = batch.get("mask")
    if mask is None:
        mask = torch.ones(pos.shape[:-1], dtype=torch.bool, device=pos.device)
    elif tuple(mask.shape) != tuple(pos.shape[:-1]) or mask.dtype != torch.bool:
        raise ValueError(f"{name}: batch['mask'] must be bool of shape {tuple(pos.shape[:-1])} "
                         f"(pos without its last axis), got {tuple(mask.shape)} {mask.dtype}")
    squeezed = pos.dim() == 2
    if squeezed:
        pos, mask = pos[None], mask[None]
    return pos, mask, squeezed


def _backend(batch: Batch) -> str:
    kinds = {"numpy" if isinstance(v, np.ndarray) else "torch"
             for v in batch.values() if isinstance(v, np.ndarray | Tensor)}
    if len(kinds) != 1:
        raise TypeError("a batch must hold arrays of one kind, all numpy or all torch; got "
                        f"{sorted(kinds) or 'no arrays'} in keys {sorted(batch)}")
    return kinds.pop()


def _to_torch(batch: Batch, keys: Sequence[str]) -> Batch:
    # A copy (torch.tensor), not a view: outputs can never alias the caller's arrays.
    return {k: torch.tensor(batch[k]) for k in keys if isinstance(batch.get(k), np.ndarray)}


class Augmentation:
    """Base class: a transform applied with probability ``p`` (drawn once per call).

    Subclasses implement :meth:`sample_params` (per-call draws, as Python values) and
    :meth:`apply` (torch tensors in, torch tensors out; per-set and per-point draws).
    """

    #: Batch keys the transform reads or writes (the others are passed through untouched).
    keys: tuple[str, ...] = ("pos", "mask", "centroid")

    def __init__(self, p: float = 1.0):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = float(p)

    def used_keys(self, batch: Batch) -> list[str]:
        """Keys of ``batch`` this transform reads or writes."""
        return [k for k in self.keys if k in batch]

    def sample_params(self, rnd: Random) -> dict:
        """Per-call parameters other than the apply/skip coin (default: none)."""
        return {}

    def apply(self, batch: Batch, rnd: Random, params: dict) -> Batch:
        """Torch batch in, new torch batch out (only the changed keys need to be returned)."""
        raise NotImplementedError

    def skip(self, batch: Batch) -> Batch:
        """The output when the ``p`` coin says no (default: a shallow copy of ``batch``)."""
        return dict(batch)

    def sample(self, rng: Rng) -> dict:
        """Draw the per-call parameters: ``{"apply": bool, ...}``; pass to ``__call__``."""
        rnd = Random(rng)
        apply = self.p >= 1.0 or (self.p > 0.0 and rnd.scalar() < self.p)
        return {"apply": apply, **self.sample_params(rnd)}

    def __call__(self, batch: Batch, rng: Rng = None, params: dict | None = None) -> Batch:
        """Apply to a numpy or torch batch; returns a new dict (see module docstring)."""
        backend = _backend(batch)
        if backend == "numpy" and not isinstance(rng, np.random.Generator):
            raise TypeError(f"{type(self).__name__}: numpy batches need "
                            f"rng=np.random.default_rng(seed), got {type(rng).__name__}")
        if backend == "torch" and isinstance(rng, np.random.Generator):
            raise TypeError(f"{type(self).__name__}: torch batches need a torch.Generator "
                            "(or None), got a np.random.Generator")
        params = self.sample(rng) if params is None else params
        if not params.get("apply", True):
            return self.skip(batch)
        tb = _to_torch(batch, self.used_keys(batch)) if backend == "numpy" else batch
        anchor = tb.get("pos", tb.get("edge_index"))
        device = anchor.device if isinstance(anchor, Tensor) else torch.device("cpu")
        changed = self.apply(tb, Random(rng, device), params)
        if backend == "torch":
            return {**batch, **changed}
        out = dict(batch)
        for k, v in changed.items():
            dtype = batch[k].dtype if isinstance(batch.get(k), np.ndarray) else None
            out[k] = v.numpy() if dtype is None else v.numpy().astype(dtype, copy=False)
        return out

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class Compose(Augmentation):
    """Apply transforms in order, each with its own probability ``p``.

    ``sample(rng)`` returns one params dict per transform (a list under ``"children"``), so
    ``compose(chunk, rng, params=shared)`` applies the same global maps to every chunk.

    Example:
        >>> import numpy as np
        >>> from synhelpers.augment import Compose, Mirror, Scale
        >>> aug = Compose([Mirror("x"), Scale((2.0, 2.0))])
        >>> out = aug({"pos": np.array([[1.0, 2.0, 3.0]])}, np.random.default_rng(0))
        >>> out["pos"].tolist()
        [[-2.0, 4.0, 6.0]]
    """

    keys = ()

    def __init__(self, transforms: Sequence[Augmentation], p: float = 1.0):
        super().__init__(p)
        self.transforms = list(transforms)
        for t in self.transforms:
            if not isinstance(t, Augmentation):
                raise TypeError(f"Compose takes Augmentation objects, got {type(t).__name__}")

    def sample_params(self, rnd: Random) -> dict:
        return {"children": [t.sample(rnd.rng) for t in self.transforms]}

    def __call__(self, batch: Batch, rng: Rng = None, params: dict | None = None) -> Batch:
        params = self.sample(rng) if params is None else params
        if not params.get("apply", True):
            return dict(batch)
        children = params.get("children") or [None] * len(self.transforms)
        out = dict(batch)
        for t, child in zip(self.transforms, children, strict=True):
            out = t(out, rng, child)
        return out

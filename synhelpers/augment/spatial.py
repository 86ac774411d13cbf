"""Global spatial maps: rotation, mirror, scaling (affine maps ``x -> A (x - c) + c``).

Each map acts on every xyz triple of every real point (pre and post move together) and on
``batch["centroid"]`` when present; padded points are returned bit-identical. By default one
map is drawn per call, shared by every set of the batch, so the relative geometry between
sets is kept; ``per_set=True`` draws one map per set instead.

Units: angles in degrees; scale factors and centres in the frame's coordinate units (for
the graph's normalised frame, 1 unit = ``pos_scale * voxel_nm`` nm, the volume centre is 0).
A rotation by ``theta`` about the origin moves a point at radius ``r`` by about ``r * theta``
(radians): 5 degrees at ``r = 1`` is 0.087 units, ~14 um at hemibrain scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .core import Augmentation, Batch, Random, set_view, work_dtype

__all__ = ["Rotate", "Mirror", "Scale", "rotation_matrix", "AXES"]

AXES = {"x": 0, "y": 1, "z": 2}
Center = str | Sequence[float]


def _axis(axis: str, name: str) -> int:
    if axis not in AXES:
        raise ValueError(f"{name}: axis must be one of {sorted(AXES)}, got {axis!r}")
    return AXES[axis]


def _range(value: float | Sequence[float], name: str, arg: str, centre: float) -> tuple[float, float]:
    """``v`` -> ``[centre - v, centre + v]``; a pair ``(lo, hi)`` is taken as is."""
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{name}: {arg} must be >= 0, got {value}")
        return centre - float(value), centre + float(value)
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(f"{name}: {arg} range must have lo <= hi, got ({lo}, {hi})")
    return lo, hi


def _check_center(center: Center, name: str) -> Center:
    if isinstance(center, str):
        if center not in ("origin", "set"):
            raise ValueError(f"{name}: center must be 'origin', 'set' or 3 coordinates, got {center!r}")
        return center
    center = tuple(float(c) for c in center)
    if len(center) != 3:
        raise ValueError(f"{name}: center must have 3 coordinates, got {center}")
    return center


def rotation_matrix(axis: int, angle_rad: Tensor) -> Tensor:
    """``(n, 3, 3)`` right-handed rotations about ``axis`` (0, 1, 2) by ``angle_rad`` ``(n,)``.

    Example:
        >>> import torch
        >>> (rotation_matrix(2, torch.tensor([math.pi / 2])).round() + 0.0).tolist()
        [[[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]]
    """
    i, j = ((1, 2), (2, 0), (0, 1))[axis]
    c, s = torch.cos(angle_rad), torch.sin(angle_rad)
    rot = torch.eye(3, dtype=angle_rad.dtype, device=angle_rad.device).repeat(angle_rad.numel(), 1, 1)
    rot[:, i, i], rot[:, i, j], rot[:, j, i], rot[:, j, j] = c, -s, s, c
    return rot


def _set_centres(pos: Tensor, mask: Tensor, centroid: Tensor | None) -> Tensor:
    """One centre per set, ``(B, 3)``: mean of the centroid's triples, or of every triple of
    the real points (0 for an empty set). One centre for all triples keeps pre -> post vectors
    rotating rigidly."""
    b = pos.shape[0]
    if centroid is not None:
        return centroid.reshape(b, -1, 3).mean(1)
    trip = pos.reshape(b, pos.shape[1], -1, 3) * mask[..., None, None]
    count = (mask.sum(1) * trip.shape[2]).clamp(min=1)
    return trip.sum((1, 2)) / count[:, None]


def _transform_points(x: Tensor, mat: Tensor, centre: Tensor) -> Tensor:
    """``A (x - c) + c`` on every triple; x ``(B, ..., 3)``, mat ``(B|1, 3, 3)``, centre ``(B|1, 3)``.

    Written as broadcast products, not a matmul: under TF32 matmul precision (Lightning's
    ``float32_matmul_precision``) a matmul would round normalised coordinates to ~1e-3,
    i.e. ~160 nm at hemibrain scale, larger than a synapse's pre -> post distance.
    """
    ones = (1,) * (x.dim() - 2)
    mat = mat.reshape((mat.shape[0],) + ones + (3, 3))
    centre = centre.reshape((centre.shape[0],) + ones + (3,))
    d = x - centre
    return (mat * d.unsqueeze(-2)).sum(-1) + centre


def _apply_affine(batch: Batch, name: str, mat: Tensor, centre_arg: Center,
                  centre_axis_offset: Tensor | None = None) -> Batch:
    """Apply ``mat`` ``(B|1, 3, 3)`` about the centre given by ``centre_arg`` to pos/centroid."""
    pos, mask, squeezed = set_view(batch, name)
    work = work_dtype(pos.dtype)
    b, p, d = pos.shape
    centroid = batch.get("centroid")
    cen = None if centroid is None else centroid.reshape(b, d).to(work)
    if centre_axis_offset is not None:
        centre = centre_axis_offset.to(pos.device, work)
    elif centre_arg == "set":
        centre = _set_centres(pos.to(work), mask, cen)
    elif centre_arg == "origin":
        centre = torch.zeros(1, 3, dtype=work, device=pos.device)
    else:
        centre = torch.tensor([centre_arg], dtype=work, device=pos.device)
    mat = mat.to(pos.device, work)
    new = _transform_points(pos.to(work).reshape(b, p, d // 3, 3), mat, centre)
    new = torch.where(mask[..., None], new.reshape(b, p, d).to(pos.dtype), pos)
    out = {"pos": new[0] if squeezed else new}
    if cen is not None:
        moved = _transform_points(cen.reshape(b, d // 3, 3), mat, centre).reshape(b, d)
        out["centroid"] = moved.to(centroid.dtype).reshape(centroid.shape)
    return out


def _num_sets(batch: Batch) -> int:
    pos = batch["pos"]
    return int(pos.shape[0]) if pos.dim() == 3 else 1


class Rotate(Augmentation):
    """Rotation about one axis by a uniform angle in ``[-theta, +theta]`` degrees.

    Invariance claimed: the label does not depend on the volume's orientation about
    ``axis`` within +-theta (specimens are imaged and registered with a few degrees of tilt).

    Args:
        axis: 'x', 'y' or 'z'.
        theta: half-range in degrees, or ``(lo, hi)`` degrees (``(a, a)``: a fixed angle).
        center: 'origin' (volume centre of the normalised frame), 'set' (each set's centre:
            the mean of ``batch["centroid"]``'s triples if given, else of its real points'
            triples; keeps every set in place and turns it) or 3 coordinates.
        per_set: one angle per set instead of one per call.
        p: probability of applying (one draw per call).

    Example:
        >>> import numpy as np
        >>> rot = Rotate("z", theta=(90.0, 90.0))
        >>> out = rot({"pos": np.array([[1.0, 0.0, 0.0]])}, np.random.default_rng(0))
        >>> np.round(out["pos"], 6).tolist()
        [[0.0, 1.0, 0.0]]
    """

    def __init__(self, axis: str = "z", theta: float | Sequence[float] = 5.0,
                 center: Center = "origin", per_set: bool = False, p: float = 1.0):
        super().__init__(p)
        self.axis = axis
        self._axis = _axis(axis, "Rotate")
        self.theta = _range(theta, "Rotate", "theta", 0.0)
        self.center = _check_center(center, "Rotate")
        self.per_set = per_set

    def sample_params(self, rnd: Random) -> dict:
        return {} if self.per_set else {"angle_deg": rnd.scalar(*self.theta)}

    def apply(self, batch: Batch, rnd: Random, params: dict) -> Batch:
        if self.per_set:
            angle = rnd.uniform((_num_sets(batch),), *self.theta)
        else:
            angle = torch.tensor([params["angle_deg"]], dtype=torch.float64)
        mat = rotation_matrix(self._axis, angle.to(torch.float64) * (math.pi / 180.0))
        return _apply_affine(batch, "Rotate", mat, self.center)


class Mirror(Augmentation):
    """Reflection across the plane ``axis = offset``: ``x_axis -> 2 * offset - x_axis``.

    Invariance claimed: the label does not depend on the side (left/right for 'x' in a
    frame whose ``x = 0`` is the midline); true for cell class and transmitter, not for
    side-specific types. Note: the graph's frame is centred on the synapses' bounding box,
    which is the midline only for a whole, centred brain (not for the hemibrain volume).
    Mirror applied twice is the identity (bit-exact for ``offset = 0``).

    Args:
        axis: 'x', 'y' or 'z' (the plane's normal).
        offset: plane position in frame units.
        per_set: flip each set independently with probability 1/2 (else every set, always).
        p: probability of applying (one draw per call).

    Example:
        >>> import numpy as np
        >>> out = Mirror("x", offset=0.5)({"pos": np.array([[1.0, 2.0, 3.0]])},
        ...                              np.random.default_rng(0))
        >>> out["pos"].tolist()
        [[0.0, 2.0, 3.0]]
    """

    def __init__(self, axis: str = "x", offset: float = 0.0, per_set: bool = False,
                 p: float = 1.0):
        super().__init__(p)
        self.axis = axis
        self._axis = _axis(axis, "Mirror")
        self.offset = float(offset)
        self.per_set = per_set

    def apply(self, batch: Batch, rnd: Random, params: dict) -> Batch:
        n = _num_sets(batch) if self.per_set else 1
        sign = torch.ones(n, 3, dtype=torch.float64)
        if self.per_set:
            flip = rnd.uniform((n,)).cpu() < 0.5
            sign[:, self._axis] = torch.where(flip, -1.0, 1.0).to(torch.float64)
        else:
            sign[:, self._axis] = -1.0
        centre = torch.zeros(1, 3, dtype=torch.float64)
        centre[0, self._axis] = self.offset
        return _apply_affine(batch, "Mirror", torch.diag_embed(sign), "origin", centre)


class Scale(Augmentation):
    """Isotropic (or per-axis) scaling by a uniform factor in ``[1 - s, 1 + s]``.

    Invariance claimed: the label does not depend on overall size within +-s (brains of
    one species differ in size by a few percent; tissue shrinks unevenly in preparation).

    Args:
        s: half-range of the factor, or ``(lo, hi)`` factors (``(f, f)``: a fixed factor).
        anisotropic: draw one factor per axis instead of one for all three.
        center: 'origin', 'set' or 3 coordinates (as for :class:`Rotate`).
        per_set: one factor (or triple) per set instead of one per call.
        p: probability of applying (one draw per call).

    Example:
        >>> import numpy as np
        >>> out = Scale((2.0, 2.0), center=(1.0, 1.0, 1.0))(
        ...     {"pos": np.array([[2.0, 1.0, 0.0]])}, np.random.default_rng(0))
        >>> out["pos"].tolist()
        [[3.0, 1.0, -1.0]]
    """

    def __init__(self, s: float | Sequence[float] = 0.05, anisotropic: bool = False,
                 center: Center = "origin", per_set: bool = False, p: float = 1.0):
        super().__init__(p)
        self.s = _range(s, "Scale", "s", 1.0)
        if self.s[0] <= 0:
            raise ValueError(f"Scale: factors must be > 0, got range {self.s}")
        self.anisotropic = anisotropic
        self.center = _check_center(center, "Scale")
        self.per_set = per_set

    def sample_params(self, rnd: Random) -> dict:
        if self.per_set:
            return {}
        k = 3 if self.anisotropic else 1
        return {"factors": rnd.uniform((k,), *self.s).tolist()}

    def apply(self, batch: Batch, rnd: Random, params: dict) -> Batch:
        k = 3 if self.anisotropic else 1
        if self.per_set:
            factors = rnd.uniform((_num_sets(batch), k), *self.s).cpu()
        else:
            factors = torch.tensor([params["factors"]], dtype=torch.float64)
        mat = torch.diag_embed(factors.to(torch.float64).expand(-1, 3))
        return _apply_affine(batch, "Scale", mat, self.center)

"""Coordinate frames of synthetic *individuals*: the same brain, another animal, another scan.

Individual 0 is the base frame (8 nm voxels, the generator's box). Every other individual gets
its own frame: a random shift and scale by default (real scans differ in origin and voxel
size), and on request a rotation about z and a left-right mirror (real connectomes are often,
but not always, registered to a common template first). A scale ``s`` means coordinates are
written in units of ``8 / s`` nm, and ``synthetic.json`` declares ``voxel_nm = 8 / s``, so
physical distances are kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .config import BOX, VOXEL_NM

__all__ = ["Frame", "draw_frame"]


@dataclass(frozen=True)
class Frame:
    """``x' = scale * (R_z(rotate_deg) M x) + shift`` in voxels, about the box centre.

    Attributes: shift (3 voxels, of the new frame), scale (new units per base voxel),
    rotate_deg (about z), mirror (x -> -x), voxel_nm (nm per new unit).
    """

    shift: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: float = 1.0
    rotate_deg: float = 0.0
    mirror: bool = False

    @property
    def voxel_nm(self) -> float:
        return VOXEL_NM / self.scale

    @property
    def is_identity(self) -> bool:
        return self == Frame()

    def apply(self, xyz: np.ndarray) -> np.ndarray:
        """(n, 3) base voxels -> (n, 3) float64 coordinates in this frame."""
        centre = np.asarray(BOX) / 2
        p = np.asarray(xyz, np.float64) - centre
        if self.mirror:
            p[:, 0] = -p[:, 0]
        if self.rotate_deg:
            a = np.deg2rad(self.rotate_deg)
            x, y = p[:, 0].copy(), p[:, 1].copy()
            p[:, 0], p[:, 1] = np.cos(a) * x - np.sin(a) * y, np.sin(a) * x + np.cos(a) * y
        return self.scale * (p + centre) + np.asarray(self.shift)

    def to_dict(self) -> dict:
        return {**asdict(self), "voxel_nm": self.voxel_nm}


def draw_frame(seed: int, individual: int, *, rotate_deg: float = 0.0, mirror: bool = False) -> Frame:
    """The frame of ``individual`` (0: the base frame, unless mirrored or rotated on request).

    Shift: uniform in +-4,000 base voxels per axis (32 um); scale: uniform in [0.8, 1.25];
    rotation: uniform in +-``rotate_deg`` degrees.

    Example:
        >>> draw_frame(0, 0).is_identity, draw_frame(0, 1).is_identity
        (True, False)
    """
    rng = np.random.default_rng([seed, individual, 7])
    shift, scale = rng.uniform(-4000, 4000, 3), float(rng.uniform(0.8, 1.25))
    angle = float(rng.uniform(-rotate_deg, rotate_deg)) if rotate_deg else 0.0
    if individual == 0:
        return Frame(rotate_deg=angle, mirror=mirror)
    return Frame(tuple(float(s) for s in shift), scale, angle, mirror)

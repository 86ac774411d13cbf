"""Augmentations by name (for ``--augment NAME[,NAME]``) and test-time augmentation helpers.

A spec is a comma-separated list of names, each optionally followed by ``:key=value``
overrides: ``"rotate_z:theta=10,mirror_x,jitter:sigma_nm=40"``. Values are parsed as
``true``/``false``, numbers, ``a/b[/c]`` tuples of numbers, or else kept as strings.
``"none"`` or ``""`` is the identity.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from inspect import signature
from typing import Any

import numpy as np
import torch

from .core import Augmentation, Batch, Compose
from .points import ConfidenceResample, EdgeDropout, Jitter, PointDropout
from .spatial import Mirror, Rotate, Scale

__all__ = [
    "AUGMENTATIONS",
    "ALIASES",
    "describe_augmentations",
    "parse_augment_spec",
    "build_augmentations",
    "get_augmentation",
    "frame_length_unit_nm",
    "tta_rngs",
    "tta_views",
]


@dataclass(frozen=True)
class Entry:
    """One registry entry: the class, its default arguments and why they are the defaults."""

    cls: type[Augmentation]
    defaults: dict[str, Any] = field(default_factory=dict)
    why: str = ""


_ROT = ("5 degrees: specimens are imaged and registered with a few degrees of tilt; "
        "about the volume centre this already moves the volume's edge by ~0.09 units "
        "(~14 um at hemibrain scale), the size of a small neuropil compartment.")
_MIR = ("p 0.5 about the plane through the frame's origin: a side-agnostic label has no "
        "preferred side; valid only when the origin is the midline (a centred whole brain).")

AUGMENTATIONS: dict[str, Entry] = {
    **{f"rotate_{a}": Entry(Rotate, {"axis": a, "theta": 5.0, "center": "origin"}, _ROT)
       for a in "xyz"},
    **{f"mirror_{a}": Entry(Mirror, {"axis": a, "offset": 0.0, "p": 0.5}, _MIR) for a in "xyz"},
    "scale": Entry(Scale, {"s": 0.05}, "5%: the spread of brain size between individuals and "
                   "of uneven tissue shrinkage is a few percent."),
    "scale_aniso": Entry(Scale, {"s": 0.05, "anisotropic": True}, "as 'scale', per axis."),
    "jitter": Entry(Jitter, {"sigma_nm": 10.0}, "10 nm per coordinate (1.25 voxels of 8 nm): "
                    "above voxel quantisation (2.3 nm sd); the pre -> post vector then moves by "
                    "~25 nm rms, an eighth of a typical 200 nm T-bar -> PSD distance, so pair "
                    "geometry survives; needs length_unit_nm."),
    "dropout": Entry(PointDropout, {"q": 0.1}, "10%: of the order of an automatic synapse "
                     "detector's miss rate; small enough that small sets keep their shape."),
    "conf_resample": Entry(ConfidenceResample, {"threshold": (0.5, 0.7)}, "(0.5, 0.7): from a "
                           "typical release threshold (0.5) to a stricter one; a no-op when "
                           "confidences are all 1.0."),
    "edge_dropout": Entry(EdgeDropout, {"q": 0.1}, "10%: proofreading leaves some connections "
                          "out; the graph's structure survives."),
}

#: Short names accepted in specs.
ALIASES = {"rotate": "rotate_z", "mirror": "mirror_x"}


def describe_augmentations() -> str:
    """One line per registered name: defaults and why.

    Example:
        >>> print(describe_augmentations().splitlines()[0])
        rotate_x: Rotate(axis='x', theta=5.0, center='origin') -- 5 degrees: ...
    """
    lines = []
    for name, e in AUGMENTATIONS.items():
        args = ", ".join(f"{k}={v!r}" for k, v in e.defaults.items())
        lines.append(f"{name}: {e.cls.__name__}({args}) -- {e.why}")
    return "\n".join(lines)


def _value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        if "/" in text:
            return tuple(float(v) for v in text.split("/"))
        return float(text)
    except ValueError:
        return text.strip()


def parse_augment_spec(spec: str | None) -> list[tuple[str, dict[str, Any]]]:
    """``"rotate_z:theta=10,mirror_x"`` -> ``[("rotate_z", {"theta": 10.0}), ("mirror_x", {})]``.

    Example:
        >>> parse_augment_spec("rotate:theta=10:center=set, conf_resample:threshold=0.6/0.8")
        [('rotate_z', {'theta': 10.0, 'center': 'set'}), ('conf_resample', {'threshold': (0.6, 0.8)})]
    """
    if spec is None or spec.strip().lower() in ("", "none"):
        return []
    items = []
    for part in spec.split(","):
        name, *pairs = [s.strip() for s in part.split(":")]
        name = ALIASES.get(name, name)
        if name not in AUGMENTATIONS:
            raise ValueError(f"--augment: unknown augmentation {name!r}; allowed: "
                             f"{sorted(AUGMENTATIONS) + sorted(ALIASES)}")
        params = {}
        for pair in pairs:
            if "=" not in pair:
                raise ValueError(f"--augment: {pair!r} in {part!r} must be key=value")
            key, val = pair.split("=", 1)
            params[key.strip()] = _value(val)
        items.append((name, params))
    return items


def _build_one(name: str, overrides: Mapping[str, Any], length_unit_nm: float | None) -> Augmentation:
    entry = AUGMENTATIONS[name]
    kwargs = {**entry.defaults, **overrides}
    allowed = set(signature(entry.cls).parameters)
    if entry.cls is Jitter:
        if length_unit_nm is None:
            raise ValueError(f"augmentation {name!r} has physical units: pass length_unit_nm "
                             "(nm per coordinate unit; for a graph, frame_length_unit_nm(data))")
        kwargs["length_unit_nm"] = length_unit_nm
    unknown = set(kwargs) - allowed
    if unknown:
        raise ValueError(f"augmentation {name!r}: unknown parameter(s) {sorted(unknown)}; "
                         f"allowed: {sorted(allowed - {'length_unit_nm'})}")
    return entry.cls(**kwargs)


def build_augmentations(names: Sequence[str], *, length_unit_nm: float | None = None,
                        **params: Mapping[str, Any]) -> Compose:
    """A :class:`Compose` of registered augmentations, in the given order.

    Args:
        names: registry names (or aliases), each optionally with ``:key=value`` overrides.
        length_unit_nm: nm per coordinate unit (needed by 'jitter').
        **params: per-name overrides, e.g. ``rotate_z={"theta": 10}``.

    Example:
        >>> aug = build_augmentations(["rotate", "jitter"], length_unit_nm=1.3e6,
        ...                           rotate_z={"theta": 10.0})
        >>> [type(t).__name__ for t in aug.transforms], aug.transforms[0].theta
        (['Rotate', 'Jitter'], (-10.0, 10.0))
    """
    items = [item for n in names for item in parse_augment_spec(n)]
    known = {name for name, _ in items}
    extra = set(params) - known
    if extra:
        raise ValueError(f"build_augmentations: overrides for {sorted(extra)} which are not in "
                         f"names {sorted(known)}")
    return Compose([_build_one(n, {**params.get(n, {}), **o}, length_unit_nm) for n, o in items])


def get_augmentation(spec: str | None, *, length_unit_nm: float | None = None) -> Compose:
    """The augmentation for a ``--augment`` string (``"none"``: the identity).

    Example:
        >>> import numpy as np
        >>> aug = get_augmentation("mirror_x:p=1,scale:s=0")
        >>> aug({"pos": np.array([[0.5, 0.0, 0.0]])}, np.random.default_rng(0))["pos"].tolist()
        [[-0.5, 0.0, 0.0]]
    """
    return build_augmentations([] if spec is None else [spec], length_unit_nm=length_unit_nm)


def frame_length_unit_nm(data) -> float:
    """nm per unit of the graph's normalised frame: ``data.pos_scale * data.voxel_nm``."""
    return float(data.pos_scale) * float(data.voxel_nm)


def _seed(seed: int, view: int) -> int:
    return int(np.random.SeedSequence([seed, view]).generate_state(1)[0])


def tta_rngs(k: int, seed: int = 0, kind: str = "torch",
             device: str | torch.device = "cpu") -> list[np.random.Generator | torch.Generator]:
    """K independent, reproducible generators (view ``i`` always gets the same stream).

    Args:
        k: number of views. seed: base seed.
        kind: 'torch' (``torch.Generator`` on ``device``) or 'numpy'.
    """
    if kind == "numpy":
        return [np.random.default_rng(_seed(seed, i)) for i in range(k)]
    if kind != "torch":
        raise ValueError(f"tta_rngs: kind must be 'torch' or 'numpy', got {kind!r}")
    return [torch.Generator(device=device).manual_seed(_seed(seed, i)) for i in range(k)]


def tta_views(batch: Batch, augment: Augmentation, k: int, seed: int = 0,
              identity_first: bool = True) -> Iterator[Batch]:
    """K deterministic augmented copies of ``batch`` for test-time augmentation.

    The caller runs its model on each view and averages the predictions. With
    ``identity_first`` view 0 is ``batch`` itself, so ``k = 1`` is plain evaluation.

    Example:
        >>> import numpy as np
        >>> views = list(tta_views({"pos": np.ones((2, 3))}, get_augmentation("scale"), k=3))
        >>> len(views), float(views[0]["pos"][0, 0]), bool(views[1]["pos"][0, 0] != 1.0)
        (3, 1.0, True)
    """
    if k < 1:
        raise ValueError(f"tta_views: k must be >= 1, got {k}")
    pos = next(v for v in batch.values() if isinstance(v, np.ndarray | torch.Tensor))
    kind = "numpy" if isinstance(pos, np.ndarray) else "torch"
    rngs = tta_rngs(k, seed, kind)
    for i in range(k):
        yield dict(batch) if identity_first and i == 0 else augment(batch, rngs[i])

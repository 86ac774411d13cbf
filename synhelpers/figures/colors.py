"""One colour per class, shared by every figure, Neuroglancer layer and export.

The palette is colorcet's ``glasbey_category10`` (Glasbey et al. 2007: each colour as far as
possible from all the earlier ones; its first ten are matplotlib's ``tab10``), without its greys,
which are kept for neurons without a label or a prediction, and without its palest colours,
which vanish on a white background.

- :func:`class_colors`: a fixed ``#rrggbb`` colour per class name, never grey;
- :data:`UNLABELLED_COLOR`: the grey of neurons without a label (figures draw them apart);
- :data:`UNKNOWN_COLOR`: the grey of anything without a prediction (viewers);
- :func:`hex_to_rgb`: ``#rrggbb`` strings to an ``(n, 3)`` uint8 array.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

__all__ = ["class_colors", "hex_to_rgb", "UNKNOWN_COLOR", "UNLABELLED_COLOR"]

#: Colour of anything without a prediction.
UNKNOWN_COLOR = "#808080"
#: Colour of neurons without a label; figures draw them apart (small hollow markers, labelled).
UNLABELLED_COLOR = "#7f7f7f"


@lru_cache(maxsize=1)
def _palette() -> tuple[str, ...]:
    import colorcet
    from matplotlib.colors import rgb_to_hsv, to_hex

    keep = []
    for rgb in colorcet.glasbey_category10:
        _, sat, val = rgb_to_hsv(rgb)
        luminance = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
        if sat > 0.2 and luminance < 0.8 and val > 0.25:  # no grey, no near-white, no near-black
            keep.append(to_hex(rgb))
    return tuple(keep)


def class_colors(classes: Sequence[str]) -> dict[str, str]:
    """A ``#rrggbb`` colour per class, in the given order, never grey (grey is "no label" or
    "unknown"), the same in every figure, Neuroglancer layer and export. Distinct for the
    first 150 or so classes; it repeats after that.

    Example:
        >>> class_colors(["KC", "MBON", "DAN"])
        {'KC': '#1f77b4', 'MBON': '#ff7f0e', 'DAN': '#2ca02c'}
    """
    colors = _palette()
    return {c: colors[i % len(colors)] for i, c in enumerate(classes)}


def hex_to_rgb(colors: Sequence[str]) -> np.ndarray:
    """``["#rrggbb", ...]`` -> ``(n, 3)`` uint8."""
    raw = np.array([int(c.lstrip("#"), 16) for c in colors], dtype=np.uint32)
    return np.stack([(raw >> 16) & 255, (raw >> 8) & 255, raw & 255], 1).astype(np.uint8)

"""One colour per class, shared by every figure, Neuroglancer layer and export.

- :func:`class_colors`: a fixed ``#rrggbb`` colour per class name, never grey;
- :data:`UNKNOWN_COLOR`: the grey of anything without a prediction;
- :func:`hex_to_rgb`: ``#rrggbb`` strings to an ``(n, 3)`` uint8 array.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["class_colors", "hex_to_rgb", "UNKNOWN_COLOR"]

#: Colour of anything without a prediction.
UNKNOWN_COLOR = "#808080"


def class_colors(classes: Sequence[str]) -> dict[str, str]:
    """A ``#rrggbb`` colour per class, in the given order, never grey (grey is "unknown"): the
    figures' palette (:func:`~synhelpers.figures.palette.class_palette`), so a class has the
    same colour in a figure, a Neuroglancer layer and an export.

    Example:
        >>> class_colors(["KC", "MBON", "DAN"])
        {'KC': '#1f77b4', 'MBON': '#ff7f0e', 'DAN': '#2ca02c'}
    """
    from .palette import class_palette

    return class_palette(classes)


def hex_to_rgb(colors: Sequence[str]) -> np.ndarray:
    """``["#rrggbb", ...]`` -> ``(n, 3)`` uint8."""
    raw = np.array([int(c.lstrip("#"), 16) for c in colors], dtype=np.uint32)
    return np.stack([(raw >> 16) & 255, (raw >> 8) & 255, raw & 255], 1).astype(np.uint8)

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
    """A ``#rrggbb`` colour per class, in the given order, never grey (grey is "unknown").

    The palette is tab20's ten dark hues, then its ten light ones, then tab20b and tab20c,
    without their greys; it repeats after 54 classes.

    Example:
        >>> class_colors(["KC", "MBON", "DAN"])
        {'KC': '#1f77b4', 'MBON': '#ff7f0e', 'DAN': '#2ca02c'}
    """
    import matplotlib

    tab20 = list(matplotlib.colormaps["tab20"].colors)
    colors = tab20[0::2] + tab20[1::2] + [c for name in ("tab20b", "tab20c")
                                          for c in matplotlib.colormaps[name].colors]
    palette = [matplotlib.colors.to_hex(c) for c in colors if len({round(v, 3) for v in c}) > 1]
    return {c: palette[i % len(palette)] for i, c in enumerate(classes)}


def hex_to_rgb(colors: Sequence[str]) -> np.ndarray:
    """``["#rrggbb", ...]`` -> ``(n, 3)`` uint8."""
    raw = np.array([int(c.lstrip("#"), 16) for c in colors], dtype=np.uint32)
    return np.stack([(raw >> 16) & 255, (raw >> 8) & 255, raw & 255], 1).astype(np.uint8)

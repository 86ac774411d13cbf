"""Colours of classes in the figures: one palette whose neighbours can be told apart.

The palette is colorcet's ``glasbey_category10`` (Glasbey et al. 2007: each colour as far as
possible from all the earlier ones; its first ten are matplotlib's ``tab10``), without its greys,
which are kept for neurons without a label (:data:`UNLABELLED_COLOR`), and without its palest
colours, which vanish on a white background.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

__all__ = ["class_palette", "UNLABELLED_COLOR"]

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


def class_palette(classes: Sequence[str]) -> dict[str, str]:
    """A ``#rrggbb`` colour per class, in the given order, never grey (grey is "no label").

    Distinct for the first 150 or so classes; it repeats after that.

    Example:
        >>> class_palette(["KC", "MBON", "DAN"])
        {'KC': '#1f77b4', 'MBON': '#ff7f0e', 'DAN': '#2ca02c'}
    """
    colors = _palette()
    return {c: colors[i % len(colors)] for i, c in enumerate(classes)}

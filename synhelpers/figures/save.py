"""Saving figures: one function, one naming scheme.

A figure's file name is its kind followed by its parameters (dataset, task, model, seeds ...),
so a rerun with other parameters never overwrites another figure::

    degree_distributions__synthetic-2000-neurons-seed-0.png
    ablation__cell_class__synthetic-2000-neurons-seed-0__3-seeds.svg
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless by default; Jupyter's inline backend still shows figures
import matplotlib.pyplot as plt  # noqa: E402

from ..io import atomic_path  # noqa: E402

__all__ = ["save_figure", "figure_name", "slug", "DPI", "SVG_HASHSALT"]

#: Resolution of every PNG.
DPI = 130
#: Salt of the ids of an SVG's clip paths and markers (matplotlib draws them at random
#: otherwise), so that the same figure gives the same bytes and a rerun leaves git clean.
SVG_HASHSALT = "synhelpers"
#: Metadata of every SVG: no date, no version-specific creator line.
SVG_METADATA = {"Date": None, "Creator": "matplotlib"}


def slug(text) -> str:
    """A file-name-safe form of ``text``.

    Example:
        >>> slug("synthetic (2000 neurons, seed 0)")
        'synthetic-2000-neurons-seed-0'
    """
    s = re.sub(r"[^A-Za-z0-9_.]+", "-", str(text)).strip("-.")
    return s or "x"


def figure_name(kind: str, *params) -> str:
    """``kind__param1__param2`` with every part slugged; ``None`` parameters are skipped.

    Example:
        >>> figure_name("ablation", "cell_class", "synthetic (2000 neurons, seed 0)", "3 seeds")
        'ablation__cell_class__synthetic-2000-neurons-seed-0__3-seeds'
    """
    return "__".join([slug(kind), *(slug(p) for p in params if p is not None)])


def save_figure(fig, out_dir: str | Path, name: str) -> list[Path]:
    """Write ``fig`` as ``out_dir/name.png`` and ``out_dir/name.svg`` (atomically); close it.

    Both files are functions of the figure alone: SVGs carry no date and their ids are
    hashed with a fixed salt (:data:`SVG_HASHSALT`), PNGs no date or version either, so an
    unchanged figure gives byte-identical files (``tests/test_figure_kinds.py`` checks it).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        p = out_dir / f"{name}.{ext}"
        with atomic_path(p) as tmp, matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT}):
            fig.savefig(tmp, format=ext, dpi=DPI, bbox_inches="tight",
                        metadata=SVG_METADATA if ext == "svg" else {"Software": None})
        paths.append(p)
    plt.close(fig)
    return paths

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

__all__ = ["save_figure", "figure_name", "slug", "DPI"]

#: Resolution of every PNG.
DPI = 130


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

    SVGs carry no date, so an unchanged figure gives an unchanged file.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        p = out_dir / f"{name}.{ext}"
        with atomic_path(p) as tmp:
            fig.savefig(tmp, format=ext, dpi=DPI, bbox_inches="tight",
                        metadata={"Date": None} if ext == "svg" else None)
        paths.append(p)
    plt.close(fig)
    return paths

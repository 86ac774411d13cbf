"""Figures of training runs, drawn from saved ``metrics.json`` files (never from memory).

- :func:`plot_learning_curves`: validation macro-F1 (and training loss) per epoch, per run.
- :func:`plot_confusion`: the test confusion matrix summed over seeds, row-normalised.
- :func:`plot_ablation`: test macro-F1 mean ± std per run, with the generator's ceiling.
- :func:`save_figure`: PNG and SVG side by side.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["save_figure", "plot_learning_curves", "plot_confusion", "plot_ablation"]


def save_figure(fig, figures_dir, name: str) -> list[Path]:
    """Save ``fig`` as ``name.png`` and ``name.svg`` in ``figures_dir``; returns the paths."""
    d = Path(figures_dir)
    d.mkdir(parents=True, exist_ok=True)
    paths = [d / f"{name}.png", d / f"{name}.svg"]
    fig.savefig(paths[0], dpi=120, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def plot_learning_curves(runs: dict[str, dict], title: str = ""):
    """Validation macro-F1 and training loss against epoch; one line per run and seed."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, m) in enumerate(runs.items()):
        for j, s in enumerate(m.get("seeds", [])):
            h = s["history"]
            kw = dict(color=colors[i % len(colors)], alpha=0.9 if j == 0 else 0.4,
                      label=label if j == 0 else None)
            ax1.plot(h["epoch"], h["val_macro_f1"], **kw)
            ax2.plot(h["epoch"], h["train_loss"], **kw)
            ax1.axvline(s["best_epoch"], color=kw["color"], lw=0.5, ls=":")
    ax1.set(xlabel="epoch", ylabel="validation macro-F1", ylim=(0, 1))
    ax2.set(xlabel="epoch", ylabel="training loss", yscale="log")
    ax1.legend(fontsize=7, loc="lower right")
    fig.suptitle(title or "learning curves (dotted: selected epoch)")
    fig.tight_layout()
    return fig


def plot_confusion(metrics: dict, title: str = "", column: str | None = None):
    """Row-normalised test confusion matrix summed over seeds."""
    seeds = metrics["seeds"]
    if column is None:
        cms = [np.array(s["test_confusion_matrix"]) for s in seeds]
        names = seeds[0]["class_names"]
    else:
        cms = [np.array(s["per_task"][column]["confusion_matrix"]) for s in seeds]
        names = [str(i) for i in range(len(cms[0]))]
    cm = np.sum(cms, axis=0).astype(float)
    norm = cm / np.clip(cm.sum(1, keepdims=True), 1, None)
    k = len(names)
    fig, ax = plt.subplots(figsize=(0.45 * k + 2.5, 0.45 * k + 2))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), names, rotation=90, fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    ax.set(xlabel="predicted", ylabel="true")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    ax.set_title(title or f"{metrics['model']}: test confusion ({len(seeds)} seeds)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_ablation(table, title: str = ""):
    """Bar chart of test macro-F1 (mean ± std over seeds) from :func:`summary_table`."""
    t = table.dropna(subset=["macro_f1_mean"])
    is_ceiling = t["run"] == "generator ceiling"
    runs = t[~is_ceiling]
    fig, ax = plt.subplots(figsize=(1.0 * len(runs) + 2, 3.6))
    ax.bar(range(len(runs)), runs["macro_f1_mean"] * 100, yerr=runs["macro_f1_std"] * 100,
           capsize=3, color="#4c72b0")
    ax.set_xticks(range(len(runs)), runs["run"], rotation=30, ha="right", fontsize=8)
    if is_ceiling.any():
        c = float(t[is_ceiling]["macro_f1_mean"].iloc[0]) * 100
        ax.axhline(c, color="k", ls="--", lw=1, label=f"generator ceiling {c:.1f}")
        ax.legend(fontsize=8, loc="lower right")
    ax.set(ylabel="test macro-F1 (%)", ylim=(0, 100))
    ax.set_title(title or "ablation (mean ± std over seeds)", fontsize=10)
    fig.tight_layout()
    return fig

"""Figures of a run's answers (notebook 06), drawn from saved runs, predictions and embeddings.

- :func:`project_2d` and :func:`plot_embedding_map`: the learned representation in 2D,
  coloured by cell class and by transmitter, held-out neurons marked;
- :func:`plot_per_class_f1`: test F1 of every class for every model, classes grouped by what
  the synthetic generator made them depend on (synapse positions, wiring, both);
- :func:`plot_composition`: the predicted classes of the unlabelled neurons;
- :func:`results_figures`: all of them (and the ablation and reliability figures) for one
  :class:`~synhelpers.drivers.answers.Answers`, each file named after its parameters.

The ablation bars are :func:`synhelpers.figures.runs.plot_ablation`; the reliability diagram
is :func:`synhelpers.figures.calibration.plot_reliability`.

The 2D map uses scikit-learn's t-SNE (PCA to 50 dimensions first) by default, or PCA: both are
already dependencies. UMAP (``method="umap"``) is used only where ``umap-learn`` is installed;
it is not a dependency because it brings numba and llvmlite (about 100 MB, and a JIT compile
of several seconds on first use) for one figure, and at the sizes this project maps (thousands
to tens of thousands of neurons) t-SNE draws the same kind of picture in seconds to a minute.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .colors import UNLABELLED_COLOR, class_colors
from .runs import MODE_COLORS, plot_ablation, runs_dataset, synthetic_title
from .save import figure_name, save_figure

__all__ = ["project_2d", "plot_embedding_map", "per_class_f1_table", "plot_per_class_f1",
           "plot_composition", "results_figures", "MAP_METHODS", "DEPENDENCY_ORDER"]

#: Ways to draw an embedding in 2D.
MAP_METHODS = ("tsne", "pca", "umap")
#: Order of the groups of :func:`plot_per_class_f1`.
DEPENDENCY_ORDER = ("synapse", "wiring", "both")


def project_2d(x: np.ndarray, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """(N, d) -> (N, 2) with ``method`` (see :data:`MAP_METHODS`), deterministic by ``seed``.

    Example:
        >>> project_2d(np.eye(4, 3), "pca").shape
        (4, 2)
    """
    if method not in MAP_METHODS:
        raise ValueError(f"method={method!r}; choose one of {', '.join(MAP_METHODS)}")
    from sklearn.decomposition import PCA

    x = np.asarray(x, np.float64)
    if method == "pca":
        return PCA(2, random_state=seed).fit_transform(x)
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise ImportError("method='umap' needs umap-learn (pip install umap-learn); "
                              "or use method='tsne'") from None
        return umap.UMAP(random_state=seed).fit_transform(x)
    from sklearn.manifold import TSNE

    reduced = PCA(min(50, *x.shape), random_state=seed).fit_transform(x)
    perplexity = float(min(30, max(2, (len(x) - 1) // 3)))
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced)


def _scatter_by(ax, xy, labels, held_out, title: str) -> None:
    """One panel: points coloured by ``labels`` (grey: none), held-out ones ringed."""
    labels = pd.Series(labels, dtype=object)
    classes = sorted(labels.dropna().unique())
    colors = class_colors(classes)
    c = labels.map(colors).fillna(UNLABELLED_COLOR).to_numpy()
    known = labels.notna().to_numpy()
    ax.scatter(*xy[~known].T, s=6, facecolors="none", edgecolors=UNLABELLED_COLOR, lw=0.5)
    ax.scatter(*xy[known].T, s=9, c=c[known], lw=0)
    ax.scatter(*xy[held_out].T, s=22, facecolors="none", edgecolors="k", lw=0.5)
    handles = [plt.Line2D([], [], ls="", marker="o", color=colors[k], label=k) for k in classes]
    handles += [plt.Line2D([], [], ls="", marker="o", mfc="none", mec=UNLABELLED_COLOR, label="no label"),
                plt.Line2D([], [], ls="", marker="o", mfc="none", mec="k", label="held out (test)")]
    ax.legend(handles=handles, fontsize=7, frameon=False, loc="center left",
              bbox_to_anchor=(1.0, 0.5), ncol=1 + len(handles) // 20)
    ax.set(title=title, xticks=[], yticks=[])


def plot_embedding_map(xy: np.ndarray, colour_by: dict[str, np.ndarray], held_out: np.ndarray,
                       title: str = "", method: str = "tsne"):
    """The 2D map of an embedding, one panel per entry of ``colour_by``.

    Args:
        xy: (N, 2) from :func:`project_2d`.
        colour_by: panel title -> (N,) published labels (``None`` where a neuron has none),
            e.g. ``{"cell class": ..., "transmitter": ...}``.
        held_out: (N,) bool, neurons the model never saw a label of (ringed).
    """
    xy, held_out = np.asarray(xy), np.asarray(held_out, bool)
    fig, axes = plt.subplots(1, len(colour_by), figsize=(6.2 * len(colour_by), 5), squeeze=False)
    for ax, (name, labels) in zip(axes[0], colour_by.items()):
        _scatter_by(ax, xy, labels, held_out, f"coloured by {name}")
    axis = {"tsne": "t-SNE", "pca": "PCA", "umap": "UMAP"}.get(method, method)
    fig.suptitle((title or "embedding map") + f"\n{axis} of the fused representation, "
                 f"n = {len(xy):,} neurons, {int(held_out.sum()):,} held out", fontsize=10)
    fig.tight_layout()
    return fig


def per_class_f1_table(runs: dict[str, dict], column: str = "cell_class") -> pd.DataFrame:
    """Long table: ``run``, ``seed``, ``cls``, ``f1`` (test F1 per class and seed; classes absent
    from a seed's test split and its predictions are left out)."""
    rows = [(label, s["seed"], cls, f1) for label, m in runs.items() for s in m.get("seeds", [])
            for cls, f1 in s["per_task"][column]["per_class_f1"].items() if f1 is not None]
    return pd.DataFrame(rows, columns=["run", "seed", "cls", "f1"])


def plot_per_class_f1(runs: dict[str, dict], class_dependency: dict[str, str],
                      column: str = "cell_class", title: str = ""):
    """Test F1 per class (rows) and run (columns), the mean over seeds written in each cell;
    classes grouped by what they depend on (``class_dependency``: class -> ``synapse`` /
    ``wiring`` / ``both``). A heatmap, so that 16 classes x 7 runs stay readable at 9 pt in a
    figure about 10 inches wide; a blank cell: the class is absent from that run's test split."""
    import seaborn as sns

    table = per_class_f1_table(runs, column)
    groups = [g for g in DEPENDENCY_ORDER if g in set(class_dependency.values())]
    order = [c for g in groups for c in sorted(k for k, v in class_dependency.items() if v == g)]
    order = [c for c in order if c in set(table["cls"])]
    labels = [k for k in runs if k in set(table["run"])]
    mean = table.groupby(["cls", "run"])["f1"].mean().unstack("run").reindex(index=order, columns=labels)
    fig, ax = plt.subplots(figsize=(min(1.0 * len(labels) + 4.5, 12), 0.32 * len(order) + 2.6))
    sns.heatmap(mean, ax=ax, cmap="viridis", vmin=0, vmax=1, annot=True, fmt=".2f",
                annot_kws={"fontsize": 8}, linewidths=0.5, linecolor="white",
                cbar_kws={"label": "test F1 (mean over seeds)", "shrink": 0.8})
    bounds = np.cumsum([sum(class_dependency.get(c) == g for c in order) for g in groups])[:-1]
    for b in bounds:  # a line between the groups; each class's group in its label
        ax.axhline(b, color="k", lw=1.5)
    ax.set_xticklabels(ax.get_xticklabels(), rotation=30, ha="right", fontsize=9)
    ax.set_yticks(np.arange(len(order)) + 0.5, [f"{c} [{class_dependency[c]}]" for c in order],
                  rotation=0, fontsize=9)
    ax.set(xlabel="run (model/mode)", ylabel="class [what the synthetic design makes it depend on]")
    n_seeds = max((len(m.get("seeds", [])) for m in runs.values()), default=0)
    first = next((m["seeds"][0]["per_task"][column] for m in runs.values() if m.get("seeds")), {})
    n = f", n = {first['support']:,} test neurons" if "support" in first else ""
    ax.set_title(synthetic_title(title or f"{column}: per-class F1", runs_dataset(runs))
                 + f"\nmean over seeds (up to {n_seeds} per run){n}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_composition(predictions: pd.DataFrame, label: str = "cell_class", *,
                     split: str | None = None, confident: float = 0.5, title: str = ""):
    """Predicted classes of the neurons without a published ``label`` (or, given ``split``, of
    that split's neurons), split into confident (probability >= ``confident``) and not."""
    if split is None:
        rows, what = predictions[predictions[f"{label}__true"].isna()], f"without a {label} label"
    else:
        rows, what = predictions[predictions["split"] == split], f"of split {split!r}"
    if rows.empty:
        raise ValueError(f"no neuron {what}: nothing to count")
    sure = rows[f"{label}__prob"].to_numpy() >= confident
    pred = rows[f"{label}__pred"].astype(str)
    counts = pd.DataFrame({"sure": pred[sure].value_counts(), "unsure": pred[~sure].value_counts()})
    counts = counts.fillna(0).astype(int)
    counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False).index]
    fig, ax = plt.subplots(figsize=(5.5, 0.28 * len(counts) + 1.6))
    y = np.arange(len(counts))
    ax.barh(y, counts["sure"], color=MODE_COLORS["transductive"], label=f"probability >= {confident}")
    ax.barh(y, counts["unsure"], left=counts["sure"], color=MODE_COLORS["transductive"], alpha=0.35,
            label=f"probability < {confident}")
    ax.set_yticks(y, counts.index, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="neurons")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.margins(x=0.05)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.set_title((title or f"{label}: predicted composition") + f"\nn = {len(rows):,} neurons "
                 f"{what}, {int(sure.sum()):,} with probability >= {confident}", fontsize=9)
    fig.tight_layout()
    return fig


def results_figures(answers, out_dir, *, method: str = "tsne", n_bins: int = 10) -> list:
    """Write notebook 06's figures for ``answers`` (:func:`~synhelpers.drivers.answers.task_answers`)
    as PNG + SVG into ``out_dir``; returns the paths. Each name holds the figure's parameters
    (model, task, dataset, seeds or runs, seed combination, map method, bins)."""
    from ..io import read_json
    from ..models.config import TASK_COLUMNS
    from ..train.vocab import label_strings
    from .calibration import plot_reliability

    a, label = answers, TASK_COLUMNS.get(answers.task, (answers.task,))[0]
    meta, emb_meta = a.predictions.attrs["synhelpers"], a.embeddings.attrs["synhelpers"]
    combine = f"{meta['combine']} of {len(meta['seeds'])} seeds"
    held_out = a.embeddings["split"].to_numpy() == "test"
    colour_by = {"cell class": label_strings(a.data, "cell_class"),
                 "transmitter": label_strings(a.data, "predictedNt")}
    matrix = np.stack(a.embeddings["fused"].to_numpy())
    ablation = dict(a.runs)
    baseline = a.run_dir.parent / "baseline" / "metrics.json"  # written by run_task
    if baseline.exists():
        ablation.setdefault("baseline/transductive", read_json(baseline))
    figures = [
        (plot_embedding_map(project_2d(matrix, method), colour_by, held_out,
                            f"{a.model} (model seed {emb_meta['seed']}) on {a.dataset}", method),
         ("embedding_map", a.model, a.task, a.dataset, f"seed {emb_meta['seed']}", method)),
        (plot_ablation(ablation, a.ceiling["macro_f1"], f"{a.task} on {a.dataset}"),
         ("ablation", a.task, a.dataset, f"{a.seeds} seeds", f"{len(a.runs)} runs")),
        (plot_reliability(a.predictions, label, n_bins=n_bins,
                          title=f"{a.model} on {a.dataset}: {label} ({combine})"),
         ("reliability", a.model, a.task, a.dataset, combine, f"{n_bins} bins")),
    ]
    if a.predictions[f"{label}__true"].isna().any():  # neurons without a label to count
        figures.append((plot_composition(a.predictions, label,
                                         title=f"{a.model} on {a.dataset}: predicted {label}"),
                        ("composition", a.model, a.task, a.dataset, combine)))
    if a.class_dependency:
        figures.insert(1, (plot_per_class_f1(a.runs, a.class_dependency, label,
                                             f"{label} on {a.dataset}: per-class test F1"),
                           ("per_class_f1", a.task, a.dataset, f"{len(a.runs)} runs")))
    return [p for fig, params in figures for p in save_figure(fig, out_dir, figure_name(*params))]

"""Figures of the graph and of saved runs. Each function returns a matplotlib Figure;
:func:`save_figure` writes it as PNG and SVG. Titles carry the dataset name, so a
figure of the synthetic connectome always says so.

The figures of runs are drawn from their ``metrics.json``, never from memory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from torch_geometric.data import Data

from ..io import atomic_path, read_json

__all__ = [
    "save_figure",
    "plot_degree_distributions",
    "plot_synapses_per_connection",
    "plot_synapses_3d",
    "plot_roi_innervation",
    "plot_run_summary",
    "make_graph_figures",
    "make_run_figures",
]


def save_figure(fig, out_dir: str | Path, name: str, dpi: int = 130) -> list[Path]:
    """Write ``fig`` as ``out_dir/name.png`` and ``out_dir/name.svg`` (atomically); close it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        p = out_dir / f"{name}.{ext}"
        with atomic_path(p) as tmp:
            # SVGs carry no date, so unchanged figures give unchanged files
            fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight",
                        metadata={"Date": None} if ext == "svg" else None)
        paths.append(p)
    plt.close(fig)
    return paths


def _title(data: Data) -> str:
    return str(getattr(data, "dataset_name", "connectome"))


def _ccdf(ax, values: np.ndarray, label: str) -> None:
    v = np.sort(values[values > 0])
    if len(v) == 0:
        return
    ax.loglog(v, 1.0 - np.arange(len(v)) / len(v), label=label, lw=1.5)


def plot_degree_distributions(data: Data):
    """Complementary CDFs of in/out degree (partners) and in/out weight (synapses) per neuron."""
    pre, post = data.edge_index.numpy()
    w = data.edge_weight.numpy()
    n = data.num_nodes
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    _ccdf(axes[0], np.bincount(pre, minlength=n), "out-degree")
    _ccdf(axes[0], np.bincount(post, minlength=n), "in-degree")
    axes[0].set(xlabel="partners per neuron", ylabel="fraction of neurons ≥ x", title="Degree")
    _ccdf(axes[1], np.bincount(pre, weights=w, minlength=n), "output synapses")
    _ccdf(axes[1], np.bincount(post, weights=w, minlength=n), "input synapses")
    axes[1].set(xlabel="synaptic pairs per neuron", title="Weight")
    for ax in axes:
        ax.legend(frameon=False)
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"{_title(data)}: degree and weight distributions (log-log CCDF)")
    fig.tight_layout()
    return fig


def plot_synapses_per_connection(data: Data, max_weight: int = 30):
    """Histogram of synapses per connection (the edge weight), with its mean."""
    w = data.edge_weight.numpy().astype(int)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    counts = np.bincount(np.minimum(w, max_weight))[1:]
    ax.bar(np.arange(1, len(counts) + 1), counts / counts.sum(), color="#4c72b0")
    ax.set(xlabel=f"synapses per connection (last bar: ≥ {max_weight})", ylabel="fraction of connections",
           title=f"{_title(data)}\nmean {w.mean():.2f}, {100 * (w <= 3).mean():.0f}% have 1–3")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def plot_synapses_3d(data: Data, label: str = "cell_class", max_points: int = 20_000, seed: int = 0):
    """3D scatter of postsynaptic sites (µm from the volume centre), coloured by the class
    of the postsynaptic neuron; unlabelled neurons in grey. Subsampled to ``max_points``."""
    if "syn_pos" not in data:
        raise ValueError("the graph has no synapses (built without synapses.parquet)")
    rng = np.random.default_rng(seed)
    s = data.syn_pos.shape[0]
    idx = np.sort(rng.choice(s, min(s, max_points), replace=False))
    edge_of = np.searchsorted(data.syn_ptr.numpy(), idx, side="right") - 1
    post = data.edge_index[1].numpy()[edge_of]
    y = data[f"y_{label}"].numpy()[post]
    um = data.syn_pos[idx, 3:].numpy() * data.pos_scale * data.voxel_nm / 1000.0
    names = data.label_names[label]
    fig = plt.figure(figsize=(8, 6.5))
    ax = fig.add_subplot(projection="3d")
    cmap = plt.get_cmap("tab20", max(len(names), 1))
    # points are rasterised so that the SVG stays small; axes and text stay vector
    ax.scatter(*um[y < 0].T, s=1, c="lightgrey", alpha=0.3, label="unlabelled", rasterized=True)
    for c, name in enumerate(names):
        m = y == c
        ax.scatter(*um[m].T, s=1.5, color=cmap(c), alpha=0.6, label=name, rasterized=True)
    ax.set(xlabel="x (µm)", ylabel="y (µm)", zlabel="z (µm)")
    ax.legend(markerscale=6, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    ax.set_title(f"{_title(data)}: {len(idx):,} postsynaptic sites by {label}")
    fig.tight_layout()
    return fig


def plot_roi_innervation(data: Data, label: str = "cell_class"):
    """Heatmaps of the mean fraction of each class's input and output synapses per ROI."""
    import seaborn as sns

    r = len(data.roi_names)
    if r == 0:
        raise ValueError("the graph has no ROI information")
    y = data[f"y_{label}"].numpy()
    names = data.label_names[label]
    x = data.x.numpy()
    fin, fout = x[:, 4:4 + r], x[:, 4 + r:4 + 2 * r]
    counts = np.bincount(y[y >= 0], minlength=len(names)).clip(1)[:, None]

    def by_class(f):
        return np.stack([np.bincount(y[y >= 0], weights=f[y >= 0, j], minlength=len(names))
                         for j in range(r)], 1) / counts

    fig, axes = plt.subplots(1, 2, figsize=(max(10, 0.42 * r * 2), 0.33 * len(names) + 2.5), sharey=True)
    for ax, f, what in ((axes[0], fin, "input"), (axes[1], fout, "output")):
        sns.heatmap(by_class(f), ax=ax, cmap="viridis", vmin=0, xticklabels=data.roi_names,
                    yticklabels=names, cbar_kws={"label": f"mean fraction of {what} synapses"})
        ax.set_title(f"{what} ROIs")
        ax.tick_params(axis="x", labelsize=7, rotation=90)
    fig.suptitle(f"{_title(data)}: ROI innervation per {label}")
    fig.tight_layout()
    return fig


def plot_run_summary(metrics: dict):
    """Row-normalised test confusion matrix and per-class F1 of a run, with the ceiling.

    ``metrics`` is a loaded ``metrics.json``; the first seed's matrix is shown.
    """
    import seaborn as sns

    names = metrics.get("class_names") or list(metrics["seeds"][0]["test_per_class_f1"])
    seed = metrics["seeds"][0]
    cm = np.asarray(seed["test_confusion_matrix"], float)
    cmn = cm / cm.sum(1, keepdims=True).clip(1)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [1.3, 1]})
    sns.heatmap(cmn, ax=axes[0], cmap="Blues", vmin=0, vmax=1, xticklabels=names, yticklabels=names,
                cbar_kws={"label": "fraction of true class"})
    axes[0].set(xlabel="predicted", ylabel="true (published label)",
                title=f"test confusion (seed {seed['seed']})")
    # None marks a class absent from a seed's test split: left out of that class's mean
    f1_all = np.array([[np.nan if s["test_per_class_f1"].get(n) is None else s["test_per_class_f1"][n]
                        for n in names] for s in metrics["seeds"]], dtype=float)
    axes[1].barh(names, np.nanmean(f1_all, 0), xerr=np.nanstd(f1_all, 0) if len(f1_all) > 1 else None,
                 color="#55a868")
    axes[1].invert_yaxis()
    axes[1].set(xlim=(0, 1), xlabel="test F1", title="per-class F1")
    ceil = metrics.get("ceiling")
    if ceil:
        axes[1].axvline(ceil["macro_f1"], color="k", ls="--", lw=1, label="ceiling macro-F1")
        axes[1].legend(frameon=False, loc="lower right")
    m, s = metrics["mean"], metrics["std"]
    fig.suptitle(f"{metrics.get('dataset', '')} — {metrics['model']} ({metrics['task']}): "
                 f"test accuracy {m['test_accuracy']:.3f} ± {s.get('test_accuracy', 0):.3f}, "
                 f"macro-F1 {m['test_macro_f1']:.3f} ± {s.get('test_macro_f1', 0):.3f}")
    fig.tight_layout()
    return fig


def make_graph_figures(data: Data, out_dir: str | Path, label: str = "cell_class") -> list[Path]:
    """Write the four graph figures of notebook 02 into ``out_dir``."""
    paths = []
    paths += save_figure(plot_degree_distributions(data), out_dir, "graph_degree_distributions")
    paths += save_figure(plot_synapses_per_connection(data), out_dir, "graph_synapses_per_connection")
    if "syn_pos" in data:
        paths += save_figure(plot_synapses_3d(data, label), out_dir, "graph_synapses_3d")
    if len(data.roi_names):
        paths += save_figure(plot_roi_innervation(data, label), out_dir, "graph_roi_innervation")
    return paths


def make_run_figures(runs_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """A summary figure for every ``runs_dir/*/metrics.json`` that has a confusion matrix."""
    paths = []
    for mf in sorted(Path(runs_dir).glob("*/metrics.json")):
        m = read_json(mf)
        if m.get("seeds") and "test_confusion_matrix" in m["seeds"][0]:
            paths += save_figure(plot_run_summary(m), out_dir, f"run_{mf.parent.name}")
    return paths


def register(subparsers) -> None:
    p = subparsers.add_parser("figures", help="draw graph figures and run summaries (PNG + SVG)")
    p.add_argument("--graph", required=True, help="graph folder (from `build`)")
    p.add_argument("--runs", default=None, help="folder of runs, each with a metrics.json")
    p.add_argument("--out", default="figures")
    p.add_argument("--tables", default=None, help="(unused; accepted for symmetry with build)")
    p.add_argument("--label", default="cell_class")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    from ..graph import load_graph

    paths = make_graph_figures(load_graph(args.graph), args.out, args.label)
    if args.runs:
        paths += make_run_figures(args.runs, args.out)
    for p in paths:
        print(f"wrote {p}")
    return 0

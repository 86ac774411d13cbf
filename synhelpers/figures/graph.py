"""Figures of a graph: degree and weight distributions, synapses per connection, a 3D synapse
scatter, ROI innervation per class. Each function returns a matplotlib Figure; titles carry the
dataset name (so a figure of the synthetic connectome always says so) and the counts shown."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from torch_geometric.data import Data

from ..models.hybrid import node_unit_um
from .colors import UNLABELLED_COLOR, class_colors
from .save import figure_name, save_figure

__all__ = [
    "plot_degree_distributions",
    "plot_synapses_per_connection",
    "plot_synapses_3d",
    "plot_roi_innervation",
    "make_graph_figures",
]


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
    fig.suptitle(f"{_title(data)}: degree and weight distributions (log-log CCDF; "
                 f"n = {n:,} neurons, {len(w):,} connections)")
    fig.tight_layout()
    return fig


def plot_synapses_per_connection(data: Data, max_weight: int = 30):
    """Histogram of synapses per connection (the edge weight), with its mean."""
    w = data.edge_weight.numpy().astype(int)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    counts = np.bincount(np.minimum(w, max_weight))[1:]
    ax.bar(np.arange(1, len(counts) + 1), counts / counts.sum(), color="#4c72b0")
    ax.set(xlabel=f"synapses per connection (last bar: ≥ {max_weight})", ylabel="fraction of connections",
           title=f"{_title(data)}\nn = {len(w):,} connections; mean {w.mean():.2f}, "
                 f"{100 * (w <= 3).mean():.0f}% have 1–3")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def plot_synapses_3d(data: Data, label: str = "cell_class", max_points: int = 20_000, seed: int = 0):
    """3D scatter of postsynaptic sites (µm from the volume centre), coloured by the class
    of the postsynaptic neuron (:func:`~.colors.class_colors`); neurons without a label
    as small hollow grey rings. Subsampled to ``max_points``."""
    if "syn_pos" not in data:
        raise ValueError("the graph has no synapses (built without synapses.parquet)")
    rng = np.random.default_rng(seed)
    s = data.syn_pos.shape[0]
    idx = np.sort(rng.choice(s, min(s, max_points), replace=False))
    edge_of = np.searchsorted(data.syn_ptr.numpy(), idx, side="right") - 1
    post = data.edge_index[1].numpy()[edge_of]
    y = data[f"y_{label}"].numpy()[post]
    # micrometres from the centre of each connectome's volume (its own frame)
    unit_um = node_unit_um(data).numpy()[post]
    um = data.syn_pos[idx, 3:].numpy() * unit_um[:, None]
    names = data.label_names[label]
    colors = class_colors(names)
    fig = plt.figure(figsize=(8.5, 6.5))
    ax = fig.add_subplot(projection="3d")
    # points are rasterised so that the SVG stays small; axes and text stay vector. Neurons
    # without a label: small hollow grey rings, drawn first, so that no class colour hides
    ax.scatter(*um[y < 0].T, s=4, facecolors="none", edgecolors=UNLABELLED_COLOR, lw=0.5,
               label=f"no {label} (unlabelled)", rasterized=True)
    for c, name in enumerate(names):
        m = y == c
        ax.scatter(*um[m].T, s=3, color=colors[name], alpha=0.9, lw=0, label=name, rasterized=True)
    ax.set(xlabel="x (µm)", ylabel="y (µm)", zlabel="z (µm)")
    ax.zaxis.labelpad = 8
    ax.legend(markerscale=4, fontsize=8, loc="upper left", bbox_to_anchor=(1.05, 1), frameon=False,
              title=f"{label} of the postsynaptic neuron", title_fontsize=8)
    ax.set_title(f"{_title(data)}: {len(idx):,} postsynaptic sites by {label}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_roi_innervation(data: Data, label: str = "cell_class"):
    """Heatmaps of the mean fraction of each class's input and output synapses per ROI.

    ROI and class names are drawn at 8 pt or more; the figure widens with the number of ROIs.
    """
    import seaborn as sns

    r = len(data.roi_names)
    if r == 0:
        raise ValueError("the graph has no ROI information")
    y = data[f"y_{label}"].numpy()
    names = data.label_names[label]
    from ..graph.features import node_features  # raw fractions (data.x is standardised)

    x = node_features(data.edge_index, data.edge_weight, data.edge_roi, data.num_nodes).numpy()
    fin, fout = x[:, 4:4 + r], x[:, 4 + r:4 + 2 * r]
    counts = np.bincount(y[y >= 0], minlength=len(names)).clip(1)[:, None]

    def by_class(f):
        return np.stack([np.bincount(y[y >= 0], weights=f[y >= 0, j], minlength=len(names))
                         for j in range(r)], 1) / counts

    fig, axes = plt.subplots(1, 2, figsize=(max(12, 0.3 * r * 2 + 4), 0.36 * len(names) + 3),
                             sharey=True)
    for ax, f, what in ((axes[0], fin, "input"), (axes[1], fout, "output")):
        sns.heatmap(by_class(f), ax=ax, cmap="viridis", vmin=0, xticklabels=data.roi_names,
                    yticklabels=names, cbar_kws={"label": f"mean fraction of {what} synapses"})
        ax.set(title=f"{what} ROIs", xlabel="ROI", ylabel=label if what == "input" else "")
        ax.tick_params(axis="x", labelsize=8, rotation=90)
        ax.tick_params(axis="y", labelsize=9)
    n_lab = int((y >= 0).sum())
    fig.suptitle(f"{_title(data)}: ROI innervation per {label} (n = {n_lab:,} labelled neurons)")
    fig.tight_layout()
    return fig


def make_graph_figures(data: Data, out_dir: str | Path, label: str = "cell_class") -> list[Path]:
    """Write the graph figures of notebook 02 into ``out_dir`` (names: kind + dataset)."""
    ds = _title(data)
    figs = [("degree_distributions", plot_degree_distributions(data)),
            ("synapses_per_connection", plot_synapses_per_connection(data))]
    if "syn_pos" in data:
        figs.append(("synapses_3d", plot_synapses_3d(data, label)))
    if len(data.roi_names) and label in getattr(data, "label_names", {}):
        figs.append(("roi_innervation", plot_roi_innervation(data, label)))
    paths = []
    for kind, fig in figs:
        paths += save_figure(fig, out_dir, figure_name(kind, ds, label if kind in (
            "synapses_3d", "roi_innervation") else None))
    return paths

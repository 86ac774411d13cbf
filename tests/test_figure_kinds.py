"""Every figure kind, drawn from a small synthetic connectome and real (tiny) saved runs: its
PNG stays within pixel bounds (readable, never thousands of pixels wide), a figure of synthetic
data says "synthetic" in its title, and saving a figure twice gives the same bytes (so that
rerunning the quickstart leaves ``git status`` clean)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import synhelpers.figures.runs as run_figures
from synhelpers.figures import graph as graph_figures
from synhelpers.figures.calibration import plot_reliability
from synhelpers.figures.results import plot_composition, plot_embedding_map, plot_per_class_f1
from synhelpers.figures.save import save_figure
from synhelpers.io import read_json

#: Largest PNG, in pixels (width, height), of every kind; the ROI heatmaps are wider, with
#: two panels of one labelled column per ROI (28 here).
MAX_PIXELS = {"roi_innervation": (2900, 1600)}
DEFAULT_MAX = (1800, 1600)


@pytest.fixture(scope="module")
def runs(graph, graph_dir, tmp_path_factory):
    """A baseline and a 2-seed, 2-epoch sage run of cell class on the test connectome."""
    from synhelpers.train import TrainConfig, run_baseline, run_training

    d = tmp_path_factory.mktemp("runs")
    run_baseline(graph_dir, d / "baseline")
    run_training(graph, TrainConfig(model="sage", task="cell_class", max_epochs=2, min_epochs=1,
                                    seeds=2, progress="none"), d / "sage")
    return d


def _titles(fig) -> str:
    parts = [fig._suptitle.get_text() if fig._suptitle else ""]
    return " | ".join(parts + [ax.get_title() for ax in fig.axes])


def _figures(graph, runs_dir, tables_dir):
    """kind -> figure, as the notebooks and the quickstart draw them."""
    import pandas as pd

    from synhelpers.answers.predict import predict

    sage, base = read_json(runs_dir / "sage" / "metrics.json"), read_json(runs_dir / "baseline" / "metrics.json")
    na = {"model": "original", "not_applicable": True, "seeds": []}
    ablation = {"sage/transductive": sage, "sage/inductive": sage, "baseline/transductive": base,
                "original/transductive": sage, "original/inductive": na}
    dependency = read_json(tables_dir / "synthetic.json")["class_dependency"]
    seven = {f"{m}/{mode}": sage for m in ("sage", "synapse_only", "hybrid", "original")
             for mode in ("transductive", "inductive")}
    seven.pop("synapse_only/inductive")
    predictions = predict(runs_dir / "sage", graph)
    labels = predictions["cell_class__true"].to_numpy()
    xy = np.random.default_rng(0).normal(size=(len(labels), 2))
    ds = sage["dataset"]
    return {
        "degree_distributions": graph_figures.plot_degree_distributions(graph),
        "synapses_per_connection": graph_figures.plot_synapses_per_connection(graph),
        "synapses_3d": graph_figures.plot_synapses_3d(graph),
        "roi_innervation": graph_figures.plot_roi_innervation(graph),
        "ablation": run_figures.plot_ablation(ablation, 0.9, f"Cell class on {ds}"),
        "learning_curves": run_figures.plot_learning_curves(ablation, f"Cell class on {ds}"),
        "confusion": run_figures.plot_confusion(sage, column="cell_class"),
        "run_summary": run_figures.plot_run_summary(base),
        "per_class_f1_held_out": run_figures.plot_per_class_f1(
            seven, dependency, "Per-class F1 on the held-out individual"),
        "per_class_f1": plot_per_class_f1(seven, dependency, "cell_class"),
        "embedding_map": plot_embedding_map(xy, {"cell class": labels, "transmitter": labels},
                                            predictions["split"].to_numpy() == "test",
                                            f"sage (model seed 0) on {ds}", "pca"),
        "reliability": plot_reliability(predictions, "cell_class", title=f"sage on {ds}"),
        "composition": plot_composition(pd.DataFrame(predictions), "cell_class", split="val",
                                        title=f"sage on {ds}"),
    }


@pytest.mark.slow
def test_every_figure_kind_is_readable_and_says_synthetic(graph, synthetic_dir, runs, tmp_path):
    figures = _figures(graph, runs, synthetic_dir)
    for kind, fig in figures.items():
        title = _titles(fig)
        assert "synthetic" in title.lower(), f"{kind}: {title!r}"
        assert "(seed 0) (seed 0)" not in title, kind
        png = save_figure(fig, tmp_path, kind)[0]
        width, height = Image.open(png).size
        max_w, max_h = MAX_PIXELS.get(kind, DEFAULT_MAX)
        assert 300 <= width <= max_w and 250 <= height <= max_h, f"{kind}: {width} x {height} px"


def test_ablation_draws_na_inside_the_axes_and_the_baseline(runs):
    sage, base = read_json(runs / "sage" / "metrics.json"), read_json(runs / "baseline" / "metrics.json")
    fig = run_figures.plot_ablation({"sage/transductive": sage, "baseline/transductive": base,
                                     "original/inductive": {"not_applicable": True, "seeds": []},
                                     "original/transductive": sage}, 0.9)
    ax = fig.axes[0]
    na = [t for t in ax.texts if t.get_text() == "n/a"]
    assert len(na) == 1
    x, _ = na[0].get_position()
    assert ax.get_xlim()[0] < x < ax.get_xlim()[1]
    labels = ax.get_legend_handles_labels()[1]
    assert "baseline (logistic regression)" in labels and any("ceiling" in t for t in labels)


def test_reliability_legend_sits_above_the_bars(runs, graph):
    from synhelpers.answers.predict import predict

    fig = plot_reliability(predict(runs / "sage", graph), "cell_class")
    ax = fig.axes[0]
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.y0 >= ax.get_window_extent().y1 - 1  # outside the axes: it covers no bar


def test_run_summaries_share_the_ceiling_line(runs, tmp_path, monkeypatch):
    """The quickstart's fused-model summary draws the generator ceiling, as the baseline's does:
    a trained run borrows it from the baseline of the same dataset and label column."""
    drawn = {}
    real = run_figures.save_figure

    def keep(fig, out_dir, name):
        drawn[name.split("__")[1]] = [line.get_label() for ax in fig.axes for line in ax.get_lines()]
        return real(fig, out_dir, name)

    monkeypatch.setattr(run_figures, "save_figure", keep)
    assert "ceiling" not in read_json(runs / "sage" / "metrics.json")  # training writes none
    run_figures.make_run_figures(runs, tmp_path)
    assert set(drawn) == {"baseline", "sage"}
    for name, lines in drawn.items():
        assert "generator ceiling (macro-F1)" in lines, name


def test_a_figure_saved_twice_gives_the_same_bytes(graph, tmp_path):
    a = save_figure(graph_figures.plot_synapses_per_connection(graph), tmp_path / "a", "f")
    b = save_figure(graph_figures.plot_synapses_per_connection(graph), tmp_path / "b", "f")
    for x, y in zip(a, b):
        assert x.read_bytes() == y.read_bytes(), x.suffix
    assert b"clipPath" in a[1].read_bytes()  # the ids that used to be random are there


def test_synapse_scatter_tells_classes_and_unlabelled_apart(graph):
    from matplotlib.colors import to_rgb

    fig = graph_figures.plot_synapses_3d(graph)
    ax = fig.axes[0]
    handles, labels = ax.get_legend_handles_labels()
    assert labels[0].startswith("no cell_class")
    unlabelled = ax.collections[0]
    assert len(unlabelled.get_facecolors()) == 0 or unlabelled.get_facecolors()[:, 3].max() == 0  # hollow
    colors = np.array([to_rgb(c.get_facecolors()[0][:3]) for c in ax.collections[1:] if len(c.get_facecolors())])
    distance = np.linalg.norm(colors[:, None] - colors[None], axis=-1)
    np.fill_diagonal(distance, np.inf)
    assert distance.min() > 0.15, "two classes get nearly the same colour"

"""The quick baseline follows the evaluation rules; figures are written as PNG and SVG."""

from __future__ import annotations

import json

import numpy as np

from synhelpers.cli import main
from synhelpers.figures.graph import make_graph_figures
from synhelpers.figures.runs import make_run_figures
from synhelpers.train.baseline import BaselineConfig, fit_quick_baseline, run_baseline
from synhelpers.train.metrics import classification_metrics, summarise_seeds


def test_baseline_never_reads_test_labels(graph):
    """Scrambling the test labels leaves model selection (validation F1) unchanged."""
    cfg = BaselineConfig(c_grid=(0.1, 1.0), max_iter=100)
    a = fit_quick_baseline(graph, cfg)
    g2 = graph.clone()
    y = g2.y_cell_class.clone()
    te = g2.test_mask & (y >= 0)
    y[te] = y[te][np.random.default_rng(0).permutation(int(te.sum()))]
    y[te] = (y[te] + 1) % len(g2.label_names["cell_class"])
    g2.y_cell_class = y
    b = fit_quick_baseline(g2, cfg)
    assert a["best_val_macro_f1"] == b["best_val_macro_f1"] and a["selected_C"] == b["selected_C"]
    assert a["test_accuracy"] != b["test_accuracy"]


def test_run_writes_metrics_with_ceiling(graph_dir, tmp_path):
    r = run_baseline(graph_dir, tmp_path / "run", BaselineConfig(c_grid=(1.0,), max_iter=100))
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m == json.loads(json.dumps(r))
    assert set(m) >= {"model", "task", "config", "seeds", "mean", "std", "ceiling"}
    s = m["seeds"][0]
    assert 0 <= s["test_accuracy"] <= 1 and len(s["test_confusion_matrix"]) == len(m["class_names"])
    assert sum(map(sum, s["test_confusion_matrix"])) == s["test_support"]


def test_metrics_helpers():
    m = classification_metrics([0, 1, 2, 2], [0, 1, 2, 1], ["a", "b", "c"], prefix="test_")
    assert m["test_accuracy"] == 0.75 and m["test_per_class_f1"]["a"] == 1.0
    s = summarise_seeds([{"test_accuracy": 0.5}, {"test_accuracy": 0.7}])
    assert abs(s["mean"]["test_accuracy"] - 0.6) < 1e-12 and s["std"]["test_accuracy"] > 0


def test_figures_png_and_svg(graph, tmp_path, graph_dir):
    paths = make_graph_figures(graph, tmp_path)
    names = {p.name for p in paths}
    ds = "synthetic-300-neurons-seed-1"
    for stem in (f"degree_distributions__{ds}", f"synapses_per_connection__{ds}",
                 f"synapses_3d__{ds}__cell_class", f"roi_innervation__{ds}__cell_class"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names
    assert all(p.stat().st_size > 1000 for p in paths)
    assert "synthetic" in (tmp_path / f"degree_distributions__{ds}.svg").read_text()
    run_baseline(graph_dir, tmp_path / "runs" / "b", BaselineConfig(c_grid=(1.0,), max_iter=100))
    stem = f"run_summary__b__cell_class__{ds}"
    assert [p.name for p in make_run_figures(tmp_path / "runs", tmp_path / "f")] == [
        f"{stem}.png", f"{stem}.svg"]


def test_cli_baseline_and_figures(graph_dir, tmp_path, capsys):
    assert main(["baseline", "--graph", str(graph_dir), "--out", str(tmp_path / "runs" / "q")]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert main(["figures", "--graph", str(graph_dir), "--runs", str(tmp_path / "runs"),
                 "--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "run_summary__q__cell_class__synthetic-300-neurons-seed-1.png").exists()


def test_atomic_writes_have_normal_permissions(tmp_path):
    import os

    from synhelpers.io import write_json

    p = write_json(tmp_path / "m.json", {"a": 1})
    umask = os.umask(0)
    os.umask(umask)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_baseline_records_a_solver_that_stopped_at_max_iter(graph):
    """A C whose lbfgs fit hits ``max_iter`` is listed in the metrics, and nothing is printed."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ConvergenceWarning escaping would fail here
        m = fit_quick_baseline(graph, BaselineConfig(max_iter=1, c_grid=(1.0, 10.0)))
    assert m["not_converged_C"] == [1.0, 10.0]
    assert fit_quick_baseline(graph, BaselineConfig(max_iter=5000, c_grid=(1.0,)))["not_converged_C"] == []


def test_baseline_fits_given_features_with_the_same_selection(graph):
    """``features=`` replaces the baseline's own features (benchmarks probe other feature sets):
    a one-hot of the labels themselves must score perfectly, the default features do not."""
    y = graph.y_cell_class.numpy()
    onehot = np.eye(int(y.max()) + 2)[y]  # -1 (masked) gets the last column
    given = fit_quick_baseline(graph, BaselineConfig(), features=onehot)
    assert given["test_macro_f1"] == 1.0
    assert fit_quick_baseline(graph, BaselineConfig())["test_macro_f1"] < 1.0

"""The few-labels protocol: a stratified, seeded label budget on the training split, saved with
the split (``split.parquet`` column ``labelled``) and honoured when the graph is loaded."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from synhelpers.graph.split import apply_label_budget, label_budget, make_split, split_frame


def _labels(seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(6, size=2000, p=[0.4, 0.3, 0.15, 0.1, 0.04, 0.01])
    y[rng.random(2000) < 0.05] = -1
    split = make_split(y, seed=seed)
    return y, split == 0


@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.5, 1.0])
def test_fraction_is_stratified_and_within_the_labelled_training_split(fraction):
    y, train = _labels()
    lab = label_budget(y, train, fraction=fraction, seed=3)
    assert not (lab & ~(train & (y >= 0))).any()
    pool = np.bincount(y[train & (y >= 0)], minlength=6)
    got = np.bincount(y[lab], minlength=6)
    np.testing.assert_array_equal(got, np.maximum(1, np.floor(fraction * pool + 0.5)))


def test_per_class_caps_at_what_a_class_has():
    y, train = _labels()
    lab = label_budget(y, train, per_class=3, seed=0)
    assert np.bincount(y[lab], minlength=6).tolist() == [3] * 6
    pool = np.bincount(y[train & (y >= 0)], minlength=6)
    big = label_budget(y, train, per_class=100, seed=0)
    np.testing.assert_array_equal(np.bincount(y[big], minlength=6), np.minimum(100, pool))


def test_seeded_nested_and_seed_dependent():
    y, train = _labels()
    a = label_budget(y, train, fraction=0.05, seed=1)
    assert np.array_equal(a, label_budget(y, train, fraction=0.05, seed=1))
    assert not np.array_equal(a, label_budget(y, train, fraction=0.05, seed=2))
    bigger = label_budget(y, train, fraction=0.2, seed=1)
    assert not (a & ~bigger).any()  # a smaller budget is a subset of a larger one, same seed


def test_bad_budgets_are_refused():
    y, train = _labels()
    for kw in ({}, {"fraction": 0.1, "per_class": 2}, {"fraction": 0.0}, {"fraction": 1.5},
               {"per_class": 0}):
        with pytest.raises(ValueError, match="label_budget"):
            label_budget(y, train, **kw)


def test_budget_leaves_validation_and_test_untouched_and_round_trips(graph, graph_dir, tmp_path):
    from synhelpers.graph import load_graph
    from synhelpers.io import write_parquet

    y = graph.y_cell_class.numpy()
    lab = label_budget(y, graph.train_mask.numpy(), per_class=2, seed=0)
    few = apply_label_budget(graph, lab)
    assert few.train_mask.sum() == lab.sum() < graph.train_mask.sum()
    for m in ("val_mask", "test_mask"):
        assert bool((few[m] == graph[m]).all())
    assert graph.train_mask.sum() > few.train_mask.sum()  # the original is not modified
    frame = split_frame(few)
    assert frame["labelled"].to_numpy().tolist() == lab.tolist()
    assert (frame["split"] == "train").sum() == graph.train_mask.sum()  # the split is unchanged
    copy = tmp_path / "graph"
    shutil.copytree(graph_dir, copy)
    write_parquet(frame, copy / "split.parquet")
    back = load_graph(copy)
    assert bool((back.train_mask == few.train_mask).all())
    assert bool((back.labelled_mask.numpy() == lab).all())
    assert bool((back.val_mask == graph.val_mask).all())


def test_baseline_cli_takes_a_label_budget_and_saves_it(graph, graph_dir, tmp_path):
    import pandas as pd

    from synhelpers.cli import main
    from synhelpers.io import read_json

    out = tmp_path / "b"
    assert main(["baseline", "--graph", str(graph_dir), "--out", str(out), "--labels-per-class", "2"]) == 0
    saved = pd.read_parquet(out / "splits" / "split0.parquet")
    y = graph.y_cell_class.numpy()
    assert set(pd.Series(y[saved["labelled"].to_numpy()]).value_counts()) == {2}
    assert (saved["split"] == "train").sum() == graph.train_mask.sum()
    assert read_json(out / "metrics.json")["config"]["labels_per_class"] == 2
    for bad in (["--labelled", "0"], ["--labelled", "0.1", "--labels-per-class", "2"]):
        with pytest.raises(SystemExit):
            main(["baseline", "--graph", str(graph_dir), "--out", str(out), *bad])

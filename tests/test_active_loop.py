"""Active learning, integrated: the simulation loop (labels revealed from the training pool
only, warm starts, shared round 0, reuse of saved seeds) and the ``suggest`` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from synhelpers.answers import active_loop
from synhelpers.answers.active_loop import ActiveConfig, labels_to_reach, round_graph, simulate
from synhelpers.drivers import active_task
from synhelpers.testing.random_graph import make_random_graph

FAST = dict(seeds=1, rounds=2, batch=4, max_epochs=4, min_epochs=1, patience=2, mc_samples=3,
            num_threads=1, model_overrides={"hidden": 16})


@pytest.fixture(scope="module")
def graph():
    return make_random_graph(num_nodes=90, num_edges=400, seed=3)


def test_round_graph_hides_every_label_but_labelled_and_validation(graph):
    labelled = graph.train_mask & (torch.arange(graph.num_nodes) % 3 == 0)
    g = round_graph(graph, labelled, "cell_class")
    visible = g.y_cell_class >= 0
    assert not (visible & graph.test_mask).any()
    assert not (visible & graph.train_mask & ~labelled).any()
    assert torch.equal(g.train_mask, labelled)
    assert torch.equal(g.y_cell_class[graph.val_mask], graph.y_cell_class[graph.val_mask])
    assert (graph.y_cell_class[graph.test_mask] >= 0).any()  # the original is untouched


def test_simulation_reveals_batches_from_the_training_pool(graph, monkeypatch):
    revealed = []
    real = active_loop.reveal
    monkeypatch.setattr(active_loop, "reveal",
                        lambda lab, picked: revealed.append(np.asarray(picked)) or real(lab, picked))
    cfg = ActiveConfig(**FAST)
    df = simulate(graph, cfg)
    assert set(df.strategy) == {*cfg.strategies, "supervised"}
    pool = graph.train_mask & (graph.y_cell_class >= 0)
    assert df.loc[df.strategy == "supervised", "labels"].tolist() == [int(pool.sum())]
    for s in cfg.strategies:
        labels = df.loc[df.strategy == s].sort_values("round")["labels"].tolist()
        assert len(labels) == cfg.rounds + 1 and np.all(np.diff(labels) == cfg.batch)
    picked = np.concatenate(revealed)
    assert len(revealed) == len(cfg.strategies) * cfg.rounds
    assert pool[torch.as_tensor(picked)].all()  # never a validation, test or unlabelled neuron
    first = df[df["round"] == 0]
    assert first["test_macro_f1"].nunique() == 1 and first["labels"].nunique() == 1  # shared round 0
    assert simulate(graph, cfg).equals(df)  # deterministic


def test_warm_start_continues_from_the_previous_round(graph, monkeypatch):
    """Each round trains through the one Lightning module; round 1 starts from the weights
    round 0 ended with (its best), which training had changed."""
    starts, ends = [], []
    real = active_loop.fit_quietly

    def spy(trainer, module, datamodule):
        starts.append({k: v.clone() for k, v in module.state_dict().items()})
        out = real(trainer, module, datamodule)
        ends.append({k: v.clone() for k, v in module.state_dict().items()})
        return out

    monkeypatch.setattr(active_loop, "fit_quietly", spy)
    cfg = ActiveConfig(**{**FAST, "strategies": ("random",), "max_epochs": 15, "patience": 15})
    active_loop.simulate_seed(graph, cfg, 0)
    assert all(torch.equal(starts[1][k], ends[0][k]) for k in starts[1])
    assert not all(torch.equal(starts[0][k], ends[0][k]) for k in starts[0])


def test_labels_to_reach_uses_the_mean_curve_and_the_supervised_mean():
    df = pd.DataFrame({
        "strategy": ["supervised"] * 2 + ["margin"] * 4 + ["random"] * 4,
        "seed": [0, 1] + [0, 0, 1, 1] * 2, "labels": [100, 100] + [10, 20] * 4,
        "test_macro_f1": [0.8, 1.0, 0.5, 0.9, 0.7, 0.95, 0.2, 0.5, 0.9, 0.95]})
    r = labels_to_reach(df, 0.9).set_index("strategy")
    assert r.loc["margin", "target"] == pytest.approx(0.81)
    assert r.loc["margin", "labels_needed"] == 20 and r.loc["margin", "per_seed"] == [20.0, 20.0]
    assert np.isnan(r.loc["random", "labels_needed"]) and r.loc["random", "per_seed"][1] == 10.0


def test_saved_seeds_are_reused(graph, tmp_path, monkeypatch):
    cfg = ActiveConfig(**{**FAST, "strategies": ("margin", "random"), "rounds": 1})
    first = active_task.run_active(graph, cfg, tmp_path, verbose=False)
    monkeypatch.setattr(active_task, "simulate", lambda *a, **k: pytest.fail("not reused"))
    again = active_task.run_active(graph, cfg, tmp_path, verbose=False)
    pd.testing.assert_frame_equal(first.curves, again.curves)
    assert set(again.reach.strategy) == {"margin", "random"}
    monkeypatch.undo()
    other = active_task.run_active(graph, ActiveConfig(**{**FAST, "strategies": ("random",),
                                                         "rounds": 1}), tmp_path, verbose=False)
    assert set(other.curves.strategy) == {"random", "supervised"}  # settings changed: rerun
    fig = active_task.plot_active_curves(other)
    assert fig.axes[0].get_xlabel() == "labelled neurons"


@pytest.fixture(scope="module")
def trained_run(graph_dir, tmp_path_factory):
    from synhelpers.cli import main

    out = tmp_path_factory.mktemp("run") / "hybrid"
    assert main(["train", "--data", str(graph_dir), "--out", str(out), "--label", "cell_class",
                 "--max-epochs", "2", "--min-epochs", "1", "--threads", "2", "--quiet",
                 "--set", "hidden=16", "--set", "set_size=8", "--set", "cloud_size=8"]) == 0
    return out


@pytest.mark.parametrize("strategy", ["margin", "entropy", "bald", "coreset", "random"])
def test_suggest_cli_writes_ranked_unlabelled_neurons(trained_run, graph_dir, tmp_path, strategy):
    from synhelpers.cli import main
    from synhelpers.graph import load_graph

    out = tmp_path / "next.csv"
    assert main(["suggest", "--run", str(trained_run), "--n", "7", "--strategy", strategy,
                 "--out", str(out), "--mc-samples", "3"]) == 0
    table = pd.read_csv(out)
    assert list(table.columns[:6]) == ["rank", "bodyId", "connectome", "score", "prediction",
                                       "probability"]
    data = load_graph(graph_dir)
    unlabelled = set(data.body_id[data.y_cell_class < 0].tolist())
    assert len(table) == min(7, len(unlabelled)) and set(table.bodyId) <= unlabelled
    assert table["rank"].tolist() == list(range(1, len(table) + 1)) and table.bodyId.is_unique
    assert (np.diff(table.score) <= 1e-12).all()
    if strategy == "coreset":
        assert (table.nearest_labelled_bodyId > 0).all() and (table.nearest_labelled_distance >= 0).all()


def test_suggest_refuses_another_graph(trained_run, tmp_path):
    from synhelpers.answers.suggest import suggest
    from synhelpers.errors import RunError

    with pytest.raises(RunError, match="differs from the one the run was trained on"):
        suggest(trained_run, data=make_random_graph(num_nodes=40, num_edges=100, seed=0))


def test_suggest_needs_no_lightning():
    """``suggest`` reloads runs through ``load_run``: importing Lightning (and through it
    torchmetrics and scipy) tripled its time on 2 cores."""
    import importlib.util

    # with numba installed (the optional `bench` extra brings it, for NTAC), PyG imports numba
    # and numba imports scipy: not ours to avoid, so scipy is only checked without numba
    heavy = ("lightning", "torchmetrics") + (() if importlib.util.find_spec("numba") else ("scipy",))
    code = ("import sys, synhelpers.answers.suggest; "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"

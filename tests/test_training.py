"""Training: metrics.json schema, no test-label leakage, determinism, inductive mode, CLI."""

from __future__ import annotations

import argparse

import pytest
import torch

from synhelpers.io import read_json
from synhelpers.testing.random_graph import TINY_MODEL, make_random_graph
from synhelpers.train import run as run_mod
from synhelpers.train.config import TrainConfig
from synhelpers.train.module import hide_test_labels
from synhelpers.train.run import run_training

SMALL = TINY_MODEL


@pytest.fixture(scope="module")
def graph():
    return make_random_graph(num_nodes=60, num_edges=240, seed=2)


def cfg(**kw):
    base = dict(model="hybrid", task="cell_class", max_epochs=4, patience=10, seeds=1,
                num_threads=2, model_overrides=SMALL)
    base.update(kw)
    return TrainConfig(**base)


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_metrics_json_schema(graph, tmp_path):
    res = run_training(graph, cfg(seeds=2, task="both"), tmp_path)
    saved = read_json(tmp_path / "metrics.json")
    assert saved["model"] == "hybrid" and saved["task"] == "both" and saved["config"]["seeds"] == 2
    assert [s["seed"] for s in saved["seeds"]] == [0, 1]
    for s in saved["seeds"]:
        for key in ("test_accuracy", "test_macro_f1", "test_balanced_accuracy", "best_val_macro_f1"):
            assert 0.0 <= s[key] <= 1.0
        assert s["test_evaluations"] == 1
        assert s["epoch_time_s"] > 0 and s["peak_memory_mb"] > 0 and s["device"]
        for c in ("cell_class", "predictedNt"):
            t = s["per_task"][c]
            assert len(t["confusion_matrix"]) == len(graph.label_names[c])
            assert all(0 <= v <= 1 for v in t["per_class_f1"].values())
        assert (tmp_path / s["checkpoint"]).exists()
    for key in ("test_macro_f1", "test_accuracy", "epoch_time_s"):
        assert key in saved["mean"] and key in saved["std"]
    assert any((tmp_path / "tb").rglob("events.out.tfevents.*"))
    assert res["mean"] == saved["mean"]


def test_hidden_labels_never_include_test(graph):
    g = hide_test_labels(graph, ["cell_class", "predictedNt"])
    assert (g.y_cell_class[graph.test_mask] == -1).all()
    assert torch.equal(g.y_cell_class[~graph.test_mask], graph.y_cell_class[~graph.test_mask])
    assert (graph.y_cell_class[graph.test_mask] >= 0).any()  # the original is untouched


def test_no_test_label_leakage(graph, tmp_path, monkeypatch):
    """Corrupting test labels changes nothing in training, validation or selection."""
    calls = []
    real = run_mod.evaluate_test
    monkeypatch.setattr(run_mod, "evaluate_test", lambda *a, **k: calls.append(1) or real(*a, **k))
    a = run_training(graph, cfg(max_epochs=6), tmp_path / "a")
    corrupted = graph.clone()
    y = corrupted.y_cell_class.clone()
    t = graph.test_mask
    y[t] = (y[t] + 1) % len(graph.label_names["cell_class"])  # every test label wrong
    corrupted.y_cell_class = y
    b = run_training(corrupted, cfg(max_epochs=6), tmp_path / "b")
    assert calls == [1, 1]  # the test split is evaluated exactly once per seed
    sa, sb = a["seeds"][0], b["seeds"][0]
    assert sa["history"] == sb["history"]  # train loss, val loss, val macro-F1: bit-identical
    assert sa["best_val_macro_f1"] == sb["best_val_macro_f1"] and sa["best_epoch"] == sb["best_epoch"]
    wa, wb = _state(tmp_path / "a" / sa["checkpoint"]), _state(tmp_path / "b" / sb["checkpoint"])
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # ... while the test metrics do see the corrupted labels (so the check can fail)
    assert sa["test_confusion_matrix"] != sb["test_confusion_matrix"]


def test_determinism_fixed_seed(graph, tmp_path):
    a = run_training(graph, cfg(max_epochs=3), tmp_path / "a")["seeds"][0]
    b = run_training(graph, cfg(max_epochs=3), tmp_path / "b")["seeds"][0]
    assert a["history"] == b["history"] and a["test_macro_f1"] == b["test_macro_f1"]
    wa, wb = _state(tmp_path / "a" / a["checkpoint"]), _state(tmp_path / "b" / b["checkpoint"])
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_retraining_replaces_old_events_and_checkpoint(graph, tmp_path):
    run_training(graph, cfg(max_epochs=2, model="mlp"), tmp_path)
    run_training(graph, cfg(max_epochs=3, model="mlp"), tmp_path, overwrite=True)
    assert len(list((tmp_path / "tb" / "seed0").glob("events*"))) == 1
    assert sorted(p.name for p in (tmp_path / "seed0").iterdir()) == ["best.ckpt", "result.json"]


def test_inductive_mode(graph, tmp_path):
    res = run_training(graph, cfg(mode="inductive", max_epochs=3, task="nt"), tmp_path / "ind")
    s = res["seeds"][0]
    assert res["mode"] == "inductive" and 0 <= s["test_macro_f1"] <= 1
    na = run_training(graph, cfg(model="original", mode="inductive"), tmp_path / "orig")
    assert "not_applicable" in na and na["seeds"] == []
    assert read_json(tmp_path / "orig" / "metrics.json")["not_applicable"]


def _parser():
    from synhelpers.train import cli

    p = argparse.ArgumentParser()
    cli.register(p.add_subparsers(dest="command", required=True))
    return p


def test_cli_models(capsys):
    args = _parser().parse_args(["models"])
    assert args.func(args) in (0, None)
    out = capsys.readouterr().out
    assert "hybrid" in out and "original" in out and "transductive only" in out


def test_cli_train(graph, tmp_path, capsys):
    from synhelpers.graph import save_graph

    gdir = tmp_path / "graph"
    graph.dataset_name = "random"
    graph.label_info = {}
    save_graph(graph, gdir)
    out = tmp_path / "run"
    argv = ["train", "--data", str(gdir), "--task", "nt", "--model", "mlp", "--seeds", "2",
            "--out", str(out), "--max-epochs", "3"]
    args = _parser().parse_args(argv)
    assert args.func(args) == 0
    m = read_json(out / "metrics.json")
    assert m["model"] == "mlp" and m["task"] == "nt" and len(m["seeds"]) == 2
    assert "test macro-F1" in capsys.readouterr().out


def test_main_cli_entry_point(graph, tmp_path, capsys):
    """`python -m synhelpers models` and `... train` through the project's own entry point."""
    import subprocess
    import sys

    from synhelpers.cli import main
    from synhelpers.graph import save_graph

    out = subprocess.run([sys.executable, "-m", "synhelpers", "models"], capture_output=True,
                         text=True, check=True).stdout
    assert "synapse_only" in out
    graph.dataset_name = "random"
    graph.label_info = {}
    save_graph(graph, tmp_path / "g")
    rc = main(["train", "--data", str(tmp_path / "g"), "--task", "both", "--model", "sage",
               "--seeds", "1", "--max-epochs", "2", "--out", str(tmp_path / "run")])
    assert rc == 0 and (tmp_path / "run" / "metrics.json").exists()


def test_aux_view_heads_add_to_the_training_loss_only(graph):
    """loss = CE(fused) + aux_weight * (CE(wiring head) + CE(synapse head)), through the one
    training step that every mode uses; validation and test see the fused head alone."""
    import torch.nn.functional as F

    from synhelpers.models import ModelConfig
    from synhelpers.train.module import NodeClassifier, label_mask

    tc = cfg(aux_weight=0.25)
    mc = ModelConfig.from_data(graph, ["cell_class"], **SMALL)
    module = NodeClassifier("hybrid", mc, tc, ["cell_class"])
    torch.manual_seed(0)
    module.train()
    out = module(graph)
    assert list(out) == ["cell_class"] and sorted(out.aux) == ["synapse", "wiring"]
    m = label_mask(graph, "cell_class", "train")
    y = graph.y_cell_class[m]
    expect = F.cross_entropy(out["cell_class"][m], y) + 0.25 * (
        F.cross_entropy(out.aux["wiring"]["cell_class"][m], y)
        + F.cross_entropy(out.aux["synapse"]["cell_class"][m], y))
    torch.manual_seed(0)
    assert torch.allclose(module.training_step(graph, 0), expect)
    module.eval()
    assert list(module(graph)) == ["cell_class"] and module(graph).aux == {}


def test_saved_runs_are_reused_only_for_the_same_graph(graph, tmp_path, capsys):
    from synhelpers.drivers.ablation import run_ablation

    kw = dict(seeds=1, max_epochs=2, patience=5, num_threads=2, model_overrides=SMALL, verbose=True)
    run_ablation(graph, tmp_path, "cell_class", ["mlp"], **kw)
    run_ablation(graph, tmp_path, "cell_class", ["mlp"], **kw)
    assert "reused" in capsys.readouterr().out
    other = make_random_graph(num_nodes=60, num_edges=240, seed=3)  # same shapes, other graph
    run_ablation(other, tmp_path, "cell_class", ["mlp"], **kw)
    out = capsys.readouterr().out
    assert "trained" in out and "reused" not in out


@pytest.mark.parametrize("key", ["x", "edge_index", "syn_pos", "site_pos", "y_cell_class", "test_mask"])
def test_graph_fingerprint_sees_every_tensor_a_model_reads(graph, key):
    import copy

    from synhelpers.graph import graph_fingerprint

    assert graph_fingerprint(graph) == graph_fingerprint(copy.copy(graph))
    changed = copy.copy(graph)
    t = graph[key].clone()
    t.view(-1)[0] = t.view(-1)[1] if key != "test_mask" else ~t.view(-1)[0]
    if torch.equal(t, graph[key]):
        t.view(-1)[0] += 1
    changed[key] = t
    assert graph_fingerprint(changed) != graph_fingerprint(graph)


def test_train_prints_one_line_per_epoch_by_default_and_none_with_quiet(graph, tmp_path, capsys):
    """Issue 8: epoch, losses, validation macro-F1 and time on one line per epoch, outside
    Jupyter, unless ``--quiet``."""
    from synhelpers.graph import save_graph

    graph.dataset_name = "random"
    graph.label_info = {}
    save_graph(graph, tmp_path / "g")
    argv = ["train", "--data", str(tmp_path / "g"), "--model", "mlp", "--seeds", "1",
            "--max-epochs", "3", "--min-epochs", "3"]
    args = _parser().parse_args([*argv, "--out", str(tmp_path / "talk")])
    assert args.func(args) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "val macro-F1 " in ln]
    assert len(lines) == 3, lines
    for i, ln in enumerate(lines):
        assert f"epoch {i:>3}/3" in ln and "loss " in ln and ln.endswith(" s")
    args = _parser().parse_args([*argv, "--out", str(tmp_path / "quiet"), "--quiet"])
    assert args.func(args) == 0
    assert "val macro-F1 " not in capsys.readouterr().out

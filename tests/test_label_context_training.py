"""Label context as a model input, the honest way: the label trick in the one training step,
training labels only at validation, test and answer time, in full-graph and mini-batch mode."""

from __future__ import annotations

import pytest
import torch

from synhelpers.answers.predict import predict
from synhelpers.models import ModelConfig
from synhelpers.testing.random_graph import TINY_MODEL
from synhelpers.train.config import TrainConfig
from synhelpers.train.module import NodeClassifier, train_class_counts
from synhelpers.train.run import run_training

COLUMNS = ["cell_class"]


def _cfg(**kw):
    base = dict(model="sage", labels=tuple(COLUMNS), seeds=1, max_epochs=2, min_epochs=1,
                num_threads=1, model_overrides=TINY_MODEL, progress="none", label_context=True)
    base.update(kw)
    return TrainConfig(**base)


def _module(graph, **kw):
    from synhelpers.graph.label_context import with_label_context

    shape = with_label_context(graph, COLUMNS, torch.zeros_like(graph.train_mask))
    mc = ModelConfig.from_data(shape, COLUMNS, **TINY_MODEL)
    counts = {"cell_class": train_class_counts(graph, "cell_class").tolist()}
    return NodeClassifier("sage", mc, _cfg(**kw), COLUMNS, counts, val_graph=graph)


def _step_inputs(module, graph, seed=0):
    torch.manual_seed(seed)
    return module._training_inputs(graph)


def test_a_targets_own_label_never_reaches_its_inputs(graph):
    module = _module(graph)
    x, mask = _step_inputs(module, graph)
    target = int(torch.nonzero(mask & (graph.y_cell_class >= 0)).flatten()[0])
    flipped = graph.clone()
    y = flipped.y_cell_class.clone()
    y[target] = (y[target] + 1) % len(graph.label_names["cell_class"])
    flipped.y_cell_class = y
    x2, mask2 = _step_inputs(module, flipped)
    assert torch.equal(mask, mask2) and bool(mask2[target])  # still a target of the loss
    assert torch.equal(x.x, x2.x)  # no row changed: not its own, not a neighbour's (two hops)
    module.eval()
    assert torch.equal(module(x)["cell_class"][target], module(x2)["cell_class"][target])


def test_a_label_input_is_not_a_target_and_does_reach_its_partners(graph):
    module = _module(graph)
    x, mask = _step_inputs(module, graph)
    labelled = graph.train_mask & (graph.y_cell_class >= 0)
    inputs = labelled & ~mask
    assert inputs.any() and (mask & labelled).any()
    i = int(torch.nonzero(inputs).flatten()[0])
    flipped = graph.clone()
    y = flipped.y_cell_class.clone()
    y[i] = (y[i] + 1) % len(graph.label_names["cell_class"])
    flipped.y_cell_class = y
    x2, _ = _step_inputs(module, flipped)
    changed = (x.x != x2.x).any(1)
    assert changed.any() and not bool(changed[i])  # its partners see it; its own row does not


def test_validation_and_test_labels_are_never_context(graph):
    module = _module(graph)
    corrupted = graph.clone()
    y = corrupted.y_cell_class.clone()
    other = graph.val_mask | graph.test_mask
    y[other] = (y[other] + 1) % len(graph.label_names["cell_class"])
    corrupted.y_cell_class = y
    assert torch.equal(_step_inputs(module, graph)[0].x, _step_inputs(module, corrupted)[0].x)
    assert torch.equal(module.with_context(graph).x, module.with_context(corrupted).x)


@pytest.mark.parametrize("batch_size", [None, 16], ids=["full-graph", "mini-batch"])
def test_runs_train_and_answer_with_label_context(graph, tmp_path, batch_size):
    res = run_training(graph, _cfg(batch_size=batch_size), tmp_path)
    seed = res["seeds"][0]
    assert seed["test_evaluations"] == 1 and 0.0 <= seed["test_macro_f1"] <= 1.0
    df = predict(tmp_path, graph)
    assert df.attrs["synhelpers"]["label_context"].startswith("the labelled training neurons")
    assert len(df) == graph.num_nodes


def test_a_label_budget_is_saved_with_the_run_and_matches_the_baseline(graph, tmp_path):
    import pandas as pd

    run_training(graph, _cfg(label_context=False, labels_per_class=2), tmp_path)
    split = pd.read_parquet(tmp_path / "splits" / "split0.parquet")
    kept = split[split["labelled"] & (split["split"] == "train")]
    assert 0 < len(kept) <= 2 * len(graph.label_names["cell_class"])

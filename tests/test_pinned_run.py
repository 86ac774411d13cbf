"""A fixed-seed run gives the numbers it gave before the training path was unified (one module
and one training step for every mode): the refactor changed no number of a full-graph run.

The numbers were recorded with the code of commit efc70e2 (separate full-graph and mini-batch
modules) on the CPU, one thread, deterministic algorithms on; the same code path now gives them
through the unified step. A change of torch or of the model that changes them must say so and
re-pin them here.
"""

from __future__ import annotations

import pytest
import torch

from synhelpers import (
    GraphConfig,
    SyntheticConfig,
    TrainConfig,
    build_cached,
    run_training,
    write_synthetic,
)

PINNED = {  # model -> (val macro-F1 per epoch, best epoch, test macro-F1, test accuracy)
    "hybrid": ([0.043402777777777776, 0.13261363636363638, 0.21450892857142856,
                0.3280448717948718, 0.3274496336996337, 0.5001623376623376],
               5, 0.2672161172161172, 0.5116279069767442),
    "sage": ([0.07709719142645972, 0.21524725274725276, 0.22002719502719503,
              0.3143368886015945, 0.3370684523809524, 0.49249999999999994],
             5, 0.4346255596255596, 0.6511627906976745),
}


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    root = tmp_path_factory.mktemp("pinned")
    write_synthetic(SyntheticConfig(n_neurons=300, seed=0), root / "tables")
    return build_cached(root / "tables", root / "graph", GraphConfig(min_class_count=5))


@pytest.mark.parametrize("model", sorted(PINNED))
def test_a_fixed_seed_run_gives_its_pinned_numbers(graph, tmp_path, model):
    threads = torch.get_num_threads()
    cfg = TrainConfig(model=model, labels=("cell_class",), seeds=1, max_epochs=6, min_epochs=1,
                      patience=30, progress="none", num_threads=1, deterministic=True)
    try:
        seed = run_training(graph, cfg, tmp_path)["seeds"][0]
    finally:
        torch.set_num_threads(threads)
    curve, best_epoch, test_f1, test_acc = PINNED[model]
    assert seed["history"]["val_macro_f1"] == pytest.approx(curve, rel=1e-9, abs=1e-12)
    assert seed["best_epoch"] == best_epoch
    assert seed["test_macro_f1"] == pytest.approx(test_f1, rel=1e-12)
    assert seed["test_accuracy"] == pytest.approx(test_acc, rel=1e-12)

"""``predict --new-connectome`` scores on the run's vocabulary (issue 21): a class the run knows
is scored on a new connectome even where it has fewer neurons there than ``min_class_count``,
and the score agrees with a graph built with ``--test-connectome`` on the same neurons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synhelpers.answers.predict import predict
from synhelpers.answers.predict import test_scores as scores
from synhelpers.graph import GraphConfig, build_cached
from synhelpers.tables.contract import load_tables
from synhelpers.tables.synthetic import SyntheticConfig, write_individuals

MIN = 10  # the builder's default minimum class count


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two individuals; in the second, one class keeps only 3 labelled neurons (below MIN
    there, but known to a run trained on both); a run trained with the second held out."""
    from synhelpers.train import TrainConfig, run_training

    root = tmp_path_factory.mktemp("newcon")
    a, b = write_individuals(SyntheticConfig(n_neurons=300, seed=5), 2, root)
    neurons = pd.read_parquet(b / "neurons.parquet")
    counts = neurons["cell_class"].value_counts()
    rare = str(counts.index[counts >= MIN][0])
    rows = np.flatnonzero(neurons["cell_class"].to_numpy() == rare)[3:]
    neurons.loc[rows, "cell_class"] = None
    neurons.to_parquet(b / "neurons.parquet", index=False)  # the user's edit of the tables
    (b / ".synhelpers.json").unlink(missing_ok=True)  # now the user's own tables
    for f in ("synthetic.json",):
        (b / f).unlink(missing_ok=True)
    held = load_tables(b).name
    union = build_cached([a, b], root / "union", GraphConfig(labels=("cell_class",),
                                                             test_connectome=held))
    cfg = TrainConfig(model="mlp", labels=("cell_class",), mode="inductive", seeds=1,
                      max_epochs=3, min_epochs=1, num_threads=1, progress="none",
                      model_overrides={"hidden": 16})
    run_training(union, cfg, root / "run")
    return root, b, rare


def test_a_class_the_run_knows_is_scored_on_a_new_connectome(world):
    root, b, rare = world
    df = predict(root / "run", b, new_connectome=True)
    rows = df["cell_class__true"] == rare
    assert rows.sum() == 3 and (df.loc[rows, "split"] == "test").all()
    assert rare in df.attrs["synhelpers"]["label_names"]["cell_class"]
    _, n = scores(df, df.attrs["synhelpers"]["label_names"])["cell_class"]
    labelled = pd.read_parquet(b / "neurons.parquet")["cell_class"].notna().sum()
    assert n == labelled  # every labelled neuron of a class the run knows is scored


def test_new_connectome_score_agrees_with_test_connectome(world):
    root, b, _ = world
    held = predict(root / "run", root / "union")
    new = predict(root / "run", b, new_connectome=True)
    classes = held.attrs["synhelpers"]["label_names"]
    f1_held, n_held = scores(held, classes)["cell_class"]
    f1_new, n_new = scores(new, classes)["cell_class"]
    assert n_new == n_held
    assert f1_new == pytest.approx(f1_held, abs=1e-9)

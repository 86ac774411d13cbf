"""Result figures (notebook 06) and the expected calibration error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synhelpers.answers.prediction_table import fake_predictions
from synhelpers.figures.calibration import (
    expected_calibration_error,
    plot_reliability,
    reliability_bins,
)
from synhelpers.figures.results import (
    per_class_f1_table,
    plot_composition,
    plot_embedding_map,
    plot_per_class_f1,
    project_2d,
)
from synhelpers.figures.save import figure_name, save_figure


def test_ece_of_a_hand_example():
    # bin (0, .5]: probabilities .3 and .4, one right -> |0.5 - 0.35| = 0.15, half the neurons
    # bin (.5, 1]: probabilities .8 and .9, both right -> |1.0 - 0.85| = 0.15, half the neurons
    conf, ok = [0.3, 0.4, 0.8, 0.9], [True, False, True, True]
    assert expected_calibration_error(conf, ok, n_bins=2) == pytest.approx(0.15)
    bins = reliability_bins(conf, ok, n_bins=2)
    assert bins["count"].tolist() == [2, 2]
    assert bins["accuracy"].tolist() == [0.5, 1.0]
    assert bins["confidence"].tolist() == pytest.approx([0.35, 0.85])


def test_ece_is_zero_when_calibrated_and_bins_are_right_closed():
    conf = np.repeat([0.25, 0.75], 4)
    ok = np.array([1, 0, 0, 0, 1, 1, 1, 0], bool)  # 25 % and 75 % right
    assert expected_calibration_error(conf, ok, n_bins=4) == pytest.approx(0.0)
    bins = reliability_bins([0.0, 0.5, 1.0], [True, True, True], n_bins=2)
    assert bins["count"].tolist() == [2, 1]  # 0 and 0.5 in (0, .5]; 1.0 in (.5, 1]
    assert np.isnan(reliability_bins([0.9], [True], n_bins=2)["accuracy"].iloc[0])
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        reliability_bins([1.5], [True])


@pytest.fixture(scope="module")
def predictions():
    rng = np.random.default_rng(0)
    classes = np.array(["KC", "MBON", "DAN", "ALPN"], dtype=object)
    n = 120
    neurons = pd.DataFrame({"bodyId": np.arange(n) + 1000,
                            "cell_class": np.where(rng.random(n) < 0.1, None, classes[rng.integers(0, 4, n)]),
                            "predictedNt": np.array(["ach", "gaba"], dtype=object)[rng.integers(0, 2, n)]})
    return fake_predictions(neurons, ["cell_class", "predictedNt"], accuracy=0.7)


def _runs():
    def seed(s, f1):
        return {"seed": s, "per_task": {"cell_class": {"per_class_f1": f1}}}

    return {"sage/transductive": {"seeds": [seed(0, {"KC": 0.9, "MBON": 0.5, "DAN": None}),
                                            seed(1, {"KC": 0.8, "MBON": 0.7, "DAN": 0.2})]},
            "hybrid/transductive": {"seeds": [seed(0, {"KC": 1.0, "MBON": 0.9, "DAN": 0.6})]}}


def test_per_class_f1_table_leaves_out_absent_classes():
    t = per_class_f1_table(_runs())
    assert len(t) == 8 and not ((t["run"] == "sage/transductive") & (t["seed"] == 0)
                                & (t["cls"] == "DAN")).any()
    mean = t.groupby(["run", "cls"])["f1"].mean()
    assert mean["sage/transductive", "MBON"] == pytest.approx(0.6)


def test_every_result_figure_writes_png_and_svg(predictions, tmp_path):
    dependency = {"KC": "both", "MBON": "wiring", "DAN": "synapse"}
    x = np.random.default_rng(1).normal(size=(len(predictions), 8))
    xy = project_2d(x, "pca")
    assert xy.shape == (len(predictions), 2)
    figures = {
        "embedding_map": plot_embedding_map(
            xy, {"cell class": predictions["cell_class__true"].to_numpy(),
                 "transmitter": predictions["predictedNt__true"].to_numpy()},
            predictions["split"].to_numpy() == "test", "fake", method="pca"),
        "per_class_f1": plot_per_class_f1(_runs(), dependency),
        "reliability": plot_reliability(predictions, "cell_class"),
        "composition": plot_composition(predictions, "cell_class"),
    }
    for kind, fig in figures.items():
        paths = save_figure(fig, tmp_path, figure_name(kind, "fake", "2 seeds"))
        assert [p.suffix for p in paths] == [".png", ".svg"]
        assert all(p.stat().st_size > 1000 for p in paths)
        assert paths[0].name == f"{kind}__fake__2-seeds.png"


def test_tsne_map_is_deterministic_and_unknown_methods_are_named():
    x = np.random.default_rng(2).normal(size=(40, 6))
    assert np.array_equal(project_2d(x, "tsne", seed=3), project_2d(x, "tsne", seed=3))
    with pytest.raises(ValueError, match="tsne, pca, umap"):
        project_2d(x, "mds")


def test_composition_and_reliability_say_when_there_is_nothing_to_draw(predictions):
    labelled = predictions[predictions["cell_class__true"].notna()]
    with pytest.raises(ValueError, match="without a cell_class label"):
        plot_composition(labelled, "cell_class")
    with pytest.raises(ValueError, match="nothing to calibrate"):
        plot_reliability(labelled[labelled["split"] == "train"], "cell_class")


@pytest.mark.parametrize("module", ["synhelpers.train.vocab", "synhelpers.answers.predict",
                                    "synhelpers.answers.embed", "synhelpers.figures.calibration",
                                    "synhelpers.figures.results"])
def test_docstring_examples_of_the_answer_modules(module):
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0

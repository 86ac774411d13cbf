"""``macro_f1`` is written by hand (scikit-learn costs a second of import on every ``predict``):
it must equal scikit-learn's ``f1_score(average="macro", zero_division=0)``."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from synhelpers.train.metrics import classification_metrics, macro_f1


@pytest.mark.parametrize("seed", range(5))
def test_macro_f1_equals_sklearn(seed):
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n, k = int(rng.integers(1, 60)), int(rng.integers(1, 9))
        y_true, y_pred = rng.integers(0, k, n), rng.integers(0, k + 2, n)
        want = f1_score(y_true, y_pred, average="macro", zero_division=0)
        assert macro_f1(y_true, y_pred) == pytest.approx(want, abs=1e-12)


def test_macro_f1_edge_cases():
    assert macro_f1([], []) == 0.0
    assert macro_f1([3, 3], [3, 3]) == 1.0
    assert macro_f1([0, 1], [1, 0]) == 0.0
    m = classification_metrics([0, 1, 1], [0, 1, 0], ["a", "b"])
    assert m["macro_f1"] == pytest.approx(macro_f1([0, 1, 1], [0, 1, 0]))

"""Split-conformal prediction sets: answers that can say "I don't know".

Paper: Vovk, Gammerman & Shafer, *Algorithmic Learning in a Random World* (2005); the split
("inductive") form as in Angelopoulos & Bates, "A Gentle Introduction to Conformal Prediction"
(arXiv:2107.07511), section 1.

With nonconformity score ``s_i = 1 - p_i[y_i]`` on the ``n`` labelled neurons of the run's
**validation** split (never used for training, only for model selection), the threshold is
``q = s_(k)``, the k-th smallest score with ``k = ceil((n + 1) * coverage)``, and a neuron's
set is ``{c : p[c] >= 1 - q}``. If the calibration and the test neurons are exchangeable (a
random split of one connectome is), the set holds the true class with probability at least
``coverage`` (marginally, over neurons). It says nothing for a neuron of a class the run never
saw, nor on another connectome: :func:`~synhelpers.answers.predict.predict` refuses
``coverage`` there.

The answer is the set's one class when it holds exactly one, else ``"unknown"`` (an empty
set: no class is plausible enough; several: the model cannot tell them apart at this
coverage).

Example:
    >>> import numpy as np
    >>> p_val = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    >>> q = conformal_threshold(p_val, np.array([0, 0, 1, 0]), coverage=0.6)
    >>> round(q, 2), prediction_sets(np.array([[0.95, 0.05], [0.5, 0.5]]), q).tolist()
    (0.3, [[True, False], [False, False]])
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["UNKNOWN", "conformal_threshold", "prediction_sets", "set_columns", "coverage_report"]

#: The answer of a neuron whose prediction set does not hold exactly one class.
UNKNOWN = "unknown"


def conformal_threshold(probs: np.ndarray, y: np.ndarray, coverage: float) -> float:
    """The score threshold ``q`` from calibration probabilities ``probs`` (n, C) and their
    classes ``y`` (n,) int, for a target ``coverage`` in (0, 1). With too few calibration
    neurons for the target (``ceil((n + 1) coverage) > n``) every class enters every set
    (``q = 1``)."""
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must be in (0, 1), got {coverage}")
    n = len(y)
    k = math.ceil((n + 1) * coverage)
    if n == 0 or k > n:
        return 1.0
    scores = 1.0 - probs[np.arange(n), y]
    return float(np.sort(scores)[k - 1])


def prediction_sets(probs: np.ndarray, q: float) -> np.ndarray:
    """(N, C) bool: class ``c`` is in neuron ``i``'s set when ``1 - probs[i, c] <= q``."""
    return (1.0 - probs) <= q + 1e-12


def set_columns(col: str, sets: np.ndarray, classes) -> dict:
    """The prediction-set columns of label column ``col``: ``L__set`` (list of class names),
    ``L__set_size`` (int) and ``L__answer`` (the one class, or ``"unknown"``)."""
    classes = np.asarray(classes, dtype=object)
    size = sets.sum(1)
    first = sets.argmax(1)
    answer = np.where(size == 1, classes[first], UNKNOWN).astype(object)
    return {f"{col}__set": [list(classes[row]) for row in sets],
            f"{col}__set_size": size.astype(np.int32), f"{col}__answer": answer}


def coverage_report(sets: np.ndarray, y: np.ndarray, classes) -> dict:
    """Empirical coverage of ``sets`` (N, C) on neurons with classes ``y`` (N,) int: overall,
    per class (``None`` for a class without a neuron), the mean set size and the fraction of
    neurons answered ``"unknown"``."""
    hit = sets[np.arange(len(y)), y] if len(y) else np.zeros(0, bool)
    size = sets.sum(1)
    per_class = {str(name): (float(hit[y == c].mean()) if (y == c).any() else None)
                 for c, name in enumerate(classes)}
    return {"coverage": float(hit.mean()) if len(y) else None, "per_class": per_class,
            "mean_set_size": float(size.mean()) if len(y) else None,
            "unknown_fraction": float((size != 1).mean()) if len(y) else None, "n": int(len(y))}

"""Classification metrics (scikit-learn) on the labelled nodes of one split.

All values are fractions in 0..1. Macro-F1 averages over the classes present in the split
(in the truth or the predictions), as scikit-learn does by default.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

__all__ = ["classification_metrics", "macro_f1"]


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if len(y_true) == 0:
        return 0.0
    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy, macro-F1, balanced accuracy, per-class F1 (by name) and the confusion matrix.

    ``confusion_matrix[i][j]`` counts true class i predicted as j, for all classes in order.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    labels = np.arange(len(class_names))
    if len(y_true) == 0:
        return {"accuracy": 0.0, "macro_f1": 0.0, "balanced_accuracy": 0.0, "per_class_f1": {},
                "confusion_matrix": np.zeros((len(labels), len(labels)), int).tolist(), "support": 0}
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    present = set(np.unique(y_true).tolist())
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bal = balanced_accuracy_score(y_true, y_pred)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": macro_f1(y_true, y_pred),
        "balanced_accuracy": float(bal),
        "per_class_f1": {class_names[i]: float(per_class[i]) for i in labels if i in present},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "support": int(len(y_true)),
    }

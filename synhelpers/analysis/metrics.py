"""Classification metrics and the mean ± std summary over seeds (scikit-learn underneath).

All values are fractions from 0 to 1. Callers pass only labelled neurons (label >= 0).
"""

from __future__ import annotations

import numpy as np

__all__ = ["classification_metrics", "summarise_seeds", "SUMMARY_KEYS"]

#: Scalar per-seed metrics that :func:`summarise_seeds` averages (when present).
SUMMARY_KEYS = (
    "test_accuracy",
    "test_macro_f1",
    "test_balanced_accuracy",
    "best_val_macro_f1",
    "best_epoch",
    "epochs",
    "epoch_seconds",
    "peak_memory_mb",
)


def classification_metrics(y_true, y_pred, class_names: list[str], prefix: str = "") -> dict:
    """Accuracy, macro-F1, balanced accuracy, per-class F1 and the confusion matrix.

    Args:
        y_true, y_pred: (n,) integer class ids in ``[0, len(class_names))``.
        class_names: name of each class id; the confusion matrix uses this order.
        prefix: prepended to every key, e.g. ``"test_"``.

    Returns:
        ``{prefix+"accuracy", prefix+"macro_f1", prefix+"balanced_accuracy",
        prefix+"per_class_f1" ({name: f1}), prefix+"confusion_matrix" (rows = true class),
        prefix+"n"}``.

    Example:
        >>> m = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b"])
        >>> round(m["accuracy"], 2), m["confusion_matrix"]
        (0.75, [[1, 1], [0, 2]])
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    labels = np.arange(len(class_names))
    present = np.unique(y_true)
    f1 = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        f"{prefix}accuracy": float(accuracy_score(y_true, y_pred)),
        # macro-F1 over the classes present in y_true (absent classes have no defined recall)
        f"{prefix}macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro",
                                            zero_division=0)),
        f"{prefix}balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        f"{prefix}per_class_f1": {str(n): float(v) for n, v in zip(class_names, f1)},
        f"{prefix}confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        f"{prefix}n": int(len(y_true)),
    }


def summarise_seeds(seeds: list[dict], keys=SUMMARY_KEYS) -> dict:
    """``{"mean": {...}, "std": {...}}`` of the scalar metrics over seeds (std with ddof=0
    for one seed, else the sample std, ddof=1)."""
    mean, std = {}, {}
    for k in keys:
        vals = [s[k] for s in seeds if isinstance(s.get(k), (int, float))]
        if not vals:
            continue
        mean[k] = float(np.mean(vals))
        std[k] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    return {"mean": mean, "std": std}

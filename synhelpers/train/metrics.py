"""Classification metrics and the mean ± std summary over seeds, shared by every model
(the quick baseline and the trained encoders), so their numbers are comparable.

All values are fractions from 0 to 1. Callers pass only labelled neurons (label >= 0).
Macro-F1 averages over the classes present in the truth or the predictions (scikit-learn's
default); model selection and the reported test score use this same definition.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["macro_f1", "classification_metrics", "summarise_seeds", "SUMMARY_KEYS"]

#: Scalar per-seed metrics that :func:`summarise_seeds` averages (when present).
SUMMARY_KEYS = (
    "test_accuracy",
    "test_macro_f1",
    "test_balanced_accuracy",
    "best_val_macro_f1",
    "best_epoch",
    "epochs",
    "epoch_time_s",
    "fit_time_s",
    "peak_memory_mb",
)


def macro_f1(y_true, y_pred) -> float:
    """Macro-F1 over the classes present in ``y_true`` or ``y_pred``; 0.0 for empty input.

    Example:
        >>> round(macro_f1([0, 0, 1, 1], [0, 1, 1, 1]), 3)
        0.733
    """
    # By hand, not sklearn's f1_score (average="macro", zero_division=0), which it equals
    # (tests/test_metrics.py): importing scikit-learn costs a second on every predict call.
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if len(y_true) == 0:
        return 0.0
    labels, codes = np.unique(np.r_[y_true, y_pred], return_inverse=True)
    k = len(labels)
    cm = np.bincount(codes[: len(y_true)] * k + codes[len(y_true):], minlength=k * k).reshape(k, k)
    tp = np.diag(cm)
    f1 = 2 * tp / (cm.sum(0) + cm.sum(1))  # 2tp / (2tp + fp + fn); never 0/0 for these labels
    return float(f1.mean())


def classification_metrics(y_true, y_pred, class_names: list[str], prefix: str = "") -> dict:
    """Accuracy, macro-F1, balanced accuracy, per-class F1 and the confusion matrix.

    Args:
        y_true, y_pred: (n,) integer class ids in ``[0, len(class_names))``.
        class_names: name of each class id; the confusion matrix uses this order.
        prefix: prepended to every key, e.g. ``"test_"``.

    Returns:
        ``{prefix+"accuracy", prefix+"macro_f1", prefix+"balanced_accuracy",
        prefix+"per_class_f1" ({name: f1, or None for a class absent from both truth and
        predictions}), prefix+"confusion_matrix" (rows = true class), prefix+"support"}``.

    Example:
        >>> m = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b", "c"])
        >>> round(m["accuracy"], 2), m["confusion_matrix"], m["per_class_f1"]["c"]
        (0.75, [[1, 1, 0], [0, 2, 0], [0, 0, 0]], None)
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    labels = np.arange(len(class_names))
    seen = set(np.unique(np.r_[y_true, y_pred]).tolist())
    f1 = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0) if len(y_true) else np.zeros(len(labels))
    with warnings.catch_warnings():  # a class predicted but absent from the truth
        warnings.simplefilter("ignore")
        bal = float(balanced_accuracy_score(y_true, y_pred)) if len(y_true) else 0.0
    return {
        f"{prefix}accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        f"{prefix}macro_f1": macro_f1(y_true, y_pred),
        f"{prefix}balanced_accuracy": bal,
        f"{prefix}per_class_f1": {str(n): (float(v) if i in seen else None)
                                  for i, (n, v) in enumerate(zip(class_names, f1))},
        f"{prefix}confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        f"{prefix}support": int(len(y_true)),
    }


def summarise_seeds(seeds: list[dict], keys=SUMMARY_KEYS) -> dict:
    """``{"mean": {...}, "std": {...}}`` of the scalar metrics over seeds (sample std,
    ddof=1; 0.0 for a single seed)."""
    mean, std = {}, {}
    for k in keys:
        vals = [s[k] for s in seeds if isinstance(s.get(k), (int, float))]
        if not vals:
            continue
        mean[k] = float(np.mean(vals))
        std[k] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    return {"mean": mean, "std": std}

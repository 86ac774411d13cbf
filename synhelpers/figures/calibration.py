"""Calibration of predicted probabilities: the reliability diagram and the expected calibration
error (ECE), from a predictions table.

A prediction with probability ``p`` should be right a fraction ``p`` of the time. Neurons are
put in ``n_bins`` equal-width bins of their top-class probability (bin ``b`` holds
``(b/n_bins, (b+1)/n_bins]``, and ``p = 0`` falls in the first bin);

    ECE = sum_b (n_b / n) * |accuracy_b - mean probability_b|

(Guo et al., "On calibration of modern neural networks", ICML 2017). Written with numpy rather
than ``torchmetrics.classification.MulticlassCalibrationError``: the table holds the top-class
probability and the label as strings, not the full (N, C) probability tensor that the
torchmetrics metric takes, and the diagram needs the per-bin counts, accuracies and
confidences, which the metric does not return; the computation is a few vectorised lines.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["reliability_bins", "expected_calibration_error", "scored_rows", "plot_reliability"]


def reliability_bins(confidence, correct, n_bins: int = 10) -> pd.DataFrame:
    """Per bin: ``lo``, ``hi``, ``count``, ``confidence`` (mean probability) and ``accuracy``
    (NaN for an empty bin).

    Args:
        confidence: (n,) top-class probabilities in [0, 1]. correct: (n,) bool.
        n_bins: equal-width bins over [0, 1].
    """
    conf = np.asarray(confidence, np.float64)
    ok = np.asarray(correct, np.float64)
    if conf.shape != ok.shape or ((conf < 0) | (conf > 1)).any():
        raise ValueError("confidence and correct must have the same shape, confidence in [0, 1]")
    b = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(b, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(b, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(b, weights=ok, minlength=n_bins) / count
    edges = np.linspace(0, 1, n_bins + 1)
    return pd.DataFrame({"lo": edges[:-1], "hi": edges[1:], "count": count,
                         "confidence": mean_conf, "accuracy": accuracy})


def expected_calibration_error(confidence, correct, n_bins: int = 10) -> float:
    """ECE (0..1) of top-class probabilities ``confidence`` against ``correct``.

    Example (two bins: 0.3 and 0.4 in the first, right once; 0.8 and 0.9 in the second,
    right twice; ECE = 0.5 * |0.5 - 0.35| + 0.5 * |1.0 - 0.85|):
        >>> round(expected_calibration_error([0.3, 0.4, 0.8, 0.9], [True, False, True, True], 2), 3)
        0.15
    """
    bins = reliability_bins(confidence, correct, n_bins)
    n = int(bins["count"].sum())
    if n == 0:
        return float("nan")
    full = bins[bins["count"] > 0]
    return float((full["count"] / n * (full["accuracy"] - full["confidence"]).abs()).sum())


def scored_rows(predictions: pd.DataFrame, label: str, split: str = "test") -> pd.DataFrame:
    """Rows of ``split`` with a published ``label``: ``confidence`` and ``correct`` columns."""
    rows = predictions[(predictions["split"] == split) & predictions[f"{label}__true"].notna()]
    return pd.DataFrame({"confidence": rows[f"{label}__prob"].to_numpy(np.float64),
                         "correct": (rows[f"{label}__pred"] == rows[f"{label}__true"]).to_numpy()})


def plot_reliability(predictions: pd.DataFrame, label: str = "cell_class", *, split: str = "test",
                     n_bins: int = 10, title: str = ""):
    """Reliability diagram of ``label`` on ``split``: accuracy against mean probability per
    bin (bars; the diagonal is perfect calibration), neurons per bin below, ECE in the title.

    Raises:
        ValueError: no neuron of ``split`` has a published ``label``.
    """
    rows = scored_rows(predictions, label, split)
    if rows.empty:
        raise ValueError(f"no {split} neuron has a published {label!r}: nothing to calibrate")
    bins = reliability_bins(rows["confidence"], rows["correct"], n_bins)
    ece = expected_calibration_error(rows["confidence"], rows["correct"], n_bins)
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(4.8, 5.6), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    width = 1.0 / n_bins
    ax.bar(bins["lo"], bins["accuracy"].fillna(0), width, align="edge", color="#4c72b0",
           edgecolor="white", label="accuracy")
    low = np.fmin(bins["accuracy"], bins["confidence"]).fillna(0)
    ax.bar(bins["lo"], (bins["confidence"] - bins["accuracy"]).abs().fillna(0), width, bottom=low,
           align="edge", facecolor="none", edgecolor="#c44e52", hatch="///", lw=0.8,
           label="gap to the mean probability")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    # above the axes, where it covers no bar
    ax.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2)
    ax_n.bar(bins["lo"], bins["count"], width, align="edge", color="grey", edgecolor="white")
    ax_n.set(xlabel="predicted probability of the top class", ylabel="neurons")
    ax.set_title((title or f"{label}: reliability") + f"\nECE = {100 * ece:.1f} % ({n_bins} bins), "
                 f"n = {len(rows):,} {split} neurons", fontsize=9, pad=34)
    fig.tight_layout()
    return fig

"""Load saved runs (``metrics.json``) and summarise them as mean ± std tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import read_json
from ..models import get_spec

__all__ = ["load_metrics", "load_runs", "summary_table", "format_mean_std", "honesty_checks"]


def load_metrics(run_dir) -> dict:
    """The ``metrics.json`` of one run folder."""
    return read_json(Path(run_dir) / "metrics.json")


def load_runs(runs: dict[str, str | Path] | list) -> dict[str, dict]:
    """``{label: metrics}`` from ``{label: run folder}`` (or a list of folders, labelled by name)."""
    if not isinstance(runs, dict):
        runs = {Path(r).name: r for r in runs}
    return {label: load_metrics(d) for label, d in runs.items()}


def format_mean_std(mean: float, std: float, n: int = 2, scale: float = 100.0, digits: int = 1) -> str:
    """``"91.3 ± 0.4"``; with one seed there is no spread to report: ``"91.3 (1 seed)"``.

    Example:
        >>> format_mean_std(0.9134, 0.004, n=3), format_mean_std(0.9134, 0.0, n=1)
        ('91.3 ± 0.4', '91.3 (1 seed)')
    """
    if n < 2:
        return f"{mean * scale:.{digits}f} (1 seed)"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def _row(label: str, m: dict) -> dict:
    try:
        views = get_spec(m["model"]).views
    except KeyError:
        views = "wiring+site summary" if m["model"] == "logreg_baseline" else "?"
    n = len(m["seeds"])
    row = {"run": label, "model": m["model"], "views": views, "mode": m.get("mode", ""), "seeds": n}
    if m.get("not_applicable"):
        row.update({"test macro-F1 (%)": "n/a (not inductive)", "test accuracy (%)": "n/a",
                    "macro_f1_mean": float("nan"), "epoch time (s)": float("nan")})
        return row
    mean, std = m["mean"], m["std"]
    row.update({
        "test macro-F1 (%)": format_mean_std(mean["test_macro_f1"], std["test_macro_f1"], n),
        "test accuracy (%)": format_mean_std(mean["test_accuracy"], std["test_accuracy"], n),
        "macro_f1_mean": mean["test_macro_f1"],
        "macro_f1_std": std["test_macro_f1"],
        "macro_f1_seeds": [s["test_macro_f1"] for s in m["seeds"]],
        "epoch time (s)": round(mean.get("epoch_time_s", float("nan")), 3),
    })
    return row


def summary_table(runs: dict[str, dict], ceiling_macro_f1: float | None = None,
                  ceiling_accuracy: float | None = None) -> pd.DataFrame:
    """One row per run: views, mode, seeds, test macro-F1 / accuracy (mean ± std, in %),
    epoch time; the generator's ceiling as the last row when given.

    Runs marked ``not_applicable`` (the original design in inductive mode) say so.

    Args:
        runs: ``{label: metrics.json dict}``, e.g. from :func:`load_runs`.
        ceiling_macro_f1, ceiling_accuracy: the generator's ceiling (fractions, 0..1).

    Returns:
        A DataFrame with columns ``run``, ``model``, ``views``, ``mode``, ``seeds``,
        ``test macro-F1 (%)`` and ``test accuracy (%)`` (text, for reading), ``macro_f1_mean``,
        ``macro_f1_std``, ``macro_f1_seeds`` (fractions, for plotting) and ``epoch time (s)``.

    Example:
        >>> m = {"model": "hybrid", "mode": "transductive",
        ...      "seeds": [{"test_macro_f1": 0.90}, {"test_macro_f1": 0.92}],
        ...      "mean": {"test_macro_f1": 0.91, "test_accuracy": 0.95, "epoch_time_s": 0.5},
        ...      "std": {"test_macro_f1": 0.01, "test_accuracy": 0.005}}
        >>> table = summary_table({"fused": m}, ceiling_macro_f1=0.97)
        >>> table[["run", "seeds", "test macro-F1 (%)"]].values.tolist()
        [['fused', 2, '91.0 ± 1.0'], ['generator ceiling', 0, '97.0']]
    """
    rows = [_row(label, m) for label, m in runs.items()]
    if ceiling_macro_f1 is not None:
        rows.append({"run": "generator ceiling", "model": "-", "views": "truth", "mode": "-",
                     "seeds": 0, "test macro-F1 (%)": f"{ceiling_macro_f1 * 100:.1f}",
                     "test accuracy (%)": "" if ceiling_accuracy is None else f"{ceiling_accuracy * 100:.1f}",
                     "macro_f1_mean": ceiling_macro_f1, "macro_f1_std": 0.0})
    return pd.DataFrame(rows)


def honesty_checks(runs: dict[str, dict]) -> dict[str, bool]:
    """Checks that any reader can rerun on saved runs: every seed scored the test split once,
    and its selected checkpoint is the epoch of its best validation macro-F1."""
    seeds = [s for m in runs.values() for s in m["seeds"]]
    return {
        "one test evaluation per seed": all(s["test_evaluations"] == 1 for s in seeds),
        "selected epoch = best validation macro-F1": all(
            abs(s["best_val_macro_f1"] - max(s["history"]["val_macro_f1"])) < 1e-6 for s in seeds),
    }

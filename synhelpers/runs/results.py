"""Load saved runs (``metrics.json``) and summarise them as mean ± std tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import read_json

__all__ = ["load_run", "load_runs", "summary_table", "format_mean_std"]


def load_run(run_dir) -> dict:
    """The ``metrics.json`` of one run folder."""
    return read_json(Path(run_dir) / "metrics.json")


def load_runs(runs: dict[str, str | Path] | list) -> dict[str, dict]:
    """``{label: metrics}`` from ``{label: run folder}`` (or a list of folders, labelled by name)."""
    if not isinstance(runs, dict):
        runs = {Path(r).name: r for r in runs}
    return {label: load_run(d) for label, d in runs.items()}


def format_mean_std(mean: float, std: float, scale: float = 100.0, digits: int = 1) -> str:
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def summary_table(runs: dict[str, dict], ceiling_macro_f1: float | None = None,
                  ceiling_accuracy: float | None = None) -> pd.DataFrame:
    """One row per run: views, mode, seeds, test macro-F1 / accuracy (mean ± std, in %),
    epoch time; the generator's ceiling as the last row when given.

    Runs marked ``not_applicable`` (the original design in inductive mode) say so.
    """
    from ..models import get_spec

    rows = []
    for label, m in runs.items():
        try:
            views = get_spec(m["model"]).views
        except KeyError:
            views = "?"
        row = {"run": label, "model": m["model"], "views": views, "mode": m.get("mode", ""),
               "seeds": len(m["seeds"])}
        if m.get("not_applicable"):
            row.update({"test macro-F1 (%)": "n/a (not inductive)", "test accuracy (%)": "n/a",
                        "macro_f1_mean": float("nan"), "epoch time (s)": float("nan")})
        else:
            mean, std = m["mean"], m["std"]
            row.update({
                "test macro-F1 (%)": format_mean_std(mean["test_macro_f1"], std["test_macro_f1"]),
                "test accuracy (%)": format_mean_std(mean["test_accuracy"], std["test_accuracy"]),
                "macro_f1_mean": mean["test_macro_f1"],
                "macro_f1_std": std["test_macro_f1"],
                "epoch time (s)": round(mean["epoch_time_s"], 3),
            })
        rows.append(row)
    if ceiling_macro_f1 is not None:
        rows.append({"run": "generator ceiling", "model": "-", "views": "truth", "mode": "-",
                     "seeds": 0, "test macro-F1 (%)": f"{ceiling_macro_f1 * 100:.1f}",
                     "test accuracy (%)": "" if ceiling_accuracy is None else f"{ceiling_accuracy * 100:.1f}",
                     "macro_f1_mean": ceiling_macro_f1, "macro_f1_std": 0.0})
    return pd.DataFrame(rows)

"""``MODEL_CARD.md``: what a trained run is, in one page a reader can cite from.

Written by every ``train`` into its run folder, beside ``metrics.json`` (from which it is made,
so it never says more than the run measured): the data (dataset, fingerprint, graph folder),
the label columns and their classes, the split and mode, the test macro-F1 as mean ± std over
seeds beside the logistic-regression baseline of the same graph (when a ``baseline`` run of it
sits beside this one) and the synthetic generator's ceiling (synthetic data only), the
versions of the libraries, and the command that made it.

Example:
    >>> card = model_card({"model": "sage", "label_columns": ["cell_class"], "mode": "transductive",
    ...                    "dataset": "synthetic", "data_fingerprint": "abc", "seeds": [{}],
    ...                    "mean": {"test_macro_f1": 0.9}, "std": {"test_macro_f1": 0.01},
    ...                    "trained_on": {"label_names": {"cell_class": ["A", "B"]}}})
    >>> card.splitlines()[0]
    '# Model card: sage on synthetic'
    >>> "| sage (this run) | 90.0 | 1 |" in card
    True
"""

from __future__ import annotations

import shlex
import sys
from importlib import metadata
from pathlib import Path

from ..io import atomic_path, read_json

__all__ = ["model_card", "write_model_card", "synthetic_ceiling", "baseline_beside", "CARD_FILE"]

CARD_FILE = "MODEL_CARD.md"
_LIBRARIES = ("synhelpers", "torch", "torch_geometric", "lightning", "numpy", "scikit-learn")


def synthetic_ceiling(graph_dir, label: str) -> dict | None:
    """``{"accuracy", "macro_f1"}`` the synthetic generator reports as reachable for ``label``
    (``cell_class`` or ``predictedNt``) on the graph in ``graph_dir``; None for other data."""
    try:
        tables = read_json(Path(graph_dir) / "graph.json").get("tables")
    except (OSError, ValueError):
        return None
    tables = [tables] if isinstance(tables, str) else (tables or [])
    synth = Path(tables[0]) / "synthetic.json" if len(tables) == 1 else None
    if synth is None or not synth.exists() or label not in ("cell_class", "predictedNt"):
        return None
    s = read_json(synth)
    key = "nt_ceiling" if label == "predictedNt" else "ceiling"
    if key not in s:
        return None
    return {"accuracy": s[key], "macro_f1": s[f"{key}_macro_f1"]}


def baseline_beside(out_dir, graph_dir, label: str) -> dict | None:
    """The ``metrics.json`` of a baseline run of ``label`` on ``graph_dir`` in a folder beside
    ``out_dir`` (e.g. ``runs/baseline`` beside ``runs/hybrid``), or None."""
    if graph_dir is None:
        return None
    for f in sorted(Path(out_dir).resolve().parent.glob("*/metrics.json")):
        try:
            m = read_json(f)
        except (OSError, ValueError):
            continue
        if (isinstance(m, dict) and m.get("model") == "logreg_baseline" and m.get("task") == label
                and Path(str(m.get("graph", ""))).resolve() == Path(graph_dir).resolve()):
            return m
    return None


def _pct(mean: float | None, std: float | None, n: int = 2) -> str:
    """``mean ± std`` in %, the mean alone for one seed (its spread is unknown)."""
    if mean is None:
        return "n/a"
    return f"{100 * mean:.1f}" if n < 2 else f"{100 * mean:.1f} ± {100 * (std or 0.0):.1f}"


def _command() -> str:
    """This process's command line, as a user would type it."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(("synhelpers/__main__.py", "synhelpers/cli.py")):
        return shlex.join(["python", "-m", "synhelpers", *argv[1:]])
    return shlex.join(argv)


def _versions() -> str:
    out = [f"python {sys.version.split()[0]}"]
    for name in _LIBRARIES:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(out)


def model_card(result: dict, *, baseline: dict | None = None, ceiling: dict | None = None,
               command: str | None = None) -> str:
    """The Markdown text of a run's model card, from its ``metrics.json`` contents."""
    cols = result.get("label_columns", [])
    names = (result.get("trained_on") or {}).get("label_names", {})
    cfg = result.get("config", {})
    mean, std = result.get("mean", {}), result.get("std", {})
    n = len(result.get("seeds", []))
    lines = [f"# Model card: {result['model']} on {result.get('dataset', 'unnamed graph')}", "",
             "## Data", f"- dataset: {result.get('dataset', 'unnamed graph')}",
             f"- graph fingerprint: `{result.get('data_fingerprint')}`",
             f"- graph folder: `{result.get('data_path', 'in memory (not recorded)')}`",
             f"- mode: {result.get('mode')}; splits: {cfg.get('splits', 1)} (stratified, seeded, "
             "saved with the graph); selection on the validation split only, the test split "
             "scored once per seed", "", "## Labels"]
    for c in cols:
        classes = names.get(c, [])
        lines.append(f"- `{c}`: {len(classes)} classes ({', '.join(map(str, classes))})")
    lines += ["", "## Test macro-F1 (%)", "", "| model | mean ± std | seeds |", "|---|---:|---:|",
              f"| {result['model']} (this run) | {_pct(mean.get('test_macro_f1'), std.get('test_macro_f1'), n)} | {n} |"]
    if baseline is not None:
        bm, bs = baseline.get("mean", {}), baseline.get("std", {})
        nb = len(baseline.get("seeds", []))
        lines.append(f"| logistic-regression baseline | {_pct(bm.get('test_macro_f1'), bs.get('test_macro_f1'), nb)} "
                     f"| {nb} |")
    if ceiling is not None:
        lines.append(f"| synthetic generator ceiling | {100 * ceiling['macro_f1']:.1f} | |")
    if baseline is None:
        lines += ["", "No baseline run of this graph sits beside this run; "
                  "`python -m synhelpers baseline --graph GRAPH --out DIR` (next to this folder) adds one."]
    if result.get("not_applicable"):
        lines += ["", f"Not applicable: {result['not_applicable']}"]
    lines += ["", "## Versions", _versions(), "", "## Made by", f"`{command or _command()}`",
              "", "Settings: `config` in `metrics.json`."]
    return "\n".join(lines) + "\n"


def write_model_card(out_dir, result: dict, graph_dir=None) -> Path:
    """Write ``out_dir/MODEL_CARD.md`` atomically from ``result`` (a run's ``metrics.json``)."""
    label = (result.get("label_columns") or [None])[0]
    if graph_dir is not None and (Path(graph_dir) / "neurons.parquet").exists():
        graph_dir = Path(graph_dir) / "graph"  # a tables folder: its cached graph
    card = model_card(result, baseline=baseline_beside(out_dir, graph_dir, label),
                      ceiling=synthetic_ceiling(graph_dir, label) if graph_dir else None)
    path = Path(out_dir) / CARD_FILE
    with atomic_path(path) as tmp:
        Path(tmp).write_text(card)
    return path

"""Figures of training runs, drawn from saved ``metrics.json`` files (never from memory).

- :func:`plot_ablation`: test macro-F1 per model, transductive and inductive side by side,
  every seed a point, the generator's ceiling as a line.
- :func:`plot_learning_curves`: validation macro-F1 and training loss per epoch.
- :func:`plot_confusion`: the test confusion matrix summed over seeds, row-normalised.
- :func:`plot_run_summary`: confusion and per-class F1 of one run.
- :func:`task_figures`, :func:`make_run_figures`: write them with the naming scheme of
  :func:`~synhelpers.figures.save.figure_name`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from ..io import read_json
from .save import figure_name, save_figure

__all__ = ["plot_ablation", "plot_learning_curves", "plot_confusion", "plot_run_summary",
           "plot_per_class_f1", "per_class_f1", "task_figures", "make_run_figures", "test_support"]

MODE_COLORS = {"transductive": "#4c72b0", "inductive": "#dd8452"}
#: Bars of the logistic-regression baseline (run key ``baseline/...``).
BASELINE_COLOR = "#9a9a9a"


def synthetic_title(title: str, dataset) -> str:
    """``title``, with " (synthetic data)" added when ``dataset`` is synthetic and the title
    does not say so already: a figure of the synthetic connectome always says it is one.

    Example:
        >>> synthetic_title("per-class F1", "synthetic (300 neurons, seed 0)")
        'per-class F1 (synthetic data)'
    """
    if "synthetic" in str(dataset or "").lower() and "synthetic" not in title.lower():
        return f"{title} (synthetic data)"
    return title


def runs_dataset(runs: dict[str, dict]) -> str:
    """The dataset name of a set of runs (the first that records one; '' if none)."""
    return next((str(m["dataset"]) for m in runs.values() if m and m.get("dataset")), "")


def test_support(metrics: dict) -> int:
    """Number of labelled test neurons a run was scored on (first label column)."""
    s = metrics["seeds"][0]
    return int(next(iter(s["per_task"].values()))["support"]) if "per_task" in s else int(
        s.get("test_support", 0))


def _seeds_text(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def plot_ablation(runs: dict[str, dict], ceiling: float | None = None, title: str = ""):
    """Test macro-F1 (%) per model: a bar per mode (mean), a point per seed, a bar for the
    standard deviation when there are several seeds; the ceiling as a dashed line.

    ``runs``: ``{"model/mode": metrics}``; runs marked not applicable are labelled "n/a".
    """
    models = list(dict.fromkeys(k.split("/")[0] for k in runs))
    modes = [m for m in MODE_COLORS if any(k.endswith("/" + m) for k in runs)]
    width = 0.8 / max(len(modes), 1)
    fig, ax = plt.subplots(figsize=(1.3 * len(models) + 2.5, 4.2))
    rng = np.random.default_rng(0)
    for j, mode in enumerate(modes):
        for i, model in enumerate(models):
            m = runs.get(f"{model}/{mode}")
            x = i + (j - (len(modes) - 1) / 2) * width
            if m is None:
                continue
            if m.get("not_applicable") or not m["seeds"]:
                ax.text(x, 3, "n/a", ha="center", va="bottom", fontsize=8, rotation=90, clip_on=True)
                continue
            vals = np.array([s["test_macro_f1"] for s in m["seeds"]]) * 100
            base = model == "baseline"
            ax.bar(x, vals.mean(), width * 0.9, color=BASELINE_COLOR if base else MODE_COLORS[mode],
                   alpha=0.85, yerr=vals.std(ddof=1) if len(vals) > 1 else None, capsize=3,
                   label="baseline (logistic regression)" if base else (mode if i == 0 else None))
            ax.scatter(x + rng.uniform(-0.15, 0.15, len(vals)) * width, vals, s=12, color="k",
                       zorder=3, label="one seed" if (i == 0 and j == 0) else None)
    if ceiling is not None:
        ax.axhline(ceiling * 100, color="k", ls="--", lw=1, label=f"generator ceiling {ceiling * 100:.1f}")
    ax.set_xticks(range(len(models)), models, fontsize=9)
    ax.set(ylabel="test macro-F1 (%)", ylim=(0, 100), xlabel="model", xlim=(-0.5, len(models) - 0.5))
    ax.grid(axis="y", alpha=0.3)
    any_run = next(m for m in runs.values() if m["seeds"])
    n_seeds = len(any_run["seeds"])
    # beside the axes, so that it covers neither a bar nor the title, however many entries
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    title = synthetic_title(title or "ablation", runs_dataset(runs))
    ax.set_title(title + f"\nmean ± std over {_seeds_text(n_seeds)}, points: seeds; "
                 f"n = {test_support(any_run):,} test neurons", fontsize=9)
    fig.tight_layout()
    return fig


def plot_learning_curves(runs: dict[str, dict], title: str = ""):
    """Validation macro-F1 and training loss (the fused heads only) against epoch.

    One colour per run; seed 0 solid, other seeds faint; dotted vertical line: the selected
    (best validation) epoch of each seed.
    """
    runs = {k: m for k, m in runs.items() if m.get("seeds") and "history" in m["seeds"][0]}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    handles = []
    for i, (label, m) in enumerate(runs.items()):
        color = colors[i % len(colors)]
        for j, s in enumerate(m.get("seeds", [])):
            h, kw = s["history"], dict(color=color, alpha=0.9 if j == 0 else 0.35, lw=1.3)
            ax1.plot(h["epoch"], h["val_macro_f1"], **kw)
            ax2.plot(h["epoch"], h["train_loss"], **kw)
            ax1.axvline(s["best_epoch"], color=color, lw=0.7, ls=":")
        handles.append(Line2D([], [], color=color, label=label))
    handles += [Line2D([], [], color="grey", label="seed 0"),
                Line2D([], [], color="grey", alpha=0.35, label="other seeds"),
                Line2D([], [], color="grey", ls=":", label="selected epoch")]
    ax1.set(xlabel="epoch (one full-graph step)", ylabel="validation macro-F1", ylim=(0, 1))
    ax2.set(xlabel="epoch (one full-graph step)", ylabel="training loss, main heads (nats)",
            yscale="log")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    n_seeds = max(len(m.get("seeds", [])) for m in runs.values())
    fig.suptitle(synthetic_title(title or "learning curves", runs_dataset(runs))
                 + f" ({_seeds_text(n_seeds)} per run)", fontsize=10)
    fig.tight_layout()
    return fig


def _confusion_data(metrics: dict, column: str | None):
    seeds = metrics["seeds"]
    if column is None:
        return [np.array(s["test_confusion_matrix"]) for s in seeds], seeds[0]["class_names"]
    task = [s["per_task"][column] for s in seeds]
    return [np.array(t["confusion_matrix"]) for t in task], list(task[0]["per_class_f1"])


def plot_confusion(metrics: dict, title: str = "", column: str | None = None):
    """Row-normalised test confusion matrix summed over seeds (rows: true class)."""
    cms, names = _confusion_data(metrics, column)
    cm = np.sum(cms, axis=0).astype(float)
    norm = cm / np.clip(cm.sum(1, keepdims=True), 1, None)
    k = len(names)
    fig, ax = plt.subplots(figsize=(0.45 * k + 3, 0.45 * k + 2.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), names, rotation=90, fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set(xlabel="predicted class", ylabel="true class (published label)")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    n = len(cms)
    ax.set_title(synthetic_title(title or f"{metrics['model']}: test confusion", metrics.get("dataset"))
                 + f"\nsummed over {_seeds_text(n)}, n = {int(cm.sum() / n):,} test neurons per seed",
                 fontsize=9)
    fig.tight_layout()
    return fig


def plot_run_summary(metrics: dict):
    """Row-normalised test confusion matrix (first seed) and per-class F1 (mean ± std over
    seeds) of one run, with the ceiling when the run has one."""
    import seaborn as sns

    seed = metrics["seeds"][0]
    names = metrics.get("class_names") or seed.get("class_names") or list(seed["test_per_class_f1"])
    cm = np.asarray(seed["test_confusion_matrix"], float)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.8), gridspec_kw={"width_ratios": [1.3, 1]})
    sns.heatmap(cm / cm.sum(1, keepdims=True).clip(1), ax=axes[0], cmap="Blues", vmin=0, vmax=1,
                xticklabels=names, yticklabels=names, cbar_kws={"label": "fraction of true class"})
    axes[0].set(xlabel="predicted class", ylabel="true class (published label)",
                title=f"test confusion (seed {seed['seed']}, n = {int(cm.sum()):,})")
    # None marks a class absent from a seed's test split: left out of that class's mean
    f1 = np.array([[np.nan if s["test_per_class_f1"].get(n) is None else s["test_per_class_f1"][n]
                    for n in names] for s in metrics["seeds"]], dtype=float)
    axes[1].barh(names, np.nanmean(f1, 0), xerr=np.nanstd(f1, 0, ddof=1) if len(f1) > 1 else None,
                 color="#55a868")
    axes[1].invert_yaxis()
    axes[1].set(xlim=(0, 1), xlabel="test F1", title="per-class F1")
    if metrics.get("ceiling"):
        axes[1].axvline(metrics["ceiling"]["macro_f1"], color="k", ls="--", lw=1,
                        label="generator ceiling (macro-F1)")
        axes[1].legend(frameon=False, loc="lower left", bbox_to_anchor=(0, 1.06), fontsize=8)
    m, s, n = metrics["mean"], metrics["std"], len(metrics["seeds"])
    pm = (lambda k: f" ± {s.get(k, 0):.3f}") if n > 1 else (lambda k: "")
    fig.suptitle(f"{metrics.get('dataset', '')}: {metrics['model']} ({metrics['task']}, "
                 f"{_seeds_text(n)}): test accuracy {m['test_accuracy']:.3f}{pm('test_accuracy')}, "
                 f"macro-F1 {m['test_macro_f1']:.3f}{pm('test_macro_f1')}")
    fig.tight_layout()
    return fig


def per_class_f1(metrics: dict) -> dict[str, list[float]]:
    """Test F1 of every class over a run's seeds (first label column); absent classes skipped."""
    out: dict[str, list[float]] = {}
    for s in metrics["seeds"]:
        f1 = s.get("test_per_class_f1") or next(iter(s["per_task"].values()))["per_class_f1"]
        for name, v in f1.items():
            if v is not None:
                out.setdefault(name, []).append(float(v))
    return out


def plot_per_class_f1(runs: dict[str, dict], dependency: dict | None = None, title: str = ""):
    """Per-class test F1 (mean over seeds, bars: ± std) of every run, classes grouped by the
    view their synthetic design depends on (``synapse``, ``wiring``, ``both``)."""
    scores = {label: per_class_f1(m) for label, m in runs.items() if m.get("seeds")}
    classes = sorted({c for v in scores.values() for c in v},
                     key=lambda c: ({"synapse": 0, "wiring": 1}.get((dependency or {}).get(c), 2), c))
    fig, ax = plt.subplots(figsize=(0.55 * len(classes) + 3, 4.2))
    width = 0.8 / max(len(scores), 1)
    for j, (label, f1) in enumerate(scores.items()):
        x = np.arange(len(classes)) + (j - (len(scores) - 1) / 2) * width
        mean = [np.mean(f1.get(c, [np.nan])) for c in classes]
        std = [np.std(f1[c], ddof=1) if len(f1.get(c, [])) > 1 else 0.0 for c in classes]
        ax.bar(x, mean, width * 0.9, yerr=std, capsize=2, label=label)
    names = [f"{c}\n({(dependency or {}).get(c, '')})" if dependency else c for c in classes]
    ax.set_xticks(range(len(classes)), names, rotation=90, fontsize=8)
    ax.set(ylabel="test F1", ylim=(0, 1.05), xlabel="class (what the synthetic design makes it depend on)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=min(len(scores), 5), frameon=False)
    n = max(len(m["seeds"]) for m in runs.values() if m.get("seeds"))
    title = synthetic_title(title or "per-class F1", runs_dataset(runs))
    ax.set_title(title + f" (mean ± std over {_seeds_text(n)})", fontsize=9, pad=24)
    fig.tight_layout()
    return fig


def task_figures(result, out_dir, confusion_model: str = "hybrid") -> list[Path]:
    """Ablation, learning curves and the fused model's confusion of a
    :class:`~synhelpers.drivers.ablation.TaskResult`; returns the written paths."""
    what = {"cell_class": "Cell class", "nt": "Neurotransmitter"}.get(result.task, result.task)
    params = (result.task, result.dataset, f"{result.seeds} seeds")
    transductive = {k.split("/")[0]: v for k, v in result.runs.items() if k.endswith("/transductive")}
    ceiling = result.ceiling["macro_f1"] if result.ceiling else None
    runs = dict(result.runs)
    if getattr(result, "baseline", None):  # fitted on the same graph and split
        runs.setdefault("baseline/transductive", result.baseline)
    paths = save_figure(plot_ablation(runs, ceiling, f"{what} on {result.dataset}"),
                        out_dir, figure_name("ablation", *params))
    paths += save_figure(plot_learning_curves(transductive, f"{what} on {result.dataset}"),
                         out_dir, figure_name("learning_curves", *params))
    key = f"{confusion_model}/transductive"
    if key in result.runs:
        fig = plot_confusion(result.runs[key], f"{confusion_model} on {result.dataset}: test confusion")
        paths += save_figure(fig, out_dir, figure_name("confusion", confusion_model, *params))
    return paths


def _label_column(metrics: dict) -> str:
    """The label column a run predicts (``task`` ``nt`` is ``predictedNt``; a baseline's task is
    its label column already)."""
    return {"nt": "predictedNt"}.get(metrics.get("task"), metrics.get("task") or "")


def make_run_figures(runs_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """A summary figure for every ``runs_dir/*/metrics.json`` that has a confusion matrix.

    A run that records no generator ceiling (a trained model) gets the ceiling of another run
    in ``runs_dir`` of the same dataset and label column (the baseline, which reads it from
    ``synthetic.json``), so both summaries of the quickstart draw the same line.
    """
    runs = {mf: read_json(mf) for mf in sorted(Path(runs_dir).glob("*/metrics.json"))}
    ceilings = {(m.get("dataset"), _label_column(m)): m["ceiling"] for m in runs.values()
                if m.get("ceiling")}
    paths = []
    for mf, m in runs.items():
        if m.get("seeds") and "test_confusion_matrix" in m["seeds"][0]:
            if not m.get("ceiling") and (m.get("dataset"), _label_column(m)) in ceilings:
                m = {**m, "ceiling": ceilings[m.get("dataset"), _label_column(m)]}
            name = figure_name("run_summary", mf.parent.name, m.get("task"), m.get("dataset"))
            paths += save_figure(plot_run_summary(m), out_dir, name)
    return paths

"""Several models, both modes, N seeds, with saved runs reused; and ``run_task``, the whole
comparison behind the training notebooks (one call per task, so 03 and 04 share their code).

A run folder that already holds the same settings *and* was trained on the same graph
(``data_fingerprint``; see :mod:`.run_folder`) is reused, so tables and figures are
regenerated from saved runs; an interrupted one resumes at the seed that was cut off; one
of other settings is replaced. After a change to the model code, pass ``retrain=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..answers.results import load_runs, summary_table
from ..graph import GraphConfig, build_cached, graph_fingerprint
from ..io import read_json
from ..models.config import TASK_COLUMNS
from ..tables.synthetic import SyntheticConfig, ensure_synthetic, write_individuals
from ..train.baseline import run_baseline
from ..train.config import BaselineConfig, TrainConfig
from ..train.run import run_training
from ..train.run_folder import run_state
from . import profile as profiles

__all__ = ["run_ablation", "run_task", "run_held_out", "TaskResult", "CEILING_KEYS"]

#: Task -> the keys of ``synthetic.json`` holding its ceiling (macro-F1, accuracy).
CEILING_KEYS = {"cell_class": ("ceiling_macro_f1", "ceiling"), "nt": ("nt_ceiling_macro_f1", "nt_ceiling")}


def _report(name: str, mode: str, how: str, res: dict) -> None:
    if res.get("not_applicable"):
        print(f"{name:13s} {mode:12s} not applicable: per-neuron table, no unseen neurons")
        return
    m, s, n = res["mean"], res["std"], len(res["seeds"])
    spread = f" ± {s['test_macro_f1']:.3f}" if n > 1 else ""
    print(f"{name:13s} {mode:12s} {how}: test macro-F1 {m['test_macro_f1']:.3f}{spread} "
          f"({n} seed{'s' if n != 1 else ''}, {m['epoch_time_s']:.2f} s/epoch)", flush=True)


def run_ablation(data, runs_dir, task: str, models, modes=("transductive",), *, seeds: int = 3,
                 retrain: bool = False, verbose: bool = True, **train_kw) -> dict[str, Path]:
    """Train every (model, mode) for ``seeds`` seeds; returns ``{"model/mode": run folder}``.

    ``modes`` maps to models either as a tuple (all models in all modes) or as a dict
    ``{mode: [models]}``. ``train_kw`` are further :class:`TrainConfig` fields.
    """
    plan = modes if isinstance(modes, dict) else {m: list(models) for m in modes}
    fingerprint = graph_fingerprint(data)
    train_kw.setdefault("progress", "none")
    out: dict[str, Path] = {}
    for mode, names in plan.items():
        for name in names:
            cfg = TrainConfig(model=name, task=task, mode=mode, seeds=seeds, **train_kw)
            run_dir = Path(runs_dir) / f"{name}_{mode}"
            state = "retrain" if retrain else run_state(run_dir, cfg, fingerprint)
            # the ablation owns its run folders: one of other settings is replaced
            res = run_training(data, cfg, run_dir, overwrite=state in ("retrain", "other"))
            how = {"complete": "reused", "partial": "resumed"}.get(state, "trained")
            out[f"{name}/{mode}"] = run_dir
            if verbose:
                _report(name, mode, how, res)
    return out


@dataclass
class TaskResult:
    """Everything a training notebook shows, read back from the saved runs."""

    task: str
    dataset: str
    runs: dict[str, dict]          # "model/mode" -> metrics.json
    table: pd.DataFrame            # summary_table, ceiling as the last row
    ceiling: dict | None           # {"macro_f1", "accuracy"} of the synthetic generator
    class_dependency: dict | None  # synthetic class -> "synapse" | "wiring" | "both"
    seeds: int
    n_neurons: int
    baseline: dict | None = None   # metrics.json of the logistic-regression baseline, same split


def run_task(task: str, *, profile: str | None = None, models=("sage", "synapse_only", "hybrid", "original"),
             inductive_models=("sage", "hybrid", "original"), seeds: int | None = None,
             max_epochs: int | None = None, retrain: bool = False, **train_kw) -> TaskResult:
    """The ablation of one task on the profile's synthetic connectome, from saved runs when
    they match (see :func:`run_ablation`).

    Args:
        task: ``cell_class`` or ``nt``. profile: ``default`` / ``small`` / None (environment).
        models / inductive_models: registry names per mode. seeds, max_epochs: None = profile's.
        train_kw: other :class:`TrainConfig` fields (``lr``, ``patience`` ...).
    """
    P = profiles.resolve(profile)
    seeds, max_epochs = seeds or P.seeds, max_epochs or P.max_epochs
    tables_dir = P.data_dir / "synthetic"
    ensure_synthetic(SyntheticConfig(n_neurons=P.n_neurons, seed=0), tables_dir)
    data = build_cached(tables_dir, tables_dir / "graph", GraphConfig(min_class_count=P.min_class_count))
    meta = read_json(tables_dir / "synthetic.json")
    f1_key, acc_key = CEILING_KEYS[task]
    ceiling = {"macro_f1": meta[f1_key], "accuracy": meta[acc_key]}
    run_dirs = run_ablation(data, P.runs_dir / f"train_{task}", task, models,
                            {"transductive": list(models), "inductive": list(inductive_models)},
                            seeds=seeds, max_epochs=max_epochs, retrain=retrain, **train_kw)
    runs = load_runs(run_dirs)
    table = summary_table(runs, ceiling_macro_f1=ceiling["macro_f1"], ceiling_accuracy=ceiling["accuracy"])
    baseline = run_baseline(tables_dir / "graph", P.runs_dir / f"train_{task}" / "baseline",
                            BaselineConfig(label=TASK_COLUMNS[task][0]))
    return TaskResult(task, data.dataset_name, runs, table, ceiling,
                      meta.get("class_dependency") if task == "cell_class" else None, seeds,
                      int(data.num_nodes), baseline)


def _individuals(P, n_neurons: int, k: int, mirror) -> list[Path]:
    """The profile's K synthetic individuals (written once; rewritten if the settings changed)."""
    suffix = f"_mirror{'-'.join(map(str, mirror))}" if mirror else ""
    root = P.data_dir / f"individuals_{n_neurons}x{k}{suffix}"
    cfg = SyntheticConfig(n_neurons=n_neurons, seed=0)
    marker = root / f"ind{k - 1}" / "synthetic.json"
    if not marker.exists() or read_json(marker)["config"]["mirror"] != (k - 1 in set(mirror)):
        write_individuals(cfg, k, root, mirror=mirror)
    return [root / f"ind{i}" for i in range(k)]


def run_held_out(*, profile: str | None = None, n_neurons: int | None = None, individuals: int = 4,
                 mirror=(), models=("sage", "synapse_only", "hybrid"), seeds: int | None = None,
                 splits: int = 1, max_epochs: int | None = None, retrain: bool = False,
                 tag: str = "", **train_kw) -> TaskResult:
    """Train on K-1 synthetic individuals and test on the last one (cell class), with the
    logistic-regression baseline on the same splits; every saved run is reused when it matches.

    Args:
        n_neurons: neurons per individual (None: half the profile's connectome size).
        mirror: individuals whose frame is mirrored. splits: train/val re-draws among the
            training individuals (the held-out one stays the test split).
        tag: appended to the runs folder's name, so runs with other ``train_kw`` (e.g.
            ``augment="mirror_x"``) sit beside the plain ones instead of replacing them.
    """
    P = profiles.resolve(profile)
    seeds, max_epochs = seeds or P.seeds, max_epochs or P.max_epochs
    n_neurons = n_neurons or max(P.n_neurons // 2, 150)
    paths = _individuals(P, n_neurons, individuals, tuple(mirror))
    held_out = paths[-1].name
    graph_dir = paths[0].parent / f"graph_test_{held_out}"
    data = build_cached(paths, graph_dir, GraphConfig(labels=("cell_class",), test_connectome=held_out,
                                                      min_class_count=P.min_class_count))
    runs_dir = P.runs_dir / f"held_out_{paths[0].parent.name}{tag}"
    run_dirs = run_ablation(data, runs_dir, "cell_class", models, {"transductive": list(models)},
                            seeds=seeds, splits=splits, max_epochs=max_epochs, retrain=retrain, **train_kw)
    run_dirs["baseline/transductive"] = runs_dir / "baseline"
    run_baseline(graph_dir, run_dirs["baseline/transductive"], BaselineConfig(splits=splits))
    runs = load_runs(run_dirs)
    meta = read_json(paths[-1] / "synthetic.json")
    ceiling = {"macro_f1": meta["ceiling_macro_f1"], "accuracy": meta["ceiling"]}
    table = summary_table(runs, ceiling_macro_f1=ceiling["macro_f1"], ceiling_accuracy=ceiling["accuracy"])
    return TaskResult("cell_class", f"{data.dataset_name}, test: {held_out}", runs, table, ceiling,
                      meta["class_dependency"], seeds, int(data.num_nodes))

"""Commands of the train stage: ``train``, ``baseline`` and ``models`` (the answers of a saved
run, ``predict``, ``embed`` and ``suggest``, are in :mod:`synhelpers.answers.cli`).

Example::

    python -m synhelpers train --data data/synthetic/graph --model hybrid --seeds 3 --out runs/hybrid
    python -m synhelpers baseline --graph data/synthetic/graph --out runs/baseline
    python -m synhelpers predict --run runs/hybrid --data data/synthetic/graph --out predictions.parquet
    python -m synhelpers embed --run runs/hybrid --data data/synthetic/graph --out embeddings.parquet

Defaults come from :class:`~synhelpers.train.config.TrainConfig` and
:class:`~synhelpers.train.config.BaselineConfig`, so they have one home.
"""

from __future__ import annotations

import argparse

from ..cliargs import (
    existing_dir,
    nonneg_int,
    parse_value,
    plural,
    positive_int,
    writable_dir,
)
from ..drivers.profile import apply_profile_caps
from ..models.config import TASK_COLUMNS
from .cli_options import (
    add_budget_args,
    add_fewer_args,
    add_scale_args,
    scale_fields,
    with_fewer_args,
)
from .config import MODES, BaselineConfig, TrainConfig

__all__ = ["register", "parse_overrides", "plural"]


def parse_overrides(items: list[str], model: str) -> dict:
    """``["gnn=gat", "hidden=32"]`` -> checked ``ModelConfig`` overrides for ``model``.

    Example:
        >>> parse_overrides(["hidden=32", "gnn=gat"], "hybrid")
        {'hidden': 32, 'gnn': 'gat'}

    Raises:
        ConfigError: malformed item, unknown field (the message lists the fields), a bad value,
            or a field the model's name fixes.
    """
    from ..errors import ConfigError
    from ..models import ModelConfig, get_spec

    overrides = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--set {item!r}: expected FIELD=VALUE")
        overrides[key.strip()] = parse_value(value)
    unknown = sorted(set(overrides) - set(ModelConfig.field_names()))
    if unknown:
        raise ConfigError(f"--set: unknown model setting(s) {unknown}; settings are "
                          f"{', '.join(ModelConfig.field_names())}")
    try:  # typed as the fields are: pair_stats=no is False, not the truthy string "no"
        overrides = ModelConfig.check_overrides(overrides)
        ModelConfig(**overrides)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"--set {' '.join(items)}: {e}") from None
    fixed = {k: v for k, v in get_spec(model).fixed.items() if k in overrides and overrides[k] != v}
    if fixed:
        raise ConfigError(f"--set: model {model!r} fixes {fixed}; use --model hybrid --set ... "
                          f"or the model named after the setting")
    return overrides


def _check_model(name: str) -> None:
    from ..errors import ConfigError
    from ..models import list_models

    names = [m.name for m in list_models()]
    if name not in names:
        raise ConfigError(f"--model {name!r}: unknown model; models are {', '.join(names)}")


def _loss_weights(items: list[str]) -> dict[str, float]:
    """``["cell_class=2"]`` -> ``{"cell_class": 2.0}``; ConfigError for a malformed item."""
    from ..errors import ConfigError

    weights = {}
    for item in items:
        k, eq, v = item.partition("=")
        try:
            weights[k] = float(v)
        except ValueError:
            raise ConfigError(f"--loss-weight {item!r}: expected COLUMN=NUMBER") from None
        if not eq or not k or not weights[k] >= 0:
            raise ConfigError(f"--loss-weight {item!r}: expected COLUMN=NUMBER with NUMBER >= 0")
    return weights


def _check_flags(args: argparse.Namespace) -> None:
    """Refuse flags that contradict each other or would do nothing (one line naming the flag)."""
    import math

    from ..errors import ConfigError
    from .config import MAX_SEED, PRECISIONS

    labels = list(args.label or ())
    if len(set(labels)) != len(labels):
        raise ConfigError(f"--label {' '.join(labels)}: a column given twice; give each once")
    if args.task and labels and labels != list(TASK_COLUMNS[args.task]):
        raise ConfigError(f"--task {args.task} means --label {' '.join(TASK_COLUMNS[args.task])}, "
                          f"not --label {' '.join(labels)}; give one of the two")
    for flag, value in (("--lr", args.lr), ("--weight-decay", args.weight_decay),
                        ("--aux-weight", args.aux_weight)):
        if not math.isfinite(value):
            raise ConfigError(f"{flag} {value}: must be a finite number")
    if args.first_seed + args.seeds - 1 > MAX_SEED:
        raise ConfigError(f"--first-seed {args.first_seed} with --seeds {args.seeds}: seeds must "
                          f"be at most {MAX_SEED} (numpy's range)")
    if args.precision is not None and args.precision not in PRECISIONS:
        raise ConfigError(f"--precision {args.precision!r}: not a Lightning precision; choose "
                          f"from {', '.join(PRECISIONS)}")
    if args.fanouts is not None and args.batch_size is None:
        raise ConfigError("--fanouts: read in mini-batch mode only; add --batch-size N (or "
                          "drop --fanouts)")
    _check_accelerator(args.accelerator)


def _check_accelerator(accelerator: str) -> None:
    """``--accelerator``: one Lightning knows, and a GPU only where one is."""
    from ..errors import ConfigError

    known = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
    if accelerator not in known:
        raise ConfigError(f"--accelerator {accelerator!r}: choose from {', '.join(known)}")
    if accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"--accelerator {accelerator}: no CUDA GPU is visible here; use "
                              "--accelerator cpu (or auto)")


def _train_config(**fields) -> TrainConfig:
    """``TrainConfig(**fields)``; a value it refuses becomes a one-line ConfigError naming it."""
    from ..errors import ConfigError

    try:
        return TrainConfig(**fields)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"train settings: {e} (see --help)") from None


def _train(args: argparse.Namespace) -> int:
    apply_profile_caps(args, ("max_epochs", "min_epochs", "seeds", "splits"))  # prints what it capped
    _check_model(args.model)
    _check_flags(args)
    overrides = parse_overrides(args.set, args.model)
    weights = _loss_weights(args.loss_weight)
    devices = int(args.devices) if args.devices.isdigit() else args.devices
    cfg = _train_config(
        model=args.model, task=args.task, labels=tuple(args.label or ()), mode=args.mode,
        seeds=args.seeds, first_seed=args.first_seed, splits=args.splits,
        max_epochs=args.max_epochs, min_epochs=args.min_epochs, patience=args.patience,
        lr=args.lr, weight_decay=args.weight_decay, loss_weights=weights,
        aux_weight=args.aux_weight, accelerator=args.accelerator, devices=devices,
        precision=args.precision, num_threads=args.threads,
        progress="none" if args.quiet else args.progress, model_overrides=overrides,
        labelled=args.labelled, labels_per_class=args.labels_per_class,
        label_context=args.label_context, **scale_fields(args))
    cfg = with_fewer_args(cfg, args)
    from ..graph.cache import load_data

    data = load_data(args.data)
    if not args.label and not args.task:
        print(f"labels: {', '.join(data.label_columns)} (every label column of the graph; "
              "choose with --label)")
    from .run import run_training  # Lightning: imported once the settings are known good

    finished = (args.out / "metrics.json").exists() and not args.overwrite
    res = run_training(data, cfg, args.out, overwrite=args.overwrite, data_path=args.data)
    if res.get("rank"):  # a data-parallel process other than rank 0: rank 0 reports
        return 0
    if finished:  # same settings (else run_training refused): nothing was trained again
        print(f"{args.out} already holds this run; reused (--overwrite to train it again)")
    if "not_applicable" in res:
        print(f"not applicable: {res['not_applicable']}")
        return 0
    mean, std = res["mean"], res["std"]
    n = len(res["seeds"])
    spread = (lambda k: f" ± {std[k]:.3f}") if n > 1 else (lambda k: "")
    runs = plural(n, "seed") if args.splits == 1 else f"{plural(args.splits, 'split')} x {plural(args.seeds, 'seed')}"
    print(f"{args.model} {res['task']} ({args.mode}, {runs}): "
          f"test macro-F1 {mean['test_macro_f1']:.3f}{spread('test_macro_f1')}, "
          f"accuracy {mean['test_accuracy']:.3f}{spread('test_accuracy')}, "
          f"epoch {mean['epoch_time_s']:.3f} s -> {args.out}/metrics.json")
    _print_per_class(res)
    return 0


def _baseline(args: argparse.Namespace) -> int:
    from .baseline import run_baseline

    apply_profile_caps(args, ("splits",))  # prints what it capped
    r = run_baseline(args.graph, args.out, BaselineConfig(label=args.label, splits=args.splits,
                                                          labelled=args.labelled,
                                                          labels_per_class=args.labels_per_class))
    m, sd = r["mean"], r["std"]
    ceil = r.get("ceiling")
    extra = (f" (synthetic ceiling: accuracy {ceil['accuracy']:.3f}, macro-F1 {ceil['macro_f1']:.3f})"
             if ceil else "")
    pm = (lambda k: f" ± {sd[k]:.3f}") if args.splits > 1 else (lambda k: "")
    print(f"{r['model']} on {r['dataset']}, {args.label} ({plural(args.splits, 'split')}): "
          f"test accuracy {m['test_accuracy']:.3f}{pm('test_accuracy')}, macro-F1 "
          f"{m['test_macro_f1']:.3f}{pm('test_macro_f1')}{extra} -> {args.out}/metrics.json")
    return 0


def _models(args: argparse.Namespace) -> int:
    from ..models import list_models

    for spec in list_models():
        ind = "" if spec.inductive else "  [transductive only]"
        print(f"{spec.name:13s} needs {spec.views:22s} {spec.description}{ind}")
    return 0


def _add_safety_args(p: argparse.ArgumentParser) -> None:
    """``--overwrite``: the one way to replace a run made with other settings."""
    p.add_argument("--overwrite", action="store_true",
                   help="replace a run in --out made with other settings or on another graph "
                        "(the files the run recorded as its own are deleted first, nothing else; "
                        "a folder that holds no run is refused); "
                        "without it such a rerun is refused, and a rerun with the same settings "
                        "resumes at the first unfinished seed")


def _register_train(subparsers) -> None:
    d = TrainConfig()
    p = subparsers.add_parser(
        "train", help="train a model for N seeds; writes metrics.json, checkpoints, TensorBoard logs",
        description="Train one registry model on a graph (or tables) folder with early stopping and "
                    "model selection on validation macro-F1; the test split is evaluated once per seed.")
    a = p.add_argument
    a("--data", type=existing_dir, required=True, help="graph folder (graph.pt) or tables folder")
    tasks = ", ".join(f"{k} ({'+'.join(v)})" for k, v in TASK_COLUMNS.items())
    a("--task", default=None, choices=list(TASK_COLUMNS), help=f"shorthand for --label: {tasks}")
    a("--label", nargs="+", metavar="COL",
      help="label column(s) to predict jointly, one head each (default: every label of the graph)")
    a("--model", default=d.model, help=f"registry name, see `python -m synhelpers models` (default {d.model})")
    a("--seeds", type=positive_int, default=d.seeds, help="number of seeds; mean ± std are reported")
    a("--first-seed", type=nonneg_int, default=d.first_seed, help="value of the first seed")
    a("--splits", type=positive_int, default=d.splits,
      help="repeat over K train/val/test splits (split 0: the graph's own); mean ± std over "
           "splits x seeds, the number to cite for small connectomes")
    a("--out", type=writable_dir, required=True, help="run folder, e.g. runs/hybrid")
    a("--mode", default=d.mode, choices=MODES,
      help="transductive: whole graph, test labels hidden; inductive: test neurons removed in training")
    a("--max-epochs", type=positive_int, default=d.max_epochs,
      help=f"epoch cap; an epoch is one full-graph step, or with --batch-size one pass over all "
           f"training neurons (default {d.max_epochs})")
    a("--patience", type=positive_int, default=d.patience,
      help=f"epochs without a better validation macro-F1 before stopping (default {d.patience})")
    a("--min-epochs", type=positive_int, default=d.min_epochs,
      help=f"never stop early before this many epochs (default {d.min_epochs})")
    a("--lr", type=float, default=d.lr, help=f"AdamW learning rate (default {d.lr})")
    a("--weight-decay", type=float, default=d.weight_decay, help=f"AdamW weight decay (default {d.weight_decay})")
    a("--loss-weight", action="append", default=[], metavar="COLUMN=W",
      help="loss weight of a label column in multitask training (repeatable; default 1)")
    a("--aux-weight", type=float, default=d.aux_weight,
      help=f"loss weight of a fused model's per-view heads (default {d.aux_weight})")
    a("--accelerator", default=d.accelerator, help="Lightning accelerator: auto, cpu, gpu")
    a("--devices", default=str(d.devices), help="Lightning devices, e.g. 1, 2, auto")
    a("--precision", default=None, help="Lightning precision; default bf16-mixed on CUDA, 32-true on CPU")
    a("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's)")
    a("--set", action="append", default=[], metavar="FIELD=VALUE",
      help="override a model setting, e.g. --set gnn=gat --set set_size=32 (repeatable)")
    a("--progress", default="auto", choices=["auto", "lines", "bar", "none"],
      help="per-epoch report: auto = one line per epoch (a bar in Jupyter)")
    a("--quiet", action="store_true", help="no per-epoch report")
    _add_safety_args(p)
    add_scale_args(p)
    add_fewer_args(p)
    p.set_defaults(func=_train)


def _print_per_class(res: dict) -> None:
    """Per-class test F1 (mean over seeds) of every label column, one line each."""
    import numpy as np

    for c in res.get("label_columns", []):
        per = [s["per_task"][c]["per_class_f1"] for s in res["seeds"]]
        names = list(per[0]) if per else []
        vals = {n: [p[n] for p in per if p.get(n) is not None] for n in names}
        text = ", ".join(f"{n} {np.mean(v):.2f}" for n, v in vals.items() if v)
        print(f"per-class test F1 ({c}): {text}")


def register(subparsers) -> None:
    """Add the ``train``, ``baseline`` and ``models`` commands."""
    _register_train(subparsers)
    b = BaselineConfig()
    p = subparsers.add_parser("baseline", help="fit the quick logistic-regression baseline",
                              description="Logistic regression on wiring and synapse-summary "
                                          "features; C chosen on validation, test scored once.")
    p.add_argument("--graph", type=existing_dir, required=True, help="graph folder (from `build`)")
    p.add_argument("--out", type=writable_dir, required=True, help="run folder; metrics.json goes there")
    p.add_argument("--label", default=b.label, help=f"label column (default {b.label})")
    p.add_argument("--splits", type=positive_int, default=b.splits,
                   help="repeat over K splits, drawn as `train --splits K` draws them")
    add_budget_args(p)
    p.set_defaults(func=_baseline)
    m = subparsers.add_parser("models", help="list the model registry and the views each model needs")
    m.set_defaults(func=_models)

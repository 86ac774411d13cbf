"""Commands of stage 3: ``train``, ``baseline``, ``models``, and the answers of a saved run:
``predict`` and ``embed``.

Example::

    python -m synhelpers train --data data/synthetic/graph --model hybrid --seeds 3 --out runs/hybrid
    python -m synhelpers baseline --graph data/synthetic/graph --out runs/baseline
    python -m synhelpers predict --run runs/hybrid --data data/synthetic/graph --out predictions.parquet
    python -m synhelpers embed --run runs/hybrid --data data/synthetic/graph --out embeddings.parquet

Defaults come from :class:`~synhelpers.runs.config.TrainConfig` and
:class:`~synhelpers.runs.config.BaselineConfig`, so they have one home.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..cliargs import existing_dir, nonneg_int, positive_int, writable_dir
from ..models.config import TASK_COLUMNS
from ..profile import apply_profile_caps
from .config import MODES, BaselineConfig, TrainConfig

__all__ = ["register", "parse_overrides", "plural"]


def plural(n: int, word: str) -> str:
    """``"1 seed"``, ``"3 seeds"``.

    Example:
        >>> plural(1, "seed"), plural(2, "seed")
        ('1 seed', '2 seeds')
    """
    return f"{n} {word}{'' if n == 1 else 's'}"


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(items: list[str], model: str) -> dict:
    """``["gnn=gat", "hidden=32"]`` -> checked ``ModelConfig`` overrides for ``model``.

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
        overrides[key.strip()] = _parse_value(value)
    unknown = sorted(set(overrides) - set(ModelConfig.field_names()))
    if unknown:
        raise ConfigError(f"--set: unknown model setting(s) {unknown}; settings are "
                          f"{', '.join(ModelConfig.field_names())}")
    try:
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


def _train_config(**fields) -> TrainConfig:
    """``TrainConfig(**fields)``; a value it refuses becomes a one-line ConfigError naming it."""
    from ..errors import ConfigError

    try:
        return TrainConfig(**fields)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"train settings: {e} (see --help)") from None


def _train(args: argparse.Namespace) -> int:
    note = apply_profile_caps(args, ("max_epochs", "min_epochs", "seeds", "splits"))
    if note:
        print(note)
    _check_model(args.model)
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
        **_scale_fields(args))
    from ..graph.cache import load_data

    data = load_data(args.data)
    if not args.label and not args.task:
        print(f"labels: {', '.join(data.label_columns)} (every label column of the graph; "
              "choose with --label)")
    from .train import run_training  # Lightning: imported once the settings are known good

    finished = (args.out / "metrics.json").exists() and not args.overwrite
    res = run_training(data, cfg, args.out, overwrite=args.overwrite)
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
    return 0


def _baseline(args: argparse.Namespace) -> int:
    from .baseline import run_baseline

    note = apply_profile_caps(args, ("splits",))
    if note:
        print(note)
    r = run_baseline(args.graph, args.out, BaselineConfig(label=args.label, splits=args.splits))
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
                        "(its metrics.json, run.json, seed folders and logs are deleted first); "
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
    _add_scale_args(p)
    p.set_defaults(func=_train)


def _batch_size(text: str) -> int | str:
    """``--batch-size``: a positive int or ``auto``."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}")
    return value


def _fanout(text: str) -> int:
    """One ``--fanouts`` value: a positive int, or -1 for every neighbour."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 and value != -1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or -1 (all), got {text!r}")
    return value


def _add_scale_args(p) -> None:
    """Mini-batch and data-parallel flags (defaults from :class:`TrainConfig`)."""
    d = TrainConfig()
    a = p.add_argument
    a("--batch-size", type=_batch_size, default=d.batch_size, metavar="N|auto",
      help="train on mini-batches of N seed neurons per step and process, each with its sampled "
           "neighbourhood and synapse sets (auto: from free memory); an epoch is then one pass "
           "over all training neurons. Default: the full graph, one step per epoch")
    a("--fanouts", type=_fanout, nargs="+", default=list(d.fanouts), metavar="K",
      help=f"mini-batch mode: neighbours sampled per node, per direction and hop, one per GNN "
           f"layer, -1 = all (default {' '.join(map(str, d.fanouts))})")
    a("--eval-chunk", type=positive_int, default=d.eval_chunk_size, metavar="NODES",
      help="mini-batch mode: evaluate layer by layer over the whole graph, NODES target neurons "
           "at a time (default: the full graph when it fits in memory)")
    a("--loader-workers", type=nonneg_int, default=d.loader_workers,
      help="mini-batch mode: worker processes that sample and gather batches (default 0)")
    a("--num-nodes", type=positive_int, default=d.num_nodes,
      help="machines in a data-parallel run (read from torchrun or SLURM when left at 1)")
    a("--strategy", default=d.strategy,
      help="Lightning strategy (default auto: ddp when several processes run)")


def _scale_fields(args: argparse.Namespace) -> dict:
    """The :class:`TrainConfig` fields of :func:`_add_scale_args`'s flags."""
    return {"batch_size": args.batch_size, "fanouts": tuple(args.fanouts),
            "eval_chunk_size": args.eval_chunk, "loader_workers": args.loader_workers,
            "num_nodes": args.num_nodes, "strategy": args.strategy}


def register(subparsers) -> None:
    """Add the ``train``, ``baseline``, ``models``, ``predict`` and ``embed`` commands."""
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
    p.set_defaults(func=_baseline)
    m = subparsers.add_parser("models", help="list the model registry and the views each model needs")
    m.set_defaults(func=_models)
    _register_answers(subparsers)


# --------------------------------------------------------------------------- predict, embed


def _parquet_file(text: str) -> Path:
    """An output ``.parquet`` file whose folder exists or can be created."""
    p = Path(text)
    if p.suffix != ".parquet":
        raise argparse.ArgumentTypeError(f"{text}: expected a .parquet file name")
    writable_dir(str(p.parent))
    return p


def _answer_args(p, what: str) -> None:
    a = p.add_argument
    a("--run", type=existing_dir, required=True, help="run folder (metrics.json, seed*/best.ckpt)")
    a("--data", type=existing_dir, required=True,
      help="the graph (or tables) folder the run was trained on; with --new-connectome, tables "
           "of a connectome the run never saw")
    a("--out", type=_parquet_file, required=True, help=f"output file, e.g. {what}.parquet")
    a("--new-connectome", action="store_true",
      help="--data is a connectome the run never saw: aligned to the run's ROIs and classes and "
           "answered inductively (models that can; not the original design)")
    a("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's)")


def _predict(args: argparse.Namespace) -> int:
    import torch

    from .predict import predict, test_scores, write_predictions

    if args.threads:
        torch.set_num_threads(args.threads)
    df = predict(args.run, args.data, combine=args.combine, new_connectome=args.new_connectome)
    write_predictions(df, args.out)
    meta = df.attrs["synhelpers"]
    counts = df["split"].value_counts()
    scores = ", ".join(f"{c} {f1:.3f} (n = {n:,})" for c, (f1, n)
                       in test_scores(df, meta["label_names"]).items())
    how = (f"mean of {plural(len(meta['seeds']), 'seed')}" if args.combine == "mean"
           else f"seed {meta['seeds'][0]}")
    print(f"{meta['model']} ({how}): {len(df):,} neurons "
          f"({', '.join(f'{k} {v:,}' for k, v in counts.items())}); test macro-F1 {scores}"
          f" -> {args.out}")
    if meta["alignment"]:
        print(f"new connectome: {meta['alignment']}")
    return 0


def _embed(args: argparse.Namespace) -> int:
    import torch

    from .embed import embed, write_embeddings

    if args.threads:
        torch.set_num_threads(args.threads)
    df = embed(args.run, args.data, seed=args.seed, new_connectome=args.new_connectome)
    write_embeddings(df, args.out)
    meta = df.attrs["synhelpers"]
    dims = ", ".join(f"{k} {d}" for k, d in meta["dims"].items())
    print(f"{meta['model']} (seed {meta['seed']}): {len(df):,} neurons x ({dims}) float32 "
          f"-> {args.out}")
    return 0


def _register_answers(subparsers) -> None:
    """Add ``predict`` and ``embed`` (answers of a saved run, per neuron)."""
    p = subparsers.add_parser(
        "predict", help="per-neuron predictions of a saved run, as predictions.parquet",
        description="One row per neuron (unlabelled ones included): split, published label, "
                    "predicted class, its probability, the top 3 classes and the entropy, per "
                    "label column of the run.")
    _answer_args(p, "predictions")
    p.add_argument("--combine", default="mean", choices=["mean", "none"],
                   help="mean: average the class probabilities of the run's split-0 seeds; "
                        "none: the first seed alone (its test rows reproduce metrics.json)")
    p.set_defaults(func=_predict)
    e = subparsers.add_parser(
        "embed", help="per-neuron representations of a saved run, as embeddings.parquet",
        description="One row per neuron: the fused representation the heads read and each "
                    "view's part (wiring, synapse), as fixed-size float32 lists, from one seed.")
    _answer_args(e, "embeddings")
    e.add_argument("--seed", type=nonneg_int, default=None,
                   help="which seed's model (default: the run's first seed)")
    e.set_defaults(func=_embed)

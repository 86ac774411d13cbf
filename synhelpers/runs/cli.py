"""Commands ``train`` and ``models`` (see ``python -m synhelpers train --help``)."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a model for N seeds; writes metrics.json, checkpoints, TensorBoard logs",
        description="Train one registry model on a graph (or tables) folder with early stopping and "
                    "model selection on validation macro-F1; the test split is evaluated once.")
    p.add_argument("--data", required=True, help="graph folder (graph.pt) or tables folder")
    p.add_argument("--task", default="cell_class", choices=["cell_class", "nt", "both"])
    p.add_argument("--model", default="hybrid", help="registry name (see `python -m synhelpers models`)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds (mean and std reported)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--out", required=True, help="run folder, e.g. runs/hybrid")
    p.add_argument("--mode", default="transductive", choices=["transductive", "inductive"])
    p.add_argument("--max-epochs", type=int, default=200)
    p.add_argument("--patience", type=int, default=20)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--loss-weight", action="append", default=[], metavar="COLUMN=W",
                   help="multitask loss weight per label column (repeatable)")
    p.add_argument("--accelerator", default="auto", help="auto, cpu, gpu")
    p.add_argument("--devices", default="1", help="Lightning devices (e.g. 1, 2, auto)")
    p.add_argument("--precision", default=None, help="default: bf16-mixed on CUDA, 32-true on CPU")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a ModelConfig field, e.g. --set gnn=gat --set set_size=32")
    p.add_argument("--progress", action="store_true", help="show progress bars")
    p.set_defaults(func=_train)

    m = subparsers.add_parser("models", help="list the model registry")
    m.set_defaults(func=_models)


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _train(args: argparse.Namespace) -> int:
    from .config import TrainConfig
    from .train import run_training

    overrides = {}
    for item in args.set:
        k, _, v = item.partition("=")
        overrides[k] = _parse_value(v)
    weights = {}
    for item in args.loss_weight:
        k, _, v = item.partition("=")
        weights[k] = float(v)
    devices = int(args.devices) if args.devices.isdigit() else args.devices
    cfg = TrainConfig(model=args.model, task=args.task, mode=args.mode, seeds=args.seeds,
                      first_seed=args.first_seed, max_epochs=args.max_epochs, patience=args.patience,
                      lr=args.lr, weight_decay=args.weight_decay, loss_weights=weights,
                      accelerator=args.accelerator, devices=devices, precision=args.precision,
                      num_threads=args.threads, progress=args.progress, model_overrides=overrides)
    res = run_training(args.data, cfg, args.out)
    if "not_applicable" in res:
        print(f"not applicable: {res['not_applicable']}")
        return 0
    mean, std = res["mean"], res["std"]
    print(f"{args.model} {args.task} ({args.mode}, {len(res['seeds'])} seeds): "
          f"test macro-F1 {mean['test_macro_f1']:.3f} ± {std['test_macro_f1']:.3f}, "
          f"accuracy {mean['test_accuracy']:.3f} ± {std['test_accuracy']:.3f}, "
          f"epoch {mean['epoch_time_s']:.3f} s -> {args.out}/metrics.json")
    return 0


def _models(args: argparse.Namespace) -> int:
    from ..models import list_models

    for spec in list_models():
        ind = "" if spec.inductive else "  [transductive only]"
        print(f"{spec.name:14s} {spec.views:15s} {spec.description}{ind}")
    return 0

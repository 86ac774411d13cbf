"""Flag groups of ``train`` beyond the basics: mini-batch and data-parallel training
(:func:`add_scale_args`), augmentation, test-time augmentation and losses
(:func:`add_fewer_args`). Each comes with the function that turns the parsed flags into
:class:`~synhelpers.train.config.TrainConfig` fields. Torch-free, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse

from ..cliargs import budget_fraction, nonneg_int, parse_value, positive_int
from .config import TrainConfig

__all__ = ["add_scale_args", "scale_fields", "add_fewer_args", "with_fewer_args"]


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


def add_scale_args(p) -> None:
    """Mini-batch and data-parallel flags (defaults from :class:`TrainConfig`)."""
    d = TrainConfig()
    a = p.add_argument
    a("--batch-size", type=_batch_size, default=d.batch_size, metavar="N|auto",
      help="train on mini-batches of N seed neurons per step and process, each with its sampled "
           "neighbourhood and synapse sets (auto: from free memory); an epoch is then one pass "
           "over all training neurons. Default: the full graph, one step per epoch")
    a("--fanouts", type=_fanout, nargs="+", default=None, metavar="K",
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


def scale_fields(args: argparse.Namespace) -> dict:
    """The :class:`TrainConfig` fields of :func:`add_scale_args`'s flags."""
    fanouts = TrainConfig().fanouts if args.fanouts is None else tuple(args.fanouts)
    return {"batch_size": args.batch_size, "fanouts": fanouts,
            "eval_chunk_size": args.eval_chunk, "loader_workers": args.loader_workers,
            "num_nodes": args.num_nodes, "strategy": args.strategy}


def add_budget_args(p) -> None:
    """The label-budget flags, the same for ``train`` and ``baseline`` (so both draw the same
    labelled neurons: stratified, seeded by the split)."""
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--labelled", type=budget_fraction, default=None,
                        help="label budget: keep this fraction of each class's labelled training "
                             "neurons (stratified, seeded, at least 1 per class; saved in "
                             "OUT/splits/); validation and test are untouched")
    budget.add_argument("--labels-per-class", type=positive_int, default=None,
                        help="label budget: keep this many labelled training neurons per class")


def add_fewer_args(p) -> None:
    """Flags of augmentation, test-time augmentation and class-balanced losses."""
    d = TrainConfig()
    a = p.add_argument
    a("--augment", default=d.augment, metavar="NAME[,NAME]",
      help="point-set augmentation in training: rotate_x|y|z, mirror_x|y|z, scale, scale_aniso, "
           "jitter, dropout, conf_resample, each with optional :key=value (e.g. "
           f"rotate_z:theta=10,jitter); 'none' = off (default {d.augment})")
    a("--tta", type=positive_int, default=d.tta,
      help="test-time augmentation: average predictions over K views (view 0 unaugmented; "
           f"default {d.tta} = off)")
    a("--tta-augment", default=None, metavar="NAME[,NAME]",
      help="augmentation of the TTA views (default: the --augment value)")
    a("--loss", default=d.loss,
      help=f"training loss: ce, weighted_ce, focal or logit_adjusted (default {d.loss}); class "
           "counts come from the training labels")
    a("--loss-param", action="append", default=[], metavar="KEY=VALUE",
      help="loss parameter, e.g. --loss focal --loss-param gamma=2 (repeatable)")
    a("--label-context", action="store_true",
      help="give the model the known types of each neuron's partners (training labels only; "
           "the label trick keeps a neuron's own label out of its prediction)")
    add_budget_args(p)


def with_fewer_args(cfg: TrainConfig, args: argparse.Namespace) -> TrainConfig:
    """``cfg`` with the flags of :func:`add_fewer_args`, checked (ConfigError: one line)."""
    from dataclasses import replace

    from ..errors import ConfigError
    from .augmenting import point_augmentation
    from .losses import get_loss

    params = {}
    for item in args.loss_param:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--loss-param {item!r}: expected KEY=VALUE")
        params[key.strip()] = parse_value(value)
    try:
        get_loss(args.loss, **params)
        point_augmentation(args.augment)
        point_augmentation(args.tta_augment)
        return replace(cfg, augment=args.augment, tta=args.tta, tta_augment=args.tta_augment,
                       loss=args.loss, loss_params=params)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from None

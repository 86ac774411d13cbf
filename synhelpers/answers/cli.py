"""Commands that answer from a saved run: ``suggest`` (which neurons to annotate next),
``predict`` (per-neuron predictions) and ``embed`` (per-neuron representations).

Example::

    python -m synhelpers predict --run runs/hybrid --data data/synthetic/graph --out predictions.parquet
    python -m synhelpers embed --run runs/hybrid --data data/synthetic/graph --out embeddings.parquet
    python -m synhelpers suggest --run runs/hybrid --n 50 --strategy margin --out next.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cliargs import (
    coverage_fraction,
    existing_dir,
    nonneg_int,
    plural,
    positive_int,
    writable_dir,
)
from .config import STRATEGIES, SuggestConfig

__all__ = ["register", "register_answers", "register_suggest"]


def _suggest(args: argparse.Namespace) -> int:
    from ..io import atomic_path
    from ..outputs import check_output_file, record_file
    from .suggest import suggest

    out = check_output_file(args.out, (".csv",), "suggestions")  # before any work
    table = suggest(args.run, n=args.n, strategy=args.strategy, data=args.data, label=args.label,
                    seed_index=args.seed_index, mc_samples=args.mc_samples, seed=args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    record_file(out, "suggestions")
    print(f"{len(table)} neurons to annotate next ({args.strategy}) -> {args.out}")
    return 0


def register_suggest(subparsers) -> None:
    """Add the ``suggest`` command (active learning: which neurons to annotate next)."""
    p = subparsers.add_parser(
        "suggest", help="rank a trained run's unlabelled neurons for annotation (active learning)",
        description="Score every neuron without a label with the run's selected checkpoint and "
                    "write the N to annotate first: bodyId, score, current prediction and, for "
                    "coreset, the nearest labelled neuron.")
    a, d = p.add_argument, SuggestConfig()
    a("--run", type=existing_dir, required=True, help="run folder from `train` (metrics.json)")
    a("--n", type=positive_int, default=d.n, help=f"how many neurons to suggest (default {d.n})")
    a("--strategy", default=d.strategy, choices=STRATEGIES,
      help="margin/entropy: uncertain predictions; bald: MC-dropout disagreement; coreset: far "
           f"from every labelled neuron in the fused embedding; random (default {d.strategy})")
    a("--out", type=Path, required=True, help="CSV file to write, e.g. next.csv")
    a("--data", type=existing_dir, default=None,
      help="graph or tables folder (default: the run's recorded data_path)")
    a("--label", default=None, help="label column (default: the run's first)")
    a("--seed-index", type=nonneg_int, default=0, help="which seed's checkpoint (default 0: the first)")
    a("--mc-samples", type=positive_int, default=d.mc_samples,
      help=f"MC-dropout passes for bald (default {d.mc_samples})")
    a("--seed", type=nonneg_int, default=d.seed,
      help=f"random seed (random, bald, coreset; default {d.seed})")
    p.set_defaults(func=_suggest)


# --------------------------------------------------------------------------- predict, embed


def _parquet_file(text: str) -> Path:
    """An output ``.parquet`` file whose folder exists or can be created."""
    p = Path(text)
    if not text or p.suffix != ".parquet":
        raise argparse.ArgumentTypeError(f"{text!r}: expected a .parquet file name")
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

    from ..outputs import check_output_file, record_file
    from .predict import predict, test_scores, write_predictions

    check_output_file(args.out, (".parquet",), "predictions")  # before any work
    if args.threads:
        torch.set_num_threads(args.threads)
    df = predict(args.run, args.data, combine=args.combine, new_connectome=args.new_connectome,
                 coverage=args.coverage)
    write_predictions(df, args.out)
    record_file(args.out, "predictions")
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
    for c, r in meta.get("conformal", {}).items():
        t = r["test"]
        if t["n"]:
            print(f"{c}: prediction sets at coverage {r['target']:.2f} (calibrated on "
                  f"{r['calibration_neurons']:,} validation neurons): test coverage "
                  f"{t['coverage']:.3f}, mean set size {t['mean_set_size']:.2f}, "
                  f"{t['unknown_fraction']:.1%} answered unknown")
    return 0


def _embed(args: argparse.Namespace) -> int:
    import torch

    from ..outputs import check_output_file, record_file
    from .embed import embed, write_embeddings

    check_output_file(args.out, (".parquet",), "embeddings")  # before any work
    if args.threads:
        torch.set_num_threads(args.threads)
    df = embed(args.run, args.data, seed=args.seed, new_connectome=args.new_connectome)
    write_embeddings(df, args.out)
    record_file(args.out, "embeddings")
    meta = df.attrs["synhelpers"]
    dims = ", ".join(f"{k} {d}" for k, d in meta["dims"].items())
    print(f"{meta['model']} (seed {meta['seed']}): {len(df):,} neurons x ({dims}) float32 "
          f"-> {args.out}")
    return 0


def register_answers(subparsers) -> None:
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
    p.add_argument("--coverage", type=coverage_fraction, default=None,
                   help="add split-conformal prediction sets with this coverage, e.g. 0.9, "
                        "calibrated on the run's validation split: L__set, L__set_size and "
                        "L__answer ('unknown' unless the set holds one class)")
    p.set_defaults(func=_predict)
    e = subparsers.add_parser(
        "embed", help="per-neuron representations of a saved run, as embeddings.parquet",
        description="One row per neuron: the fused representation the heads read and each "
                    "view's part (wiring, synapse), as fixed-size float32 lists, from one seed.")
    _answer_args(e, "embeddings")
    e.add_argument("--seed", type=nonneg_int, default=None,
                   help="which seed's model (default: the run's first seed)")
    e.set_defaults(func=_embed)


def register(subparsers) -> None:
    """Add the answer commands: ``predict``, ``embed`` and ``suggest``."""
    register_answers(subparsers)
    register_suggest(subparsers)

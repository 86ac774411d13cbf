"""Command of stage 2: ``build`` (tables -> cached graph).

Examples::

    python -m synhelpers build --tables data/synthetic --out data/synthetic/graph
    python -m synhelpers build --tables data/ind/ind0 data/ind/ind1 data/ind/ind2 --test-connectome ind2 --out data/ind/graph
"""

from __future__ import annotations

import argparse

from ..cliargs import existing_dir, existing_file, nonneg_int, positive_int, writable_dir
from .config import GraphConfig

__all__ = ["register", "describe_labels"]


def describe_labels(data) -> list[str]:
    """One line per label column: classes kept, classes masked for being small, unlabelled."""
    lines = []
    for col in data.label_columns:
        info = data.label_info.get(col, {})
        kept = data.label_names[col]
        dropped = info.get("dropped_classes", {})
        masked = ", ".join(f"{k} ({v})" for k, v in sorted(dropped.items(), key=lambda kv: -kv[1]))
        lines.append(f"label {col}: {len(kept)} classes kept; "
                     f"{len(dropped)} masked below the minimum count{': ' + masked if masked else ''}; "
                     f"{info.get('n_unlabelled', 0):,} neurons unlabelled")
    return lines


def _build(args: argparse.Namespace) -> int:
    from .cache import build_cached

    cfg = GraphConfig(
        labels=tuple(args.label) if args.label else None,
        min_class_count=args.min_class_count, split_seed=args.split_seed,
        synapses=not args.no_synapses, test_connectome=args.test_connectome,
        label_map=str(args.label_map) if args.label_map else None)
    data = build_cached(args.tables, args.out, cfg, progress=not args.quiet, force=args.force)
    if not args.label:
        print(f"labels: {', '.join(data.label_columns) or 'none'} (the label columns the neurons "
              "table has; choose with --label)")
    for line in describe_labels(data):
        print(line)
    print(f"graph: {data.num_nodes:,} neurons, {data.edge_index.shape[1]:,} edges, "
          f"{data.x.shape[1]} node features -> {args.out}")
    return 0


def register(subparsers) -> None:
    """Add the ``build`` command."""
    d = GraphConfig()
    p = subparsers.add_parser(
        "build", help="build the cached neuron graph from tables",
        description="Build the neuron graph (CSR synapse sets, wiring features, labels, a "
                    "stratified split) and cache it: a rebuild with unchanged tables and "
                    "settings loads graph.pt instead.")
    p.add_argument("--tables", type=existing_dir, nargs="+", required=True, metavar="DIR",
                   help="tables folder(s) (neurons/connections[/synapses/sites/gap_junctions].parquet); "
                        "several folders build one graph of several connectomes")
    p.add_argument("--out", type=writable_dir, required=True,
                   help="output folder for graph.pt, split.parquet, graph.json")
    p.add_argument("--label", nargs="+", default=None, metavar="COL",
                   help="neuron column(s) to use as labels (default: the well-known label columns "
                        "the table has, e.g. cell_class, class, type, predictedNt)")
    p.add_argument("--test-connectome", default=None, metavar="NAME",
                   help="with several --tables: hold this connectome out as the whole test split "
                        "(its name, folder name or index); validation comes from the others")
    p.add_argument("--label-map", type=existing_file, default=None, metavar="CSV",
                   help="two-column CSV mapping connectome:label to a shared label name")
    p.add_argument("--min-class-count", type=positive_int, default=d.min_class_count,
                   help=f"classes with fewer labelled neurons are masked (default {d.min_class_count})")
    p.add_argument("--split-seed", type=nonneg_int, default=d.split_seed,
                   help=f"seed of the stratified 70/15/15 split (default {d.split_seed})")
    p.add_argument("--no-synapses", action="store_true",
                   help="skip the synapse point sets (wiring-only models)")
    p.add_argument("--force", action="store_true", help="rebuild even if the cache is valid")
    p.add_argument("--quiet", action="store_true", help="no stage timings")
    p.set_defaults(func=_build)

"""Command of stage 5: ``figures`` (graph figures and run summaries from saved files).

Example::

    python -m synhelpers figures --graph data/synthetic/graph --runs runs --out figures
"""

from __future__ import annotations

import argparse

from ..cliargs import existing_dir, writable_dir

__all__ = ["register"]


def _figures(args: argparse.Namespace) -> int:
    from ..graph import load_graph
    from ..outputs import claim_folder, record_file, register_kind
    from .graph import make_graph_figures
    from .runs import make_run_figures

    register_kind("figures", legacy=_figures_only)
    claim_folder(args.out, "figures")  # before any work: the user's folder, a run ... refused
    paths = make_graph_figures(load_graph(args.graph), args.out, args.label)
    if args.runs:
        paths += make_run_figures(args.runs, args.out)
    for p in paths:
        record_file(p, "figures")
        print(f"wrote {p}")
    return 0


def _figures_only(folder) -> str | None:
    """A figures folder of an older version (no marker): PNG and SVG files only."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    ok = entries and all(p.is_file() and p.suffix in (".png", ".svg") for p in entries)
    return "" if ok else None


def register(subparsers) -> None:
    """Add the ``figures`` command."""
    p = subparsers.add_parser("figures", help="draw graph figures and run summaries (PNG + SVG)",
                              description="Draw the graph's figures and a summary of every saved "
                                          "run (confusion, per-class F1) as PNG and SVG.")
    p.add_argument("--graph", type=existing_dir, required=True, help="graph folder (from `build`)")
    p.add_argument("--runs", type=existing_dir, default=None,
                   help="folder of run folders, each with a metrics.json")
    p.add_argument("--out", type=writable_dir, default="figures", help="output folder (default figures)")
    p.add_argument("--label", default="cell_class", help="label column that colours the figures")
    p.set_defaults(func=_figures)

"""Command line: ``python -m synhelpers COMMAND ...``.

Each command lives beside the code it runs, in a module that defines
``register(subparsers)``; that function adds the sub-parser and sets
``func=<callable(args) -> int | None>``. This file only lists the modules.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Modules that provide commands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "synhelpers.tables.synthetic",       # synth
    "synhelpers.graph.build",            # build
    "synhelpers.tables.download.cli",      # download
    "synhelpers.runs.baseline",  # baseline
    "synhelpers.runs.cli",      # train, models
    "synhelpers.figures.graph",  # figures
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m synhelpers",
        description="Synapse + connectome representation learning for FlyEM connectomes.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rc = args.func(args)
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

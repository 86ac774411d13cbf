"""Command line: ``python -m synhelpers COMMAND ...``.

Each stage has a ``cli.py`` beside its code that defines ``register(subparsers)``; that function
adds its sub-parsers and sets ``func=<callable(args) -> int | None>``. Those modules import
nothing heavy at module level, so ``--help`` answers at once; the commands import torch, PyG
and Lightning when they run.

Errors: the project's own errors (bad tables, bad settings, failed downloads) print as one line
and exit with 2. Anything unexpected prints one line too, saves the traceback to a file and
exits with 1. ``--debug`` (or ``SYNHELPERS_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
import traceback
import warnings

from . import __version__

#: Stage modules that provide commands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "synhelpers.tables.cli",    # synth, download
    "synhelpers.graph.cli",     # build
    "synhelpers.train.cli",     # train, baseline, models
    "synhelpers.answers.cli",   # predict, embed, suggest
    "synhelpers.figures.cli",   # figures
    "synhelpers.views.cli",     # view
)


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr (argparse prints the
    whole usage first, many lines): the command, the message, a pointer to ``--help``; exit 2.
    Sub-parsers inherit the class."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m synhelpers",
        description="Learn neuron representations from a connectome's wiring and its synapse "
                    "positions. Stages: synth/download -> build -> train/baseline -> figures.")
    parser.add_argument("--version", action="version", version=f"synhelpers {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks (also: SYNHELPERS_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).register(sub)
    return parser


def one_line(error: BaseException) -> str:
    """The message of ``error`` folded onto one line."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return text or type(error).__name__


def _is_project_error(error: BaseException) -> bool:
    from .errors import SynhelpersError

    if isinstance(error, SynhelpersError):
        return True
    # the data contract's and the downloads' errors (imported only when an error happened)
    from .tables.contract import TableError
    from .tables.download.errors import DownloadError

    return isinstance(error, (TableError, DownloadError))


def _save_traceback(error: BaseException) -> str:
    path = os.path.join(tempfile.gettempdir(), f"synhelpers-error-{int(time.time())}.txt")
    with open(path, "w") as f:
        traceback.print_exception(error, file=f)
    return path


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """The project's own warnings (a normalised table, a thin view) as one ``warning:`` line on
    stderr; other libraries' warnings as Python shows them."""
    if os.path.dirname(os.path.abspath(__file__)) in os.path.abspath(filename):
        print(f"warning: {one_line(message)}", file=file or sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 unexpected error, 2 bad input)."""
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("SYNHELPERS_DEBUG", "") not in ("", "0")
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _run(args, debug)


def _run(args: argparse.Namespace, debug: bool) -> int:
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the one place that turns errors into exit codes
        if debug:
            raise
        if _is_project_error(e):
            print(f"error: {one_line(e)}", file=sys.stderr)
            return 2
        where = _save_traceback(e)
        print(f"error: unexpected {type(e).__name__}: {one_line(e)} (traceback saved to {where}; "
              "rerun with --debug to see it)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

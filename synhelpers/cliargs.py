"""Argument types for the command line: each checks its value before any work starts and
says what is allowed (argparse turns the ``ArgumentTypeError`` into a one-line usage error)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

__all__ = ["positive_int", "nonneg_int", "int_in", "fraction", "existing_dir", "existing_file",
           "writable_dir", "choice_list"]


def positive_int(text: str) -> int:
    """An integer >= 1.

    Example:
        >>> positive_int("3")
        3
    """
    return int_in(1, None)(text)


def nonneg_int(text: str) -> int:
    """An integer >= 0."""
    return int_in(0, None)(text)


def int_in(lo: int | None, hi: int | None):
    """A type that accepts integers in ``[lo, hi]`` (either bound may be None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            rng = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
            raise argparse.ArgumentTypeError(f"must be {rng}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def number_in(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False):
    """A type that accepts numbers between ``lo`` and ``hi``, each end closed unless ``*_open``.

    Example:
        >>> number_in(0, 1, lo_open=True, hi_open=True)("0.9")
        0.9
    """
    interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        above = value > lo if lo_open else value >= lo
        below = value < hi if hi_open else value <= hi
        if not (above and below):  # nan fails both
            raise argparse.ArgumentTypeError(f"expected a number in {interval}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


#: A float in [0, 1).
fraction = number_in(0, 1, hi_open=True)
#: A float strictly between 0 and 1 (a conformal coverage target).
coverage_fraction = number_in(0, 1, lo_open=True, hi_open=True)
#: A float in (0, 1] (a label budget: 1 keeps every label).
budget_fraction = number_in(0, 1, lo_open=True)


def existing_dir(text: str) -> Path:
    """A folder that exists."""
    p = Path(text)
    if not p.is_dir():
        raise argparse.ArgumentTypeError(f"folder not found: {text}")
    return p


def existing_file(text: str) -> Path:
    """A file that exists."""
    p = Path(text)
    if not p.is_file():
        raise argparse.ArgumentTypeError(f"file not found: {text}")
    return p


def writable_dir(text: str) -> Path:
    """An output folder: it exists and is writable, or it can be created (its nearest existing
    parent is a writable folder). Nothing is created here."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty folder name; give a folder, e.g. runs/hybrid")
    p = Path(text)
    try:
        if p.is_symlink() and not p.exists():
            raise argparse.ArgumentTypeError(f"{text}: a link to nothing (or a loop of links)")
        if p.exists() and not p.is_dir():
            raise argparse.ArgumentTypeError(f"not a folder: {text}")
        probe = p
        while not probe.exists():
            probe = probe.parent
    except OSError as e:  # a name too long for the file system, a loop of links
        raise argparse.ArgumentTypeError(f"cannot use {text[:80]}: {e.strerror or e}") from None
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write to {text} ({probe} is not writable)")
    return p


def choice_list(choices):
    """A comma-separated subset of ``choices`` (order kept, duplicates dropped)."""

    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(bad) or 'empty list'}; choose from {', '.join(choices)}")
        return list(dict.fromkeys(items))

    return parse


def plural(n: int, word: str) -> str:
    """``"1 seed"``, ``"3 seeds"``.

    Example:
        >>> plural(1, "seed"), plural(2, "seed")
        ('1 seed', '2 seeds')
    """
    return f"{n} {word}{'' if n == 1 else 's'}"


def parse_value(text: str):
    """A JSON value (``"3"`` -> 3, ``"true"`` -> True), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text

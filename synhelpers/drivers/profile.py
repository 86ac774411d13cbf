"""Run profiles for notebooks and tests: ``default`` (what a person runs) and ``small`` (CI).

The test command sets ``SYNHELPERS_PROFILE=small``; every notebook's ``parameters``
cell has ``profile = None``, which means "take it from the environment". The small
profile writes into a scratch folder, so running the tests never overwrites the
committed figures or a user's data.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Profile", "resolve", "repo_root", "apply_profile_caps", "SMALL_CAPS"]


def repo_root() -> Path:
    """The project's root folder (the one holding ``synhelpers/``)."""
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Profile:
    """Sizes and folders for one run of a notebook or the quickstart.

    Attributes:
        name: ``"default"`` or ``"small"``.
        n_neurons: synthetic connectome size.
        max_epochs: epoch cap for training notebooks.
        seeds: number of seeds for ablation tables.
        data_dir: where tables and graphs go.
        runs_dir: where training runs (``metrics.json``, checkpoints) go.
        figures_dir: where figures go (PNG and SVG).
    """

    name: str
    n_neurons: int
    max_epochs: int
    seeds: int
    data_dir: Path
    runs_dir: Path
    figures_dir: Path

    @property
    def is_small(self) -> bool:
        return self.name == "small"

    @property
    def min_class_count(self) -> int:
        """``build --min-class-count`` of the profile's graph (the small connectome has fewer
        neurons per class); every notebook and driver builds the graph with it, so none of
        them rebuilds another's graph with other settings."""
        return 5 if self.is_small else 10


def resolve(profile: str | None = None) -> Profile:
    """Return the :class:`Profile` named ``profile``, or the one in ``$SYNHELPERS_PROFILE``.

    Example:
        >>> resolve("small").n_neurons
        300
    """
    name = profile or os.environ.get("SYNHELPERS_PROFILE") or "default"
    root = repo_root()
    if name == "default":
        return Profile("default", 2000, 200, 3, root / "data", root / "runs", root / "figures")
    if name == "small":
        scratch = Path(os.environ.get("SYNHELPERS_SCRATCH") or Path(tempfile.gettempdir()) / "synhelpers-small")
        return Profile("small", 300, 3, 2, scratch / "data", scratch / "runs", scratch / "figures")
    raise ValueError(f"unknown profile {name!r}; use 'default' or 'small'")


#: What the small profile caps on the command line, so that tests can run the README's
#: commands verbatim in seconds: argument name -> largest value.
SMALL_CAPS = {"neurons": 300, "max_epochs": 3, "min_epochs": 1, "seeds": 2, "splits": 2}


def apply_profile_caps(args, names=tuple(SMALL_CAPS), profile: str | None = None) -> str:
    """Under ``SYNHELPERS_PROFILE=small``, lower the command-line values in ``names`` to
    :data:`SMALL_CAPS`. A profile never changes arguments silently: what was capped is printed
    as one line on stdout (stderr is kept for the one-line error a command may end with), and
    returned ('' when nothing changed). ``args`` is an
    ``argparse.Namespace``; the default profile changes nothing. ``profile``: None reads
    ``$SYNHELPERS_PROFILE``.

    Example:
        >>> import argparse
        >>> a = argparse.Namespace(neurons=2000)
        >>> apply_profile_caps(a, profile="small"), a.neurons
        profile small: capped --neurons 2000 -> 300
        ('profile small: capped --neurons 2000 -> 300', 300)
    """
    if (profile or os.environ.get("SYNHELPERS_PROFILE")) != "small":
        return ""
    changed = []
    for name in names:
        value = getattr(args, name, None)
        if isinstance(value, int) and value > SMALL_CAPS[name]:
            setattr(args, name, SMALL_CAPS[name])
            changed.append(f"--{name.replace('_', '-')} {value} -> {SMALL_CAPS[name]}")
    if not changed:
        return ""
    source = " (SYNHELPERS_PROFILE=small)" if profile is None else ""
    note = f"profile small{source}: capped {', '.join(changed)}"
    print(note)
    return note

"""Placeholder: commands of this stage are registered here (see synhelpers/cli.py)."""


def register(subparsers) -> None:  # filled in by the stage's owner
    return None

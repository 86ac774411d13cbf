"""A run profile never changes a command's arguments silently: the small profile's caps are
printed, one line on stdout, by every command that applies them (stderr stays the error's)."""

from __future__ import annotations

import argparse

import pytest

from synhelpers.cli import build_parser
from synhelpers.drivers.profile import apply_profile_caps
from synhelpers.errors import ConfigError


def test_caps_are_printed_in_one_line(capsys):
    args = argparse.Namespace(max_epochs=200, min_epochs=50, seeds=3, splits=1)
    note = apply_profile_caps(args, ("max_epochs", "seeds", "splits"), profile="small")
    out, err = capsys.readouterr()
    assert err == ""
    assert out == "profile small: capped --max-epochs 200 -> 3, --seeds 3 -> 2\n"
    assert note == out.strip()
    assert (args.max_epochs, args.seeds, args.splits, args.min_epochs) == (3, 2, 1, 50)


@pytest.mark.parametrize("profile, value", [("default", 200), ("small", 3)])
def test_nothing_capped_prints_nothing(capsys, profile, value):
    args = argparse.Namespace(max_epochs=value)
    assert apply_profile_caps(args, ("max_epochs",), profile=profile) == ""
    assert capsys.readouterr() == ("", "")
    assert args.max_epochs == value


def test_environment_profile_names_its_source(capsys, monkeypatch):
    monkeypatch.setenv("SYNHELPERS_PROFILE", "small")
    apply_profile_caps(argparse.Namespace(neurons=2000), ("neurons",))
    assert capsys.readouterr().out == ("profile small (SYNHELPERS_PROFILE=small): capped "
                                       "--neurons 2000 -> 300\n")


class _Stop(Exception):
    pass


def _stop(*args, **kwargs):
    raise _Stop


@pytest.mark.parametrize("argv, where, expected", [
    (["synth", "--neurons", "2000", "--out", "{tmp}/tables"],
     "synhelpers.tables.synthetic.generator.write_synthetic", "--neurons 2000 -> 300"),
    (["train", "--data", "{tmp}", "--out", "{tmp}/run", "--model", "no_such_model",
      "--max-epochs", "200", "--seeds", "5"],
     None, "--max-epochs 200 -> 3, --min-epochs 50 -> 1, --seeds 5 -> 2"),
    (["baseline", "--graph", "{tmp}", "--out", "{tmp}/run", "--splits", "4"],
     "synhelpers.train.baseline.run_baseline", "--splits 4 -> 2"),
])
def test_every_command_that_caps_prints_it(capsys, monkeypatch, tmp_path, argv, where, expected):
    monkeypatch.setenv("SYNHELPERS_PROFILE", "small")
    if where:
        monkeypatch.setattr(where, _stop)
    args = build_parser().parse_args([a.format(tmp=tmp_path) for a in argv])
    with pytest.raises((_Stop, ConfigError)):  # stopped before any work
        args.func(args)
    err = capsys.readouterr().out.splitlines()
    assert err == [f"profile small (SYNHELPERS_PROFILE=small): capped {expected}"]

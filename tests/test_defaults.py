"""Each default has one home: the command line, the library functions and the other configs
read it from one dataclass, so they cannot drift apart."""

from __future__ import annotations

import inspect

import pytest

from synhelpers.cli import build_parser


def _command_defaults(command: str) -> dict:
    """``{dest: default}`` of one subcommand of ``python -m synhelpers``."""
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return {a.dest: a.default for a in sub.choices[command]._actions}


def _choices(command: str, dest: str):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return next(a.choices for a in sub.choices[command]._actions if a.dest == dest)


def _signature_defaults(fn) -> dict:
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty}


def test_active_learning_optimiser_defaults_are_trainings():
    from synhelpers.answers.active_loop import ActiveConfig
    from synhelpers.train.config import TrainConfig

    a, t = ActiveConfig(), TrainConfig()
    assert (a.lr, a.weight_decay) == (t.lr, t.weight_decay)
    assert _command_defaults("train")["lr"] == t.lr
    assert _command_defaults("train")["weight_decay"] == t.weight_decay
    # a simulation's TrainConfig carries the simulation's values, not the defaults again
    cfg = ActiveConfig(lr=1e-3, weight_decay=0.0).train_config()
    assert (cfg.lr, cfg.weight_decay) == (1e-3, 0.0)


def test_download_defaults_have_one_home():
    from synhelpers.tables.config import DownloadConfig
    from synhelpers.tables.download import fetch_dataset
    from synhelpers.tables.download.exports import download_exports
    from synhelpers.tables.download.neuprint_source import RetrySession, connect, download_neuprint
    from synhelpers.tables.download.transfer import download_file

    d = DownloadConfig()
    cli = _command_defaults("download")
    assert {k: cli[k] for k in ("batch_size", "timeout", "retries")} == {
        "batch_size": d.batch_size, "timeout": d.timeout, "retries": d.retries}
    home = {"batch_size": d.batch_size, "timeout": d.timeout, "retries": d.retries,
            "backoff": d.backoff}
    for fn in (fetch_dataset, download_exports, download_neuprint, connect, download_file):
        got = _signature_defaults(fn)
        assert {k: got[k] for k in home if k in got} == {k: v for k, v in home.items() if k in got}, fn
        assert {"timeout", "retries", "backoff"} <= set(got), fn
    assert (RetrySession.timeout, RetrySession.retries, RetrySession.backoff) == (
        d.timeout, d.retries, d.backoff)


def test_suggest_defaults_and_strategies_have_one_home():
    from synhelpers.answers import active
    from synhelpers.answers.config import STRATEGIES, SuggestConfig
    from synhelpers.answers.suggest import suggest

    d = SuggestConfig()
    cli = _command_defaults("suggest")
    assert (cli["n"], cli["strategy"], cli["mc_samples"], cli["seed"]) == (
        d.n, d.strategy, d.mc_samples, d.seed)
    got = _signature_defaults(suggest)
    assert (got["n"], got["strategy"], got["mc_samples"], got["seed"]) == (
        d.n, d.strategy, d.mc_samples, d.seed)
    assert tuple(_choices("suggest", "strategy")) == STRATEGIES
    assert active.STRATEGIES is STRATEGIES


def test_suggest_config_refuses_an_unknown_strategy():
    from synhelpers.answers.config import SuggestConfig

    with pytest.raises(ValueError, match="unknown strategy 'uncertainty'"):
        SuggestConfig(strategy="uncertainty")

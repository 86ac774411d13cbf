"""TrainConfig carries no untyped model overrides: names are ModelConfig fields and values
have the field's type when the config is made, so ``--set pair_stats=no`` cannot switch the
pair statistics on through a truthy string."""

from __future__ import annotations

import pytest

from synhelpers.errors import ConfigError
from synhelpers.models import ModelConfig
from synhelpers.train.cli import parse_overrides
from synhelpers.train.config import TrainConfig


@pytest.mark.parametrize("given, typed", [
    ({"pair_stats": "no", "edge_votes": "ON"}, {"pair_stats": False, "edge_votes": True}),
    ({"pair_stats": 0, "aux_heads": "false"}, {"pair_stats": False, "aux_heads": False}),
    ({"hidden": "32", "set_size": 8.0}, {"hidden": 32, "set_size": 8}),
    ({"dropout": 0, "coord_unit_um": "4"}, {"dropout": 0.0, "coord_unit_um": 4.0}),
    ({"gnn": "gat"}, {"gnn": "gat"}),
])
def test_overrides_take_their_field_types(given, typed):
    got = TrainConfig(model_overrides=given).model_overrides
    assert got == typed
    assert [type(v) for v in got.values()] == [type(v) for v in typed.values()]


@pytest.mark.parametrize("given, names", [
    ({"bogus": 1}, ("unknown model setting", "bogus")),
    ({"pair_stats": "maybe"}, ("pair_stats", "true or false")),
    ({"hidden": 32.5}, ("hidden", "integer")),
    ({"hidden": True}, ("hidden", "integer")),
    ({"gnn": 3}, ("gnn", "string")),
    ({"dropout": "lots"}, ("dropout", "number")),
    ({"gnn": "bogus"}, ("gnn must be one of",)),
])
def test_bad_overrides_are_refused_at_construction(given, names):
    with pytest.raises(ValueError, match="^model_overrides: ") as e:
        TrainConfig(model_overrides=given)
    assert all(n in str(e.value) for n in names) and "\n" not in str(e.value)


def test_command_line_overrides_are_typed():
    assert parse_overrides(["pair_stats=no", "hidden=32", "dropout=0"], "hybrid") == {
        "pair_stats": False, "hidden": 32, "dropout": 0.0}
    with pytest.raises(ConfigError, match="pair_stats"):
        parse_overrides(["pair_stats=maybe"], "hybrid")


def test_model_config_and_active_config_type_their_fields():
    from synhelpers.answers.active_loop import ActiveConfig

    assert ModelConfig(pair_stats="no").pair_stats is False
    assert ActiveConfig(model_overrides={"hidden": "16"}).model_overrides == {"hidden": 16}
    with pytest.raises(ValueError, match="bogus"):
        ActiveConfig(model_overrides={"bogus": 1})

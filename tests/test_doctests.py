"""The examples in the docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "synhelpers.io",
    "synhelpers.outputs",
    "synhelpers.tables.contract",
    "synhelpers.tables.synthetic",
    "synhelpers.graph.build",
    "synhelpers.graph.config",
    "synhelpers.graph.synapses",
    "synhelpers.tables.synthetic.design",
    "synhelpers.tables.synthetic.sampling",
    "synhelpers.tables.synthetic.config",
    "synhelpers.tables.synthetic.generator",
    "synhelpers.tables.cli",
    "synhelpers.train.cli",
    "synhelpers.answers.results",
    "synhelpers.train.config",
    "synhelpers.models.config",
    "synhelpers.figures.save",
    "synhelpers.figures.colors",
    "synhelpers.figures.runs",
    "synhelpers.cliargs",
    "synhelpers._lazy",
    "synhelpers.drivers.profile",
    "synhelpers.graph.union",
    "synhelpers.graph.features",
    "synhelpers.tables.synthetic.frames",
    "synhelpers.train.metrics",
    "synhelpers.train.baseline",
    "synhelpers.answers.predict",
    "synhelpers.answers.embed",
    "synhelpers.answers.suggest",
    "synhelpers.answers.load",
    "synhelpers.answers.prediction_table",
    "synhelpers.answers.conformal",
    "synhelpers.train.model_card",
    "synhelpers.models.connectome",
    "synhelpers.models.blocks",
    "synhelpers.models.pointset",
    "synhelpers.models.synapse_encoder",
    "synhelpers.models.cloud_encoder",
    "synhelpers.models.pair_stats",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0

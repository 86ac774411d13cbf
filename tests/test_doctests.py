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
    "synhelpers.runs.cli",
    "synhelpers.runs.results",
    "synhelpers.runs.config",
    "synhelpers.models.config",
    "synhelpers.figures.save",
    "synhelpers.cliargs",
    "synhelpers._lazy",
    "synhelpers.profile",
    "synhelpers.graph.union",
    "synhelpers.graph.features",
    "synhelpers.tables.synthetic.frames",
    "synhelpers.runs.metrics",
    "synhelpers.runs.baseline",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0

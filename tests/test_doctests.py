"""The examples in the docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "synhelpers.io",
    "synhelpers.tables.contract",
    "synhelpers.tables.synthetic",
    "synhelpers.graph.build",
    "synhelpers.profile",
    "synhelpers.runs.metrics",
    "synhelpers.runs.baseline",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0

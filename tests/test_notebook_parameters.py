"""Every notebook has a papermill ``parameters`` cell, and papermill parses all of its names
(a comment with ``=`` or a quote in the wrong place silently hides a parameter)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from papermill.translators import PythonTranslator

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_parameters_cell_parses(path):
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: expected one cell tagged 'parameters'"
    assigned = {m.group(1) for m in re.finditer(r"^(\w+)\s*=", cells[0].source, re.M)}
    parsed = {p.name for p in PythonTranslator.inspect(cells[0])}
    assert assigned and parsed == assigned, f"{path.name}: papermill cannot parse {assigned - parsed}"

"""Committed notebooks show nothing of the machine they ran on and no dead progress widgets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synhelpers.testing.notebooks import ABSOLUTE_PATH, WIDGET_MIME, clean_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_outputs_hold_no_absolute_path_or_widget(path):
    nb = json.loads(path.read_text())
    assert "widgets" not in nb.get("metadata", {}), "widget state saved in the notebook"
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            assert WIDGET_MIME not in out.get("data", {}), f"cell {i}: a dead widget output"
            text = json.dumps(out)
            m = ABSOLUTE_PATH.search(text)
            assert m is None, f"cell {i}: absolute path {text[max(0, m.start() - 40):m.end() + 40]!r}"


def test_clean_notebook_removes_widgets_and_paths(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    root = tmp_path / "repo"
    cell = new_code_cell("x")
    cell.outputs = [new_output("stream", name="stdout", text=f"tables in {root}/data/x\n"),
                    new_output("display_data", data={WIDGET_MIME: {"model_id": "a"}, "text/plain": "0%"})]
    nb = new_notebook(cells=[cell], metadata={"widgets": {"state": {}}})
    p = tmp_path / "n.ipynb"
    nbformat.write(nb, p)
    clean_notebook(p, root)
    out = json.loads(p.read_text())
    assert "widgets" not in out["metadata"]
    assert ["".join(o["text"]) for o in out["cells"][0]["outputs"]] == ["tables in data/x\n"]


def test_nbval_sanitize_file_parses_and_keeps_words_apart():
    """Every pair of nbval_sanitize.cfg is read by nbval (a ``replace:`` line lost to an editor
    that strips trailing spaces would drop its pair silently), the small profile's paths,
    counts and times compare equal to the default's, and different words still differ."""
    import re

    from nbval.plugin import get_sanitize_patterns

    text = (ROOT / "nbval_sanitize.cfg").read_text()
    pairs = get_sanitize_patterns(text)
    assert len(pairs) == text.count("\nregex: ") and pairs

    def clean(s: str) -> str:
        for regex, replace in pairs:
            s = re.sub(regex, replace, s)
        return s

    small = "profile small: 300 neurons; tables in ../../tmp/synhelpers-small-ab1/data/synthetic (8.1 s)"
    default = "profile default: 2,000 neurons; tables in data/synthetic (815 s)"
    assert clean(small) == clean(default)
    assert clean("sage  transductive trained: test macro-F1 0.797") == clean("sage transductive reused: test macro-F1 0.5")
    assert clean("every neuron in exactly one split: True") != clean("every neuron in exactly one split: False")

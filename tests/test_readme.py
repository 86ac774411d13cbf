"""The README's commands are tests: every `python -m synhelpers ...` line of its code blocks runs
verbatim, in order, with its relative paths, and the defaults it states are the code's.

The commands run in a scratch folder standing in for the repository root (so the test never
overwrites a user's data/, runs/ or figures/) under ``SYNHELPERS_PROFILE=small``, which caps
sizes on the command line (300 neurons, 3 epochs, 2 seeds). Commands in a block marked
``<!-- needs: network -->`` are not run; only ``download`` may be marked so.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def readme_commands(marker: str = "<!-- needs: network -->") -> tuple[list[str], list[str]]:
    """(commands to run, commands of blocks marked with ``marker``), in README order. Blocks
    marked "needs: network" or "after: make quickstart" are never in the first list."""
    run, marked_cmds, in_block, marked, skip, previous = [], [], False, False, False, ""
    for line in README.splitlines():
        if line.startswith("```"):
            in_block = not in_block
            marked = in_block and previous.strip() == marker
            skip = in_block and previous.strip().startswith("<!-- ")
        elif in_block and line.strip().startswith("python -m synhelpers"):
            cmd = line.split("  #")[0].strip()
            if marked:
                marked_cmds.append(cmd)
            elif not skip:
                run.append(cmd)
        previous = line if line.strip() else previous
    return run, marked_cmds


def quickstart_commands() -> list[list[str]]:
    """The Makefile's ``quickstart`` commands with its variables' defaults filled in."""
    text = (ROOT / "Makefile").read_text()
    defaults = dict(re.findall(r"^([A-Z_]+) \?= (.+)$", text, re.M))
    out = []
    for line in _make_recipe("quickstart"):
        if "-m synhelpers" not in line:
            continue
        line = re.sub(r"\$\((\w+)\)", lambda m: defaults.get(m.group(1), m.group(0)), line)
        out.append(shlex.split(line.split("-m synhelpers", 1)[1]))
    return out


def test_the_answer_commands_work_verbatim_after_the_quickstart(tmp_path):
    """The README's commands for the quickstart's runs, after the quickstart's own commands
    (small profile), in that order."""
    _, after = readme_commands("<!-- after: make quickstart -->")
    assert len(after) >= 3
    env = {**os.environ, "SYNHELPERS_PROFILE": "small", "PYTHONPATH": str(ROOT)}
    for args in quickstart_commands() + [shlex.split(c)[3:] for c in after]:
        out = subprocess.run([sys.executable, "-m", "synhelpers", *args], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, f"`{' '.join(args)}` failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    assert (tmp_path / "runs" / "quickstart" / "hybrid" / "predictions.parquet").exists()
    assert (tmp_path / "runs" / "quickstart" / "hybrid" / "MODEL_CARD.md").exists()


def test_only_downloads_need_the_network():
    run, network = readme_commands()
    assert len(run) >= 8 and network
    assert all(shlex.split(c)[3] == "download" for c in network)


@pytest.mark.slow
def test_every_readme_command_runs_verbatim(tmp_path):
    run, _ = readme_commands()
    env = {**os.environ, "SYNHELPERS_PROFILE": "small", "PYTHONPATH": str(ROOT)}
    for cmd in run:
        args = shlex.split(cmd)
        out = subprocess.run([sys.executable, *args[1:]], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, f"`{cmd}` failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    assert (tmp_path / "runs" / "hybrid" / "metrics.json").exists()
    assert (tmp_path / "runs" / "held_out_ind3" / "metrics.json").exists()
    assert any((tmp_path / "figures").glob("*.png"))


def test_stated_defaults_are_the_code_defaults():
    from synhelpers.graph.config import GraphConfig
    from synhelpers.train.config import TrainConfig

    d, g = TrainConfig(), GraphConfig()
    code = {"--lr": d.lr, "--max-epochs": d.max_epochs, "--min-epochs": d.min_epochs,
            "--patience": d.patience, "--weight-decay": d.weight_decay, "--aux-weight": d.aux_weight,
            "build --min-class-count": g.min_class_count}
    rows = dict(re.findall(r"^\|[^|]*\| `([^`]+)` \| ([0-9.]+) \|$", README, re.M))
    assert set(rows) == set(code), rows
    for flag, value in rows.items():
        assert float(value) == float(code[flag]), f"README says {flag} {value}, the code {code[flag]}"


def _make_recipe(target: str) -> list[str]:
    """The recipe lines of ``target`` in the Makefile."""
    lines, out, inside = (ROOT / "Makefile").read_text().splitlines(), [], False
    for line in lines:
        if re.match(rf"^{re.escape(target)}:", line):
            inside = True
        elif inside and line.startswith("\t"):
            out.append(line.strip())
        elif inside and line.strip():
            break
    return out


def test_make_test_runs_strict_nbval_as_the_readme_says():
    """`make test` checks notebook outputs (strict nbval, sanitized), not only that cells run."""
    pytest_line = next(line for line in _make_recipe("test") if "pytest" in line)
    assert re.search(r"--nbval(\s|$)", pytest_line) and "--nbval-lax" not in pytest_line
    assert "pytest --nbval)" in README and "--nbval-lax" not in README
    assert (ROOT / "nbval_sanitize.cfg").exists()


def test_quickstart_ends_by_saying_where_the_results_are():
    recipe = _make_recipe("quickstart")
    last_command = max(i for i, line in enumerate(recipe) if "synhelpers" in line and "echo" not in line)
    said = " ".join(line for line in recipe[last_command + 1:] if line.startswith("@echo"))
    for where in ("$(RUNS)/hybrid/metrics.json", "$(FIGURES)/", "tensorboard --logdir $(RUNS)"):
        assert where in said, where

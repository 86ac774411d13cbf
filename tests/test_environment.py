"""Install metadata stays consistent: environment.yml and pyproject.toml name the same packages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    raw = (ROOT / "environment.yml").read_text()
    optional = {_name(line.split("-", 1)[1]) for line in raw.splitlines() if line.strip().endswith("# optional")}
    env_required = {_name(p) for p in pip if not p.startswith("-")} - optional
    assert env_required == {_name(d) for d in deps}
    assert optional == {"torch-scatter", "torch-sparse", "torch-cluster", "pyg-lib"}


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "make quickstart" in readme

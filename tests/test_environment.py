"""Install metadata stays consistent: the conda file's torch pin matches its wheel indexes, and
runtime dependencies are only what the package needs at run time."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pip_lines() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_torch_pin_matches_the_wheel_indexes():
    pip = _pip_lines()
    pin = next(p for p in pip if p.startswith("torch=="))
    version = pin.removeprefix("torch==")
    index = next(p for p in pip if p.startswith("--extra-index-url"))
    links = next(p for p in pip if p.startswith("--find-links"))
    cuda = re.search(r"/whl/(cu\d+|cpu)$", index).group(1)
    assert links.endswith(f"/torch-{version}+{cuda}.html"), (pin, index, links)


def test_torch_pin_satisfies_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lower = next(d for d in deps if _name(d) == "torch").split(">=")[1]
    pin = next(p for p in _pip_lines() if p.startswith("torch==")).removeprefix("torch==")
    as_tuple = lambda v: tuple(int(x) for x in v.split(".")[:2])  # noqa: E731
    assert as_tuple(pin) >= as_tuple(lower)


def test_conda_file_installs_the_package_with_its_dev_extra():
    pip = _pip_lines()
    assert "-e .[dev]" in pip
    optional = [p for p in pip if not p.startswith("-") and _name(p) != "torch"]
    raw = (ROOT / "environment.yml").read_text()
    assert all(f"{p}  # optional" in raw for p in optional), "only optional accelerators besides torch"


def test_runtime_dependencies_hold_no_test_or_notebook_tool():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(d) for d in project["dependencies"]}
    tools = {"pytest", "nbval", "ruff", "hypothesis", "jupyterlab", "papermill", "cryptography",
             "ipywidgets", "pyyaml"}
    assert not runtime & tools
    extras = {_name(d) for deps in project["optional-dependencies"].values() for d in deps}
    assert {"pytest", "nbval", "ruff", "jupyterlab"} <= extras


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "make quickstart" in readme

"""Install metadata stays consistent: one torch version in the conda file, the Makefile and
pyproject.toml (the conda file's from a CUDA index), and runtime dependencies are only what the
package needs at run time."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]


def _pip_lines() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _conda_torch() -> str:
    return next(p for p in _pip_lines() if p.startswith("torch==")).removeprefix("torch==")


def _makefile_torch() -> str:
    return re.search(r"^TORCH_VERSION \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)


def _pyproject_torch() -> SpecifierSet:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(Requirement(d) for d in deps if _name(d) == "torch").specifier


def test_conda_makefile_and_pyproject_agree_on_one_torch_version():
    conda, make, spec = _conda_torch(), _makefile_torch(), _pyproject_torch()
    assert conda == make, f"environment.yml pins torch {conda}, the Makefile {make}"
    assert spec.contains(make), f"pyproject.toml's torch {spec} excludes the Makefile's {make}"
    major, minor = (int(x) for x in make.split(".")[:2])
    others = [f"{major}.{minor - 1}.0", f"{major}.{minor + 1}.0", f"{major + 1}.0.0"]
    assert not any(spec.contains(v) for v in others), f"pyproject.toml's torch {spec} admits other versions"


def test_the_conda_torch_is_a_cuda_build_from_the_pytorch_index():
    pip = _pip_lines()
    index = next(p for p in pip if p.startswith("--extra-index-url"))
    assert re.search(r"/whl/cu\d+$", index), index
    if any(p.startswith("--find-links") for p in pip):  # PyG's accelerator page, if one is used
        links = next(p for p in pip if p.startswith("--find-links"))
        cuda = re.search(r"/whl/(cu\d+)$", index).group(1)
        assert links.endswith(f"/torch-{_conda_torch()}+{cuda}.html"), (index, links)


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

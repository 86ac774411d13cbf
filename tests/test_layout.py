"""The house rules, checked: stages in folders, small modules and functions, models that read
tensors only, no import cycles, a command line that starts without heavy libraries, and no
checkpoint loading that can run code."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "synhelpers"
MODULES = sorted(PKG.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(name: str) -> bool:
    return (ROOT / Path(*name.split(".")) / "__init__.py").exists()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not _is_package(module):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _exports(package: str) -> dict:
    return getattr(importlib.import_module(package), "_EXPORTS", {})


def _targets(module: str, node) -> list[str]:
    """Modules of the project that ``node`` imports (lazy package exports followed)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("synhelpers")]
    target = _resolve(module, node)
    if not target.startswith("synhelpers"):
        return []
    out = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if (ROOT / Path(*sub.split("."))).with_suffix(".py").exists() or _is_package(sub):
            out.append(sub)
        elif _is_package(target) and alias.name in _exports(target):
            rel = _exports(target)[alias.name]
            out.append(target + rel if rel.startswith(".") else rel)
        else:
            out.append(target)
    return out


def _import_nodes(tree: ast.Module, deferred: bool):
    """Import statements of a module: all of them, or (``deferred=False``) only those that run
    when the module is imported (not those inside a function, which run at its first call)."""
    if deferred:
        yield from (n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)))
        return
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def import_graph(deferred: bool = True) -> dict[str, set[str]]:
    """``{module: the project modules it imports}``; ``deferred=False``: at import time only."""
    graph = {}
    for path in MODULES:
        name = _module_name(path)
        deps = set()
        for node in _import_nodes(ast.parse(path.read_text()), deferred):
            deps.update(t for t in _targets(name, node) if t != name)
        graph[name] = deps
    return graph


#: The README's stages, in the order data flows through them; a module may import its own stage
#: and earlier ones, never a later one. ``augment`` (point-set transforms) sits with the models.
STAGES = ("tables", "graph", "models", "augment", "train", "answers", "figures", "views")
#: Outside the stage order: the notebooks' drivers and the test helpers may import any stage;
#: the core may use the run profiles (which import nothing of the package) and nothing else there.
BESIDE = ("drivers", "testing")
PROFILES = "synhelpers.drivers.profile"
#: Entry points that dispatch to every stage.
ENTRY_POINTS = ("synhelpers", "synhelpers.cli", "synhelpers.__main__")


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES + BESIDE else None


def test_stages_are_folders():
    for stage in STAGES + BESIDE:
        assert _is_package(f"synhelpers.{stage}"), stage
    for gone in ("runs", "analysis", "training"):
        assert not (PKG / gone).exists(), f"synhelpers/{gone} should not exist"
    assert not (PKG / "active.py").exists(), "active learning lives in synhelpers/answers"


def stage_order_violations(graph: dict[str, set[str]]) -> list[str]:
    """``"a -> b"`` for every import from an earlier stage (or the core) to a later one."""
    bad = []
    for name, deps in graph.items():
        mine = _stage(name)
        if mine in BESIDE or name in ENTRY_POINTS:
            continue
        rank = STAGES.index(mine) if mine else -1
        for dep in deps:
            theirs = _stage(dep)
            if dep == PROFILES or theirs is None:
                continue
            if theirs in BESIDE or STAGES.index(theirs) > rank:
                bad.append(f"{name} -> {dep}")
    return sorted(bad)


def test_no_import_from_an_earlier_stage_to_a_later_one():
    assert stage_order_violations(import_graph()) == []


def test_the_stage_check_can_fail():
    fake = {"synhelpers.graph.build": {"synhelpers.train.run"},
            "synhelpers.train.run": {"synhelpers.graph.build", PROFILES},
            "synhelpers.drivers.ablation": {"synhelpers.views.neuroglancer"}}
    assert stage_order_violations(fake) == ["synhelpers.graph.build -> synhelpers.train.run"]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_small_modules_and_functions(path):
    src = path.read_text()
    if "testing" not in path.parts:
        assert src.count("\n") <= 400, f"{path.name} has {src.count(chr(10))} lines (> 400)"
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            assert n <= 60, f"{path.name}:{node.lineno} {node.name}() has {n} lines (> 60)"


def test_models_import_nothing_else_from_the_package():
    graph = import_graph()
    for name, deps in graph.items():
        if name.startswith("synhelpers.models"):
            bad = {d for d in deps if not d.startswith("synhelpers.models") and d != "synhelpers._lazy"}
            assert not bad, f"{name} imports {bad}"


def test_no_import_cycles():
    """No cycle among the imports that run when a module is imported. A deferred import inside a
    function (e.g. ``LoadedRun.predict`` importing :mod:`synhelpers.answers.predict`, which
    itself imports :mod:`synhelpers.answers.load`) runs at the first call, when both modules
    are complete, so it cannot fail halfway; the stage order still counts it."""
    graph = import_graph(deferred=False)
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if state.get(dep) is None:
                visit(dep, stack + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_the_checker_finds_a_cycle(monkeypatch):
    """The cycle check can fail: a fake graph with a loop is caught."""
    monkeypatch.setattr(sys.modules[__name__], "import_graph",
                        lambda deferred=True: {"a": {"b"}, "b": {"a"}})
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_no_import_cycles()


def test_command_line_help_imports_no_heavy_library():
    code = ("import sys; from synhelpers.cli import build_parser; build_parser();"
            "heavy = {'torch', 'torch_geometric', 'lightning', 'pandas', 'numpy', 'matplotlib', 'sklearn'};"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_every_flag_has_help_text():
    import argparse

    from synhelpers.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.option_strings and action.help is None:
                pytest.fail(f"`{name} {action.option_strings[0]}` has no help text")


def test_no_checkpoint_is_loaded_with_weights_only_false():
    for path in MODULES:
        assert "weights_only=False" not in path.read_text(), path


def test_top_level_names_stay_what_they_are():
    """Every top-level name gives the same object on every access, also after the submodules
    behind it were imported (a submodule named like a function would otherwise shadow it)."""
    code = ("import synhelpers, types\n"
            "first = {n: getattr(synhelpers, n) for n in synhelpers.__all__}\n"
            "again = {n: getattr(synhelpers, n) for n in synhelpers.__all__}\n"
            "bad = [n for n in first if first[n] is not again[n]]\n"
            "mods = [n for n, v in again.items() if isinstance(v, types.ModuleType) and n != 'profile']\n"
            "print(sorted(bad + mods))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout

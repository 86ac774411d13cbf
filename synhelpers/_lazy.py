"""Lazy package exports (PEP 562), so that ``python -m synhelpers --help`` and the config
modules import no heavy library (torch, PyG, Lightning, pandas) until a command needs it.

A package ``__init__`` declares ``{public name: submodule}``; the submodule is imported on the
first attribute access, e.g. ``synhelpers.graph.build_graph`` imports ``synhelpers.graph.build``.
A name equal to the last part of its submodule's name exports the submodule itself
(``{"profile": ".drivers.profile"}`` makes ``synhelpers.profile`` that module).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable, Callable, list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``, exporting ``name`` from ``.module``.

    Example:
        >>> ga, _, names = lazy_exports("synhelpers", {"read_json": ".io"})
        >>> ga("read_json").__name__, names
        ('read_json', ['read_json'])
    """

    def __getattr__(name: str):
        try:
            module = exports[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        mod = importlib.import_module(module, package)
        if module.rsplit(".", 1)[-1] == name and not hasattr(mod, name):
            return mod
        return getattr(mod, name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__, sorted(exports)

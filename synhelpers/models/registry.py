"""Model registry: ``register_model``, ``build_model(name, cfg)``, ``list_models()``.

Every model maps a graph ``Data`` to ``{label column: logits (N, C)}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from .config import ModelConfig

__all__ = ["ModelSpec", "register_model", "build_model", "list_models", "get_spec"]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: name, factory ``cfg -> nn.Module``, which views it uses, a description."""

    name: str
    factory: Callable[[ModelConfig], nn.Module]
    views: str
    description: str
    inductive: bool = True


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, *, views: str, description: str, inductive: bool = True):
    """Decorator registering ``factory(cfg) -> nn.Module`` under ``name``."""

    def deco(factory):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelSpec(name, factory, views, description, inductive)
        return factory

    return deco


def get_spec(name: str) -> ModelSpec:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def build_model(name: str, cfg: ModelConfig) -> nn.Module:
    """Instantiate the registered model ``name`` with ``cfg``."""
    return get_spec(name).factory(cfg)


def list_models() -> list[ModelSpec]:
    """All registered models, in registration order."""
    _ensure_loaded()
    return list(_REGISTRY.values())


def _ensure_loaded() -> None:
    from . import zoo  # noqa: F401  (registers the models)

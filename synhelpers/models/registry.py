"""Model registry: ``register_model``, ``build_model(name, cfg)``, ``list_models()``, ``get_spec``.

Every model maps a graph ``Data`` to ``{label column: logits (N, C)}``. The registered models
are in :mod:`synhelpers.models.zoo`, which fills this registry when ``synhelpers.models`` is
used (``from synhelpers.models import build_model``).

Views a model can need: ``wiring`` (node features and connectome edges: every graph),
``synapses`` (partner-resolved synapse sets per connection: ``syn_ptr``, ``syn_pos`` ...),
``sites`` (each neuron's own synapse sites: ``site_ptr``, ``site_pos`` ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from torch import nn

from .config import ModelConfig

__all__ = ["ModelSpec", "VIEWS", "register_model", "build_model", "list_models", "get_spec",
           "graph_views"]

#: The views a graph can offer and the attributes that make each of them.
VIEWS = {
    "wiring": ("x", "edge_index", "edge_weight", "edge_roi"),
    "synapses": ("syn_ptr", "syn_pos", "syn_roi", "syn_conf", "roi_center"),
    "sites": ("site_ptr", "site_pos", "site_is_post"),
}


@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    Attributes:
        name: registry name. factory: ``cfg -> nn.Module``. needs: views it reads (see
        :data:`VIEWS`). description: one line. inductive: can embed neurons unseen in training.
        fixed: ``ModelConfig`` fields the name fixes (``gat`` fixes ``gnn="gat"``).
    """

    name: str
    factory: Callable[[ModelConfig], nn.Module]
    needs: tuple[str, ...]
    description: str
    inductive: bool = True
    fixed: dict = field(default_factory=dict)

    @property
    def views(self) -> str:
        return "+".join(self.needs)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, *, needs: tuple[str, ...], description: str, inductive: bool = True,
                   fixed: dict | None = None):
    """Decorator registering ``factory(cfg) -> nn.Module`` under ``name``."""
    unknown = set(needs) - set(VIEWS)
    if unknown:
        raise ValueError(f"unknown view(s) {sorted(unknown)}; views are {list(VIEWS)}")

    def deco(factory):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelSpec(name, factory, tuple(needs), description, inductive,
                                    dict(fixed or {}))
        return factory

    return deco


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; ``KeyError`` lists the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(_REGISTRY)}") from None


def build_model(name: str, cfg: ModelConfig) -> nn.Module:
    """Instantiate the registered model ``name`` with ``cfg`` (its fixed fields applied)."""
    spec = get_spec(name)
    return spec.factory(replace(cfg, **spec.fixed) if spec.fixed else cfg)


def list_models() -> list[ModelSpec]:
    """All registered models, in registration order."""
    return list(_REGISTRY.values())


def graph_views(data) -> tuple[str, ...]:
    """The views a graph offers (see :data:`VIEWS`)."""
    return tuple(v for v, keys in VIEWS.items() if all(k in data for k in keys))

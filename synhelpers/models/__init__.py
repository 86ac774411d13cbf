"""Synapse, connectome and fused encoders, baselines and the original design (see ``registry``).

This package imports nothing else from ``synhelpers``: models read tensors, not files.

>>> from synhelpers.models import list_models
>>> "hybrid" in [m.name for m in list_models()]
True
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "ModelConfig": ".config", "TASK_COLUMNS": ".config", "GNN_KINDS": ".config",
    **{name: ".zoo" for name in ("build_model", "get_spec", "list_models", "register_model",
                                 "graph_views")},
    "VIEWS": ".registry", "ModelSpec": ".registry", "ModelOutput": ".output",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

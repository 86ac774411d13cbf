"""Synapse, connectome and fused encoders, baselines and the original design (see ``registry``).

>>> from synhelpers.models import list_models
>>> "hybrid" in [m.name for m in list_models()]
True
"""

from .config import TASK_COLUMNS, ModelConfig
from .registry import build_model, get_spec, list_models, register_model

__all__ = ["ModelConfig", "TASK_COLUMNS", "build_model", "get_spec", "list_models", "register_model"]

"""Stage 2, graph: connectome tables -> a cached ``torch_geometric.data.Data``."""

from .build import *  # noqa: F403
from .build import __all__  # noqa: F401

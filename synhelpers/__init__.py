"""synhelpers: learn neuron representations from a connectome's wiring and its synapse positions.

Stages, each with files between them (flyvis-style layout):

- ``synhelpers.tables``     the data contract: load, validate and write the three tables
- ``synhelpers.synthetic``  the embedded synthetic connectome (default dataset, known ceiling)
- ``synhelpers.download``   hemibrain / MANC from neuPrint or the public bulk exports
- ``synhelpers.graph``      tables -> cached ``torch_geometric.data.Data`` with CSR synapse sets
- ``synhelpers.models``     synapse, connectome and fused encoders (registry)
- ``synhelpers.training``   Lightning training, honest evaluation, ``metrics.json``
- ``synhelpers.analysis``   baselines and figures from saved runs
"""

from .tables import (
    Connectome,
    TableError,
    WeightMismatchWarning,
    from_frames,
    load_tables,
    write_tables,
)

__version__ = "0.1.0"

__all__ = [
    "Connectome",
    "TableError",
    "WeightMismatchWarning",
    "from_frames",
    "load_tables",
    "write_tables",
    "__version__",
]

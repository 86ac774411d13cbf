"""synhelpers: learn neuron representations from a connectome's wiring and its synapse positions.

Stages, each a folder, with files between them (flyvis-style layout):

- ``synhelpers.tables``   stage 1: the data contract, the synthetic connectome, downloads
- ``synhelpers.graph``    stage 2: tables -> cached ``torch_geometric.data.Data`` with CSR synapse sets
- ``synhelpers.models``   the encoders (synapse, connectome, fused) and their registry
- ``synhelpers.runs``     stage 3: Lightning training, the baseline, metrics, ``metrics.json``
- ``synhelpers.figures``  stage 4: every figure, drawn from graphs and saved runs
- ``synhelpers.testing``  local fake servers and small random graphs for tests
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

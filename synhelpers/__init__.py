"""synhelpers: learn neuron representations from a connectome's wiring and its synapse positions.

Stages, each a folder, with files between them (flyvis-style layout):

- ``synhelpers.tables``   stage 1: the data contract, the synthetic connectome, downloads
- ``synhelpers.graph``    stage 2: tables -> cached ``torch_geometric.data.Data`` with CSR synapse sets
- ``synhelpers.models``   the encoders (synapse, connectome, fused) and their registry
- ``synhelpers.runs``     stage 3: Lightning training, the baseline, metrics, ``metrics.json``
- ``synhelpers.figures``  stage 4: every figure, drawn from graphs and saved runs
- ``synhelpers.testing``  local fake servers and small random graphs for tests

Heavy libraries are imported on first use (see :mod:`synhelpers._lazy`).
"""

from ._lazy import lazy_exports

__version__ = "0.2.0"

_EXPORTS = {
    "Connectome": ".tables.contract",
    "TableError": ".tables.contract",
    "WeightMismatchWarning": ".tables.contract",
    "from_frames": ".tables.contract",
    "load_tables": ".tables.contract",
    "load_run": ".runs.load",
    "run_training": ".runs.train",
    "TrainConfig": ".runs.config",
    "write_tables": ".tables.contract",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
__all__ = [*__all__, "__version__"]

"""Stage 1, tables: the data contract, the embedded synthetic connectome and the downloads.

- :mod:`synhelpers.tables.contract`   load, validate and write the tables (``from_frames``)
- :mod:`synhelpers.tables.synthetic`  the embedded synthetic connectome (default dataset)
- :mod:`synhelpers.tables.download`   hemibrain / MANC from neuPrint or the public exports
"""

from .._lazy import lazy_exports

_EXPORTS = {
    name: ".contract" for name in (
        "Connectome", "TableError", "WeightMismatchWarning", "TableNotice", "TABLE_FILES",
        "REQUIRED_COLUMNS",
        "load_tables", "from_frames", "validate_tables", "write_tables")
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

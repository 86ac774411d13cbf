"""Stage 1, tables: the data contract, the embedded synthetic connectome and the downloads."""

from .contract import (
    REQUIRED_COLUMNS,
    TABLE_FILES,
    Connectome,
    TableError,
    WeightMismatchWarning,
    from_frames,
    load_tables,
    validate_tables,
    write_tables,
)

__all__ = [
    "Connectome",
    "TableError",
    "WeightMismatchWarning",
    "TABLE_FILES",
    "REQUIRED_COLUMNS",
    "load_tables",
    "from_frames",
    "validate_tables",
    "write_tables",
]

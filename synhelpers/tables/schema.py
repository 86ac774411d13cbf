"""The data contract's tables as data: file names, required columns and their dtypes, aliases.

Described for people in ``docs/data-contract.md``; checked by
:func:`synhelpers.tables.contract.validate_tables`.
"""

from __future__ import annotations

__all__ = ["TABLE_FILES", "OPTIONAL_TABLES", "REQUIRED_COLUMNS", "COLUMN_ALIASES",
           "COORD_COLUMNS", "ID_COLUMNS"]

#: File name of each table inside a connectome folder.
TABLE_FILES = {
    "neurons": "neurons.parquet",
    "connections": "connections.parquet",
    "synapses": "synapses.parquet",
    "sites": "sites.parquet",
    "gap_junctions": "gap_junctions.parquet",
}
#: Tables a connectome may lack.
OPTIONAL_TABLES = ("synapses", "sites", "gap_junctions")

#: Required columns per table and the kind of dtype each must have: "int" (fits int64),
#: "number" (integer or float) or "any" (values checked separately).
REQUIRED_COLUMNS: dict[str, dict[str, str]] = {
    "neurons": {"bodyId": "int"},
    "connections": {"bodyId_pre": "int", "bodyId_post": "int", "weight": "int"},
    "synapses": {
        "bodyId_pre": "int",
        "bodyId_post": "int",
        "x_pre": "number",
        "y_pre": "number",
        "z_pre": "number",
        "x_post": "number",
        "y_post": "number",
        "z_post": "number",
    },
    "sites": {"bodyId": "int", "kind": "any", "x": "number", "y": "number", "z": "number"},
    "gap_junctions": {"bodyId_a": "int", "bodyId_b": "int", "weight": "int"},
}

#: Accepted other names of a required column, per table: {table: {column: alias}}. The alias
#: is renamed when the table has no column of the contract's name (neuPrint's
#: ``fetch_synapses`` calls the site kind ``type``).
COLUMN_ALIASES: dict[str, dict[str, str]] = {"sites": {"kind": "type"}}

COORD_COLUMNS = ("x_pre", "y_pre", "z_pre", "x_post", "y_post", "z_post")
#: bodyId columns per table, checked against the neurons table.
ID_COLUMNS = {
    "connections": ["bodyId_pre", "bodyId_post"],
    "synapses": ["bodyId_pre", "bodyId_post"],
    "sites": ["bodyId"],
    "gap_junctions": ["bodyId_a", "bodyId_b"],
}

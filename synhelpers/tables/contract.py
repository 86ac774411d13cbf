"""The data contract: a connectome is a folder of tables, described in ``docs/data-contract.md``.

Column names follow neuPrint's own, so a table downloaded with neuprint-python needs no
renaming, and a user's own connectome (FlyWire, BANC, a worm) comes in through
:func:`from_frames`.

=============  ===============================  ====================================================
table          required columns                 optional columns
=============  ===============================  ====================================================
neurons        ``bodyId`` (int64, unique)       ``type``, ``instance``, ``class``, ``cell_class``,
                                                ``predictedNt``, ``somaLocation``, any label column
connections    ``bodyId_pre``, ``bodyId_post``, ``roi`` (str; rows then sum per pair)
               ``weight`` (int, > 0)
synapses       ``bodyId_pre``, ``bodyId_post``, ``roi_pre``, ``roi_post``, ``confidence_pre``,
(optional)     ``x_pre``, ``y_pre``, ``z_pre``, ``confidence_post`` (float in [0, 1])
               ``x_post``, ``y_post``, ``z_post``
sites          ``bodyId``, ``kind`` ("pre" or       ``roi`` (str), ``confidence`` (float in [0, 1])
(optional)     "post"; neuPrint's ``type`` is
               accepted), ``x``, ``y``, ``z``
gap_junctions  ``bodyId_a``, ``bodyId_b``,
(optional)     ``weight`` (int, > 0); undirected
=============  ===============================  ====================================================

Coordinates are in the connectome's own unit, ``voxel_nm`` nanometres each (default 8.0,
hemibrain's and MANC's voxels); the value is kept in ``Connectome.meta["voxel_nm"]``.
BodyIds must fit in int64; a coordinate must be finite and within +-1e12.

Every check raises :class:`TableError`, whose message names the file, the column
and the first offending rows. A disagreement between connection weights and
synapse counts is only a :class:`WeightMismatchWarning`, since neuPrint's weights
and its synapse queries can differ slightly (confidence thresholds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import write_parquet
from .checks import (
    DEFAULT_VOXEL_NM,
    MAX_ABS_COORD,
    SITE_KINDS,
    MissingTableError,
    TableError,
    WeightMismatchWarning,
    check_confidence,
    check_coordinates,
    check_frame,
    check_gap_pairs,
    check_known_ids,
    check_positive,
    check_site_kind,
    check_weights_match,
    fail,
    resolve_voxel_nm,
)
from .labels import LABEL_COLUMNS, check_label_column, label_columns
from .normalise import TableNotice, drop_self_gap_junctions, merge_duplicate_connections
from .reading import check_whole
from .reading import read_frames as _read_frames
from .reading import read_meta as _read_meta
from .schema import (
    COLUMN_ALIASES,
    COORD_COLUMNS,
    ID_COLUMNS,
    OPTIONAL_TABLES,
    REQUIRED_COLUMNS,
    TABLE_FILES,
)

__all__ = [
    "Connectome", "TableError", "WeightMismatchWarning", "TableNotice",
    "TABLE_FILES", "REQUIRED_COLUMNS", "OPTIONAL_TABLES", "COLUMN_ALIASES",
    "DEFAULT_VOXEL_NM", "MAX_ABS_COORD", "SITE_KINDS", "LABEL_COLUMNS",
    "load_tables", "from_frames", "validate_tables", "write_tables",
    "label_columns", "check_label_column",
]

#: Key of ``neurons.parquet``'s pandas ``attrs`` where :func:`write_tables` keeps name and voxel_nm.
_ATTRS_KEY = "synhelpers"


@dataclass
class Connectome:
    """A validated set of connectome tables.

    Attributes:
        neurons: one row per body; ``bodyId`` unique.
        connections: one row per directed pair (or per pair and ROI when ``roi`` is present).
        synapses: one row per synaptic pair (T-bar and one postsynaptic density), or ``None``.
        name: a human-readable dataset name (e.g. ``"synthetic (seed 0)"``, ``"hemibrain:v1.2.1"``).
        path: the folder the tables were read from, if any.
        meta: free-form metadata (e.g. the contents of ``synthetic.json`` or ``manifest.json``);
            ``meta["voxel_nm"]`` is the size of a coordinate unit in nm.
        sites: one row per synapse site of a neuron, not partner-resolved (keyword only), or ``None``.
        gap_junctions: one row per electrically coupled (unordered) pair (keyword only), or ``None``.
    """

    neurons: pd.DataFrame
    connections: pd.DataFrame
    synapses: pd.DataFrame | None = None
    name: str = "connectome"
    path: Path | None = None
    meta: dict = field(default_factory=dict)
    sites: pd.DataFrame | None = field(default=None, kw_only=True)
    gap_junctions: pd.DataFrame | None = field(default=None, kw_only=True)

    @property
    def has_synapses(self) -> bool:
        return self.synapses is not None

    @property
    def has_sites(self) -> bool:
        return self.sites is not None

    @property
    def has_gap_junctions(self) -> bool:
        return self.gap_junctions is not None

    @property
    def voxel_nm(self) -> float:
        """Nanometres per coordinate unit (``meta["voxel_nm"]``, default 8.0)."""
        return float(self.meta.get("voxel_nm", DEFAULT_VOXEL_NM))

    def __repr__(self) -> str:
        def rows(df):
            return "none" if df is None else f"{len(df):,}"

        return (
            f"Connectome(name={self.name!r}, neurons={len(self.neurons):,}, "
            f"connections={len(self.connections):,}, synapses={rows(self.synapses)}, "
            f"sites={rows(self.sites)}, gap_junctions={rows(self.gap_junctions)})"
        )


def _with_aliases(df, table: str):
    """``df`` with accepted aliases renamed to the contract's column names (else unchanged)."""
    if not isinstance(df, pd.DataFrame):
        return df
    rename = {alias: col for col, alias in COLUMN_ALIASES.get(table, {}).items()
              if col not in df.columns and alias in df.columns}
    return df.rename(columns=rename) if rename else df


def _alias_hint(table: str) -> str:
    aliases = COLUMN_ALIASES.get(table, {})
    return "".join(f" (a column '{a}' is accepted as '{c}')" for c, a in aliases.items())


def validate_tables(
    neurons: pd.DataFrame,
    connections: pd.DataFrame,
    synapses: pd.DataFrame | None = None,
    *,
    sites: pd.DataFrame | None = None,
    gap_junctions: pd.DataFrame | None = None,
    files: dict[str, str] | None = None,
    check_weights: bool = True,
) -> None:
    """Check a table set against the data contract; raise :class:`TableError` on the first problem.

    Args:
        neurons, connections: the required tables.
        synapses, sites, gap_junctions: the optional tables, or ``None``.
        files: label of each table used in messages, e.g. ``{"neurons": "data/x/neurons.parquet"}``;
            defaults to ``"<neurons frame>"`` etc.
        check_weights: compare the summed connection weight per pair with the synapse rows
            per pair and emit a :class:`WeightMismatchWarning` when they disagree.

    Raises:
        TableError: missing, duplicated or mistyped columns; bodyIds or weights beyond int64;
            empty table; duplicate ``bodyId``; unknown bodies in any other table; weights <= 0;
            NaN, infinite or absurd (beyond +-1e12) coordinates; confidences outside [0, 1];
            site kinds other than "pre"/"post"; gap-junction self-pairs or repeated pairs.

    Example:
        >>> import pandas as pd
        >>> n = pd.DataFrame({"bodyId": [1, 2]})
        >>> c = pd.DataFrame({"bodyId_pre": [1], "bodyId_post": [3], "weight": [2]})
        >>> try:
        ...     validate_tables(n, c)
        ... except TableError as e:
        ...     print(str(e).splitlines()[0])
        <connections frame>, column 'bodyId_post': references 1 bodyId(s) absent from the neurons table; 1 offending row(s), first ones:
    """
    _validate({"neurons": neurons, "connections": connections, "synapses": synapses,
               "sites": _with_aliases(sites, "sites"), "gap_junctions": gap_junctions},
              files, check_weights, normalise=False)


def _validate(tables: dict, files: dict | None, check_weights: bool, normalise: bool) -> dict:
    """:func:`validate_tables` on ``tables`` (table -> frame or None); with ``normalise``,
    first the fixes of :mod:`.normalise` (with their notices). Returns the tables."""
    files = {t: f"<{t} frame>" for t in TABLE_FILES} | (files or {})
    for table, df in tables.items():
        if df is not None or table not in OPTIONAL_TABLES:
            check_frame(df, REQUIRED_COLUMNS[table], table, files[table], _alias_hint(table))
    body_sorted = _sorted_body_ids(tables["neurons"], files["neurons"])
    for table, cols in ID_COLUMNS.items():
        if tables[table] is not None:
            for col in cols:
                check_known_ids(tables[table], col, body_sorted, file=files[table], columns=cols)
    check_positive(tables["connections"], "weight", file=files["connections"],
                   columns=["bodyId_pre", "bodyId_post", "weight"],
                   what="has zero or negative weights (a connection needs at least one synapse)")
    if normalise:
        tables = {**tables, "connections": merge_duplicate_connections(tables["connections"],
                                                                       files["connections"])}
    if tables["synapses"] is not None:
        _validate_synapses(tables["synapses"], files["synapses"])
    if tables["sites"] is not None:
        _validate_sites(tables["sites"], files["sites"])
    if tables["gap_junctions"] is not None:
        tables = {**tables, "gap_junctions": _validate_gap_junctions(
            tables["gap_junctions"], files["gap_junctions"], normalise)}
    if tables["synapses"] is not None and check_weights:
        check_weights_match(tables["connections"], tables["synapses"], files, body_sorted)
    return tables


def _sorted_body_ids(neurons: pd.DataFrame, file: str) -> np.ndarray:
    """The neurons' bodyIds, sorted int64; duplicates are a TableError."""
    body = neurons["bodyId"].to_numpy(np.int64)
    dup = neurons["bodyId"].duplicated(keep=False).to_numpy()
    if dup.any():
        fail(neurons, dup, file=file, column="bodyId",
             what=f"has {len(np.unique(body[dup])):,} duplicated bodyId value(s)")
    return np.sort(body)


def _validate_synapses(synapses: pd.DataFrame, file: str) -> None:
    ids = ["bodyId_pre", "bodyId_post"]
    check_coordinates(synapses, COORD_COLUMNS, file=file, id_columns=ids)
    for col in ("confidence_pre", "confidence_post"):
        check_confidence(synapses, col, file=file, id_columns=ids)


def _validate_gap_junctions(gap_junctions: pd.DataFrame, file: str, normalise: bool):
    check_positive(gap_junctions, "weight", file=file, columns=["bodyId_a", "bodyId_b", "weight"],
                   what="has zero or negative weights (a gap junction needs at least one)")
    if normalise:
        gap_junctions = drop_self_gap_junctions(gap_junctions, file)
    if gap_junctions is not None:
        check_gap_pairs(gap_junctions, file=file)
    return gap_junctions


def _validate_sites(sites: pd.DataFrame, file: str) -> None:
    check_site_kind(sites, file=file)
    check_coordinates(sites, ("x", "y", "z"), file=file, id_columns=["bodyId", "kind"])
    check_confidence(sites, "confidence", file=file, id_columns=["bodyId", "kind"])


def from_frames(
    neurons: pd.DataFrame,
    connections: pd.DataFrame,
    synapses: pd.DataFrame | None = None,
    *,
    sites: pd.DataFrame | None = None,
    gap_junctions: pd.DataFrame | None = None,
    name: str = "user connectome",
    meta: dict | None = None,
    voxel_nm: float | None = None,
    check_weights: bool = True,
) -> Connectome:
    """Validate in-memory tables and wrap them as a :class:`Connectome`.

    This is how any connectome (FlyWire, BANC, a worm, ...) enters the pipeline: rename
    its columns to the contract's (``bodyId``, ``bodyId_pre``, ``bodyId_post``, ``weight``,
    ``x_pre`` ...; see ``docs/data-contract.md``), then call this.

    Args:
        neurons, connections, synapses, sites, gap_junctions: the tables (see the module
            docstring); a sites table with neuPrint's ``type`` column gets it renamed ``kind``.
        name: a human-readable dataset name.
        meta: free-form metadata, copied into ``Connectome.meta``.
        voxel_nm: nanometres per coordinate unit (1.0 for coordinates in nm). ``None`` takes
            ``meta["voxel_nm"]``, else 8.0 (hemibrain and MANC). Stored in ``meta["voxel_nm"]``.
        check_weights: see :func:`validate_tables`.

    Raises:
        TableError: a table breaks the contract, or ``voxel_nm`` is not a finite positive
            number or disagrees with ``meta["voxel_nm"]``.

    Example:
        >>> import pandas as pd
        >>> n = pd.DataFrame({"bodyId": [1, 2, 3], "cell_class": ["A", "B", "A"]})
        >>> c = pd.DataFrame({"bodyId_pre": [1, 2], "bodyId_post": [2, 3], "weight": [4, 1]})
        >>> g = pd.DataFrame({"bodyId_a": [1], "bodyId_b": [3], "weight": [2]})
        >>> con = from_frames(n, c, gap_junctions=g, name="toy", voxel_nm=4)
        >>> con, con.meta["voxel_nm"]
        (Connectome(name='toy', neurons=3, connections=2, synapses=none, sites=none, gap_junctions=1), 4.0)
    """
    meta = dict(meta or {})
    meta["voxel_nm"] = resolve_voxel_nm([("<voxel_nm argument>", voxel_nm),
                                         ("<meta['voxel_nm']>", meta.get("voxel_nm"))])
    t = _validate({"neurons": neurons, "connections": connections, "synapses": synapses,
                   "sites": _with_aliases(sites, "sites"), "gap_junctions": gap_junctions},
                  None, check_weights, normalise=True)
    return Connectome(t["neurons"], t["connections"], t["synapses"], name=name, meta=meta,
                      sites=t["sites"], gap_junctions=t["gap_junctions"])


def load_tables(
    path: str | Path,
    *,
    synapses: bool = True,
    sites: bool = True,
    gap_junctions: bool = True,
    voxel_nm: float | None = None,
    check_weights: bool = True,
) -> Connectome:
    """Read and validate a connectome folder: ``neurons.parquet``, ``connections.parquet`` and,
    when present, ``synapses.parquet``, ``sites.parquet`` and ``gap_junctions.parquet``.

    The dataset name and ``voxel_nm`` come from ``synthetic.json`` or ``manifest.json`` when
    present, else from what :func:`write_tables` stored in ``neurons.parquet``, else the
    folder name and 8.0 (hemibrain/MANC voxels).

    Args:
        path: the folder.
        synapses, sites, gap_junctions: read that table if its file exists (set False to skip
            a large table).
        voxel_nm: nanometres per coordinate unit; must agree with the folder's if it has one.
        check_weights: see :func:`validate_tables`.

    Raises:
        MissingTableError: the folder or a required table is missing (a ``TableError`` and a
            ``FileNotFoundError``).
        TableError: a table or the metadata file breaks the contract (the message names the file).
    """
    path = Path(path)
    if not path.is_dir():
        raise MissingTableError("connectome folder not found", file=str(path))
    check_whole(path)
    wanted = {"synapses": synapses, "sites": sites, "gap_junctions": gap_junctions}
    frames, files = _read_frames(path, wanted)
    stored = frames["neurons"].attrs.pop(_ATTRS_KEY, None)
    stored = stored if isinstance(stored, dict) else {}
    meta, meta_file = _read_meta(path)
    meta["voxel_nm"] = resolve_voxel_nm([("<voxel_nm argument>", voxel_nm),
                                         (meta_file, meta.get("voxel_nm")),
                                         (files["neurons"], stored.get("voxel_nm"))])
    t = _validate({"neurons": frames["neurons"], "connections": frames["connections"],
                   "synapses": frames.get("synapses"),
                   "sites": _with_aliases(frames.get("sites"), "sites"),
                   "gap_junctions": frames.get("gap_junctions")}, files, check_weights,
                  normalise=True)
    name = meta.get("name") or meta.get("dataset") or stored.get("name") or path.name
    return Connectome(t["neurons"], t["connections"], t["synapses"], name=str(name), path=path,
                      meta=meta, sites=t["sites"], gap_junctions=t["gap_junctions"])


def write_tables(connectome: Connectome, out: str | Path) -> dict[str, Path]:
    """Write the tables of ``connectome`` into folder ``out`` as Parquet, each atomically.

    The connectome's name and ``voxel_nm`` travel in ``neurons.parquet``'s pandas metadata
    (``attrs["synhelpers"]``), so :func:`load_tables` reads them back even without a
    ``manifest.json``.

    Returns:
        A dict from table name to the written path.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for table, fname in TABLE_FILES.items():
        df = getattr(connectome, table)
        if df is None:
            continue
        if table == "neurons":
            df = df.copy(deep=False)
            df.attrs = {**df.attrs, _ATTRS_KEY: {"name": connectome.name,
                                                 "voxel_nm": connectome.voxel_nm}}
        written[table] = write_parquet(df, out / fname)
    return written

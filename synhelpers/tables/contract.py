"""The data contract: a connectome is three tables, ``neurons``, ``connections``, ``synapses``.

Column names follow neuPrint's own (see ``../shared/docs/data-contract.md``), so a
table downloaded with neuprint-python needs no renaming, and a user's own
connectome (FlyWire, BANC, a worm) comes in through :func:`from_frames`.

=============  ===============================  ====================================================
table          required columns                 optional columns
=============  ===============================  ====================================================
neurons        ``bodyId`` (int64, unique)       ``type``, ``instance``, ``class``, ``cell_class``,
                                                ``predictedNt``, ``somaLocation``, any label column
connections    ``bodyId_pre``, ``bodyId_post``, ``roi`` (str; rows then sum per pair)
               ``weight`` (int, > 0)
synapses       ``bodyId_pre``, ``bodyId_post``, ``roi_pre``, ``roi_post``, ``confidence_pre``,
               ``x_pre``, ``y_pre``, ``z_pre``, ``confidence_post``
               ``x_post``, ``y_post``, ``z_post``
=============  ===============================  ====================================================

Coordinates are in the dataset's voxels (8 nm isotropic for hemibrain and MANC).
``synapses`` is optional: without it only the connectome-only models can train.

Every check raises :class:`TableError`, whose message names the file, the column
and the first offending rows. A disagreement between connection weights and
synapse counts is only a :class:`WeightMismatchWarning`, since neuPrint's weights
and its synapse queries can differ slightly (confidence thresholds).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import write_parquet

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

#: File name of each table inside a connectome folder.
TABLE_FILES = {
    "neurons": "neurons.parquet",
    "connections": "connections.parquet",
    "synapses": "synapses.parquet",
}

#: Required columns per table and the kind of dtype each must have ("int" or "number").
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
}

COORD_COLUMNS = ("x_pre", "y_pre", "z_pre", "x_post", "y_post", "z_post")
_MAX_ROWS_SHOWN = 5


class TableError(ValueError):
    """A connectome table breaks the data contract.

    Attributes:
        file: the file (or frame label) the table came from.
        column: the offending column, or ``None`` for whole-table problems.
        rows: positional indices of the first offending rows (at most 5).
    """

    def __init__(self, message: str, *, file: str, column: str | None = None, rows=()):
        self.file = file
        self.column = column
        self.rows = [int(r) for r in rows]
        where = f"{file}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {message}")


class WeightMismatchWarning(UserWarning):
    """Connection weights disagree with the number of synapse rows per pair."""


@dataclass
class Connectome:
    """A validated set of connectome tables.

    Attributes:
        neurons: one row per body; ``bodyId`` unique.
        connections: one row per directed pair (or per pair and ROI when ``roi`` is present).
        synapses: one row per synaptic pair (T-bar and one postsynaptic density), or ``None``.
        name: a human-readable dataset name (e.g. ``"synthetic (seed 0)"``, ``"hemibrain:v1.2.1"``).
        path: the folder the tables were read from, if any.
        meta: free-form metadata (e.g. the contents of ``synthetic.json`` or ``manifest.json``).
    """

    neurons: pd.DataFrame
    connections: pd.DataFrame
    synapses: pd.DataFrame | None = None
    name: str = "connectome"
    path: Path | None = None
    meta: dict = field(default_factory=dict)

    @property
    def has_synapses(self) -> bool:
        return self.synapses is not None

    def __repr__(self) -> str:
        s = "none" if self.synapses is None else f"{len(self.synapses):,}"
        return (
            f"Connectome(name={self.name!r}, neurons={len(self.neurons):,}, "
            f"connections={len(self.connections):,}, synapses={s})"
        )


def _rows_text(df: pd.DataFrame, mask: np.ndarray, columns: list[str]) -> tuple[str, np.ndarray]:
    idx = np.flatnonzero(mask)
    shown = idx[:_MAX_ROWS_SHOWN]
    sub = df.iloc[shown][[c for c in columns if c in df.columns]]
    lines = [f"    row {int(i)}: " + ", ".join(f"{c}={v!r}" for c, v in zip(sub.columns, r))
             for i, r in zip(shown, sub.itertuples(index=False, name=None))]
    more = f"\n    ... and {len(idx) - len(shown):,} more" if len(idx) > len(shown) else ""
    return f"{len(idx):,} offending row(s), first ones:\n" + "\n".join(lines) + more, shown


def _fail(df, mask, *, file, column, what, columns=None) -> None:
    text, shown = _rows_text(df, mask, columns or [column])
    raise TableError(f"{what}; {text}", file=file, column=column, rows=shown)


def _check_columns(df: pd.DataFrame, table: str, file: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TableError(f"expected a pandas DataFrame, got {type(df).__name__}", file=file)
    required = REQUIRED_COLUMNS[table]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise TableError(
            f"missing required column(s) {missing}; the {table} table needs {list(required)} "
            f"and has {list(df.columns)}",
            file=file,
            column=missing[0],
        )
    if len(df) == 0:
        raise TableError(f"the {table} table is empty (0 rows)", file=file)
    for col, kind in required.items():
        dtype = df[col].dtype
        ok = pd.api.types.is_integer_dtype(dtype) if kind == "int" else (
            pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        )
        if not ok:
            want = "an integer dtype (e.g. int64)" if kind == "int" else "a numeric dtype"
            bad = ~pd.to_numeric(df[col], errors="coerce").notna().to_numpy()
            if not bad.any():
                bad = np.zeros(len(df), bool)
                bad[0] = True
            _fail(df, bad, file=file, column=col, what=f"has dtype {dtype}, expected {want}")
        if kind == "int" and df[col].isna().any():
            _fail(df, df[col].isna().to_numpy(), file=file, column=col, what="has missing values")


def validate_tables(
    neurons: pd.DataFrame,
    connections: pd.DataFrame,
    synapses: pd.DataFrame | None = None,
    *,
    files: dict[str, str] | None = None,
    check_weights: bool = True,
) -> None:
    """Check a table set against the data contract; raise :class:`TableError` on the first problem.

    Args:
        neurons, connections, synapses: the tables (``synapses`` may be ``None``).
        files: label of each table used in messages, e.g. ``{"neurons": "data/x/neurons.parquet"}``;
            defaults to ``"<neurons frame>"`` etc.
        check_weights: compare the summed connection weight per pair with the synapse rows
            per pair and emit a :class:`WeightMismatchWarning` when they disagree.

    Raises:
        TableError: missing columns or wrong dtypes, empty table, NaN/inf coordinates,
            duplicate ``bodyId``, unknown bodies in connections or synapses, weights <= 0.

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
    files = {t: f"<{t} frame>" for t in TABLE_FILES} | (files or {})
    _check_columns(neurons, "neurons", files["neurons"])
    _check_columns(connections, "connections", files["connections"])
    if synapses is not None:
        _check_columns(synapses, "synapses", files["synapses"])

    body = neurons["bodyId"].to_numpy()
    dup = neurons["bodyId"].duplicated(keep=False).to_numpy()
    if dup.any():
        _fail(neurons, dup, file=files["neurons"], column="bodyId",
              what=f"has {len(np.unique(body[dup])):,} duplicated bodyId value(s)")
    body_sorted = np.sort(body)

    def unknown(values: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(body_sorted, values).clip(0, len(body_sorted) - 1)
        return body_sorted[pos] != values

    for tname, df in (("connections", connections), ("synapses", synapses)):
        if df is None:
            continue
        for col in ("bodyId_pre", "bodyId_post"):
            bad = unknown(df[col].to_numpy())
            if bad.any():
                n_ids = len(np.unique(df[col].to_numpy()[bad]))
                _fail(df, bad, file=files[tname], column=col,
                      what=f"references {n_ids:,} bodyId(s) absent from the neurons table",
                      columns=["bodyId_pre", "bodyId_post"])

    w = connections["weight"].to_numpy()
    bad = w <= 0
    if bad.any():
        _fail(connections, bad, file=files["connections"], column="weight",
              what="has zero or negative weights (a connection needs at least one synapse)",
              columns=["bodyId_pre", "bodyId_post", "weight"])

    if synapses is not None:
        for col in COORD_COLUMNS:
            v = synapses[col].to_numpy(dtype=np.float64, na_value=np.nan)
            bad = ~np.isfinite(v)
            if bad.any():
                _fail(synapses, bad, file=files["synapses"], column=col,
                      what="has NaN or infinite coordinates", columns=["bodyId_pre", "bodyId_post", col])
        if check_weights:
            _check_weights(connections, synapses, files, body_sorted)


def _check_weights(connections: pd.DataFrame, synapses: pd.DataFrame, files: dict, body_sorted) -> None:
    """Warn when a pair's summed weight differs from its number of synapse rows.

    Pairs are keyed by the positions of their bodyIds among the sorted neurons (int64-safe).
    """
    n = len(body_sorted)

    def pair_key(df):
        return (np.searchsorted(body_sorted, df["bodyId_pre"].to_numpy()).astype(np.int64) * n
                + np.searchsorted(body_sorted, df["bodyId_post"].to_numpy()))

    ckey, inv = np.unique(pair_key(connections), return_inverse=True)
    cw = np.bincount(inv, weights=connections["weight"].to_numpy(np.float64))
    skey, sc = np.unique(pair_key(synapses), return_counts=True)
    keys = np.union1d(ckey, skey)
    w = np.zeros(len(keys))
    c = np.zeros(len(keys))
    w[np.searchsorted(keys, ckey)] = cw
    c[np.searchsorted(keys, skey)] = sc
    diff = np.flatnonzero(w != c)
    if len(diff):
        ex = diff[:3]
        examples = "; ".join(
            f"{body_sorted[k // n]}->{body_sorted[k % n]}: weight {int(w[i])} vs {int(c[i])} synapses"
            for k, i in zip(keys[ex], ex))
        warnings.warn(
            f"{files['connections']} vs {files['synapses']}: {len(diff):,} of {len(keys):,} connected "
            f"pairs have a summed weight that differs from their number of synapse rows (e.g. {examples})",
            WeightMismatchWarning,
            stacklevel=3,
        )


def from_frames(
    neurons: pd.DataFrame,
    connections: pd.DataFrame,
    synapses: pd.DataFrame | None = None,
    *,
    name: str = "user connectome",
    meta: dict | None = None,
    check_weights: bool = True,
) -> Connectome:
    """Validate in-memory tables and wrap them as a :class:`Connectome`.

    This is how any connectome (FlyWire, BANC, a worm, ...) enters the pipeline: rename
    its columns to the contract's (``bodyId``, ``bodyId_pre``, ``bodyId_post``, ``weight``,
    ``x_pre`` ...), then call this.

    Example:
        >>> import pandas as pd
        >>> n = pd.DataFrame({"bodyId": [1, 2, 3], "cell_class": ["A", "B", "A"]})
        >>> c = pd.DataFrame({"bodyId_pre": [1, 2], "bodyId_post": [2, 3], "weight": [4, 1]})
        >>> from_frames(n, c, name="toy")
        Connectome(name='toy', neurons=3, connections=2, synapses=none)
    """
    validate_tables(neurons, connections, synapses, check_weights=check_weights)
    return Connectome(neurons, connections, synapses, name=name, meta=dict(meta or {}))


def load_tables(path: str | Path, *, synapses: bool = True, check_weights: bool = True) -> Connectome:
    """Read and validate a connectome folder (``neurons.parquet``, ``connections.parquet``,
    optional ``synapses.parquet``).

    The dataset name comes from ``synthetic.json`` or ``manifest.json`` when present.

    Args:
        path: the folder.
        synapses: read ``synapses.parquet`` if it exists (set False to skip the large table).
        check_weights: see :func:`validate_tables`.

    Raises:
        FileNotFoundError: the folder or a required table is missing.
        TableError: a table breaks the contract (the message names the file).
    """
    import json

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"connectome folder not found: {path}")
    frames = {}
    files = {}
    for table, fname in TABLE_FILES.items():
        f = path / fname
        files[table] = str(f)
        if not f.exists():
            if table == "synapses":
                continue
            raise FileNotFoundError(f"{f}: required table '{table}' is missing from {path}")
        if table == "synapses" and not synapses:
            continue
        try:
            frames[table] = pd.read_parquet(f, engine="pyarrow")
        except Exception as e:  # corrupt or not Parquet
            raise TableError(f"cannot be read as Parquet ({type(e).__name__}: {e})", file=str(f)) from e
    validate_tables(frames["neurons"], frames["connections"], frames.get("synapses"),
                    files=files, check_weights=check_weights)
    meta: dict = {}
    name = path.name
    for mfile in ("synthetic.json", "manifest.json"):
        if (path / mfile).exists():
            meta = json.loads((path / mfile).read_text())
            name = meta.get("name") or meta.get("dataset") or name
            break
    return Connectome(frames["neurons"], frames["connections"], frames.get("synapses"),
                      name=name, path=path, meta=meta)


def write_tables(connectome: Connectome, out: str | Path) -> dict[str, Path]:
    """Write the tables of ``connectome`` into folder ``out`` as Parquet, each atomically.

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
        written[table] = write_parquet(df, out / fname)
    return written

"""The data contract's checks, one per kind of bad input (see ``docs/data-contract.md``).

Each check raises :class:`TableError`, whose message names the file (or frame label), the
column and the first offending rows, e.g.::

    data/x/sites.parquet, column 'kind': has 2 value(s) other than 'pre' and 'post'; ...
        row 3: bodyId=10, kind='PRE'

They are the building blocks of :func:`synhelpers.tables.contract.validate_tables`; every
check is vectorised (no per-row Python loop) and memory-lean: columns are read in their own
dtype (no float64 copy of a coordinate table) and long columns are checked in blocks of
:data:`BLOCK_ROWS` rows, so a FlyWire-size synapse table (~54M rows) needs no full-length
temporary beyond a boolean mask, and that only when a check fails.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

__all__ = [
    "TableError",
    "MissingTableError",
    "WeightMismatchWarning",
    "DEFAULT_VOXEL_NM",
    "MAX_ABS_COORD",
    "SITE_KINDS",
    "check_frame",
    "check_known_ids",
    "check_positive",
    "check_coordinates",
    "check_confidence",
    "check_site_kind",
    "check_gap_pairs",
    "check_weights_match",
    "check_voxel_nm",
    "resolve_voxel_nm",
]

#: Voxel size (nm per coordinate unit) assumed when nothing declares one: hemibrain's and MANC's.
DEFAULT_VOXEL_NM = 8.0
#: Largest absolute coordinate accepted, in any unit: 1e12 nm is a kilometre, 1e12 voxels of
#: 8 nm are 8 km, so a larger value is a wrapped integer or a mis-scaled column, never a synapse.
MAX_ABS_COORD = 1e12
#: Allowed values of the ``kind`` column of the sites table.
SITE_KINDS = ("pre", "post")
_INT64_MAX = np.iinfo(np.int64).max
_MAX_ROWS_SHOWN = 5
#: Rows per block of the blockwise checks.
BLOCK_ROWS = 1 << 23


def _mask_by_blocks(n: int, block_mask) -> np.ndarray | None:
    """The (n,) bool mask ``block_mask(slice)`` gives block by block, or ``None`` when it is
    False everywhere (then no full-length mask is ever built)."""
    mask = None
    for start in range(0, n, BLOCK_ROWS):
        b = slice(start, min(start + BLOCK_ROWS, n))
        m = block_mask(b)
        if m.any():
            if mask is None:
                mask = np.zeros(n, bool)
            mask[b] = m
    return mask


def _own_numbers(s: pd.Series) -> np.ndarray:
    """A numeric column as numpy in its own dtype (no copy); else as float64 (NaN missing)."""
    values = s.to_numpy()
    return values if values.dtype.kind in "iuf" else s.to_numpy(np.float64, na_value=np.nan)


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


class MissingTableError(TableError, FileNotFoundError):
    """A required table file (or the folder) is missing: a :class:`TableError` naming the file,
    and a ``FileNotFoundError`` for code that catches that."""


class WeightMismatchWarning(UserWarning):
    """Connection weights disagree with the number of synapse rows per pair."""


def _rows_text(df: pd.DataFrame, mask: np.ndarray, columns: list[str]) -> tuple[str, np.ndarray]:
    idx = np.flatnonzero(mask)
    shown = idx[:_MAX_ROWS_SHOWN]
    sub = df.iloc[shown][[c for c in columns if c in df.columns]]
    lines = [f"    row {int(i)}: " + ", ".join(f"{c}={v!r}" for c, v in zip(sub.columns, r))
             for i, r in zip(shown, sub.itertuples(index=False, name=None))]
    more = f"\n    ... and {len(idx) - len(shown):,} more" if len(idx) > len(shown) else ""
    return f"{len(idx):,} offending row(s), first ones:\n" + "\n".join(lines) + more, shown


def fail(df, mask, *, file, column, what, columns=None) -> None:
    """Raise a :class:`TableError` for the rows of ``df`` where ``mask`` is True."""
    text, shown = _rows_text(df, np.asarray(mask, bool), columns or [column])
    raise TableError(f"{what}; {text}", file=file, column=column, rows=shown)


# --------------------------------------------------------------------------- columns and dtypes


def check_frame(df, required: dict[str, str], table: str, file: str, hint: str = "") -> None:
    """A non-empty DataFrame with unique column names, the required columns and their dtypes.

    Args:
        required: column -> ``"int"`` (an integer dtype that fits int64, no missing value),
            ``"number"`` (integer or float dtype) or ``"any"`` (values checked elsewhere).
        hint: appended to the missing-column message (e.g. an accepted alias).
    """
    if not isinstance(df, pd.DataFrame):
        raise TableError(f"expected a pandas DataFrame, got {type(df).__name__}", file=file)
    dup = df.columns[df.columns.duplicated()]
    if len(dup):
        raise TableError(f"has duplicated column name(s) {sorted({str(c) for c in dup})}; "
                         "every column name must appear once", file=file, column=str(dup[0]))
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise TableError(
            f"missing required column(s) {missing}; the {table} table needs {list(required)} "
            f"and has {list(df.columns)}{hint}", file=file, column=missing[0])
    if len(df) == 0:
        raise TableError(f"the {table} table is empty (0 rows)", file=file)
    for col, kind in required.items():
        if kind == "int":
            _check_int64(df, col, file)
        elif kind == "number" and not _is_number(df[col].dtype):
            _fail_dtype(df, col, file, "a numeric dtype (integer or float)")


def _is_number(dtype) -> bool:
    api = pd.api.types
    return (api.is_integer_dtype(dtype) or api.is_float_dtype(dtype)) and not api.is_bool_dtype(dtype)


def _as_float(values: pd.Series) -> np.ndarray:
    """Any column as float64 (NaN where not a number); used to name offending rows."""
    try:
        with warnings.catch_warnings():  # complex values: their real part is enough to name rows
            warnings.simplefilter("ignore")
            num = pd.to_numeric(pd.Series(values.to_numpy(object)), errors="coerce")
            return num.to_numpy(np.float64, na_value=np.nan)
    except (TypeError, ValueError, OverflowError):  # lists, dicts, ...: nothing is a number
        return np.full(len(values), np.nan)


def _fail_dtype(df, col, file, want: str, bad: np.ndarray | None = None, why: str = "") -> None:
    """Name the rows that are not numbers (or ``bad``), else the first row."""
    if bad is None:
        bad = ~np.isfinite(_as_float(df[col]))
    if not bad.any():
        bad = np.zeros(len(df), bool)
        bad[0] = True
    fail(df, bad, file=file, column=col, what=f"has dtype {df[col].dtype}, expected {want}{why}")


def _check_int64(df: pd.DataFrame, col: str, file: str) -> None:
    """An integer column whose values all fit in int64 (bodyIds and weights).

    A uint64 value >= 2**63 would wrap to a negative number, and a float column holds
    integers exactly only up to 2**53 (FlyWire root ids are ~7e17), so both are errors.
    """
    s = df[col]
    want = "an integer dtype (e.g. int64)"
    if not pd.api.types.is_integer_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        f = _as_float(s)
        bad = ~np.isfinite(f) | (np.abs(f) >= 2.0**63) | (f != np.round(f))
        if bad.any():
            _fail_dtype(df, col, file, want, bad, "; these rows are not integers within int64 "
                        "(missing, fractional, non-numeric or beyond +-2**63)")
        if pd.api.types.is_float_dtype(s.dtype) and (np.abs(f) > 2.0**53).any():
            _fail_dtype(df, col, file, want, np.abs(f) > 2.0**53,
                        "; float64 holds integers exactly only up to 2**53, so these ids may "
                        "already be wrong: read them from the source as int64")
        _fail_dtype(df, col, file, want, bad, "; convert it with .astype('int64') if every "
                    "value is a whole number")
    if s.isna().any():
        fail(df, s.isna().to_numpy(), file=file, column=col, what="has missing values")
    if pd.api.types.is_unsigned_integer_dtype(s.dtype):
        bad = s.to_numpy(np.uint64) > np.uint64(_INT64_MAX)
        if bad.any():
            fail(df, bad, file=file, column=col,
                 what=f"has {int(bad.sum()):,} value(s) >= 2**63, which do not fit in int64 "
                      "(they would wrap to negative numbers)")


# --------------------------------------------------------------------------- values


def check_known_ids(df, col: str, body_sorted: np.ndarray, *, file: str, columns: list[str]) -> None:
    """Every id in ``df[col]`` is a neuron of the (sorted, int64) ``body_sorted``."""
    values = df[col].to_numpy(np.int64)

    def unknown(b: slice) -> np.ndarray:
        pos = np.searchsorted(body_sorted, values[b]).clip(0, len(body_sorted) - 1)
        return body_sorted[pos] != values[b]

    bad = _mask_by_blocks(len(values), unknown)
    if bad is not None:
        n_ids = len(np.unique(values[bad]))
        fail(df, bad, file=file, column=col, columns=columns,
             what=f"references {n_ids:,} bodyId(s) absent from the neurons table")


def check_positive(df, col: str, *, file: str, columns: list[str], what: str) -> None:
    """``df[col] > 0`` on every row (an int64-safe integer column)."""
    bad = df[col].to_numpy(np.int64) <= 0
    if bad.any():
        fail(df, bad, file=file, column=col, columns=columns, what=what)


def check_coordinates(df, cols, *, file: str, id_columns: list[str]) -> None:
    """Coordinates are finite and at most :data:`MAX_ABS_COORD` in absolute value."""
    for col in cols:
        _check_coordinate_column(df, col, file, [*id_columns, col])


def _check_coordinate_column(df, col: str, file: str, show: list[str]) -> None:
    v = _own_numbers(df[col])
    if v.dtype.kind == "f":  # integers are always finite
        bad = _mask_by_blocks(len(v), lambda b: ~np.isfinite(v[b]))
        if bad is not None:
            fail(df, bad, file=file, column=col, columns=show, what="has NaN or infinite coordinates")
    if len(v) and (v.min() < -MAX_ABS_COORD or v.max() > MAX_ABS_COORD):
        bad = _mask_by_blocks(len(v), lambda b: (v[b] < -MAX_ABS_COORD) | (v[b] > MAX_ABS_COORD))
        fail(df, bad, file=file, column=col, columns=show,
             what=f"has coordinates beyond +-{MAX_ABS_COORD:g}, larger than any connectome in "
                  "any unit (a wrapped integer or a mis-scaled column?)")


def check_confidence(df, col: str, *, file: str, id_columns: list[str]) -> None:
    """An optional confidence column: numeric, within [0, 1]; missing (NaN) means unknown."""
    if col not in df.columns:
        return
    if not _is_number(df[col].dtype):
        _fail_dtype(df, col, file, "a float dtype with values in [0, 1]")
    v = _own_numbers(df[col])  # NaN compares False: allowed
    bad = (v < 0) | (v > 1)
    if bad.any():
        fail(df, bad, file=file, column=col, columns=[*id_columns, col],
             what="has confidences outside [0, 1] (NaN is allowed and means unknown)")


def check_site_kind(df, *, file: str) -> None:
    """``kind`` is ``"pre"`` or ``"post"`` on every row (string or categorical column)."""
    s = df["kind"]
    try:
        ok = s.isin(SITE_KINDS).to_numpy(bool)
    except TypeError:  # unhashable values (lists, ...): compare their text
        ok = s.astype(str).isin(SITE_KINDS).to_numpy(bool)
    if not ok.all():
        fail(df, ~ok, file=file, column="kind", columns=["bodyId", "kind"],
             what=f"has {int((~ok).sum()):,} value(s) other than the allowed {list(SITE_KINDS)} "
                  "('pre' a T-bar, 'post' a postsynaptic density; navis/CATMAID connector tables "
                  "code them 0 and 1: map 0 -> 'pre', 1 -> 'post')")


def check_gap_pairs(df, *, file: str) -> None:
    """No self-pair, and each unordered pair at most once ((a, b) and (b, a) are one junction)."""
    a = df["bodyId_a"].to_numpy(np.int64)
    b = df["bodyId_b"].to_numpy(np.int64)
    show = ["bodyId_a", "bodyId_b", "weight"]
    self_pair = a == b
    if self_pair.any():
        fail(df, self_pair, file=file, column="bodyId_b", columns=show,
             what="has self-pairs (bodyId_a == bodyId_b); a gap junction joins two neurons")
    pairs = pd.DataFrame({"lo": np.minimum(a, b), "hi": np.maximum(a, b)})
    dup = pairs.duplicated(keep=False).to_numpy()
    if dup.any():
        n_pairs = int(pairs[dup].drop_duplicates().shape[0])
        fail(df, dup, file=file, column="bodyId_b", columns=show,
             what=f"lists {n_pairs:,} unordered pair(s) more than once; the table is undirected, "
                  "so (a, b) and (b, a) are the same junction: keep one row per pair (for a "
                  "symmetric source listing both directions, keep the rows with bodyId_a < "
                  "bodyId_b; to add up parts, group by the sorted pair and sum the weights)")


def check_weights_match(connections: pd.DataFrame, synapses: pd.DataFrame, files: dict, body_sorted) -> None:
    """Warn when a pair's summed weight differs from its number of synapse rows.

    Pairs are keyed by the positions of their bodyIds among the sorted neurons (int64-safe).
    """
    n = len(body_sorted)
    ckey, cw = _pair_sums(connections, body_sorted, connections["weight"].to_numpy(np.float64))
    skey, sc = _pair_sums(synapses, body_sorted, None)
    keys = np.sort(np.concatenate([ckey, skey]))  # = np.union1d (both sorted), sort-based
    keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
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


def _pair_sums(df: pd.DataFrame, body_sorted, weight: np.ndarray | None):
    """Sorted pair keys ``pre_pos * N + post_pos`` of ``df`` and the summed ``weight`` (the row
    count when ``None``) per key, block by block (no full-length key array)."""
    n = len(body_sorted)
    pre, post = df["bodyId_pre"].to_numpy(np.int64), df["bodyId_post"].to_numpy(np.int64)
    keys, sums = [], []
    for start in range(0, max(len(df), 1), BLOCK_ROWS):  # one (empty) block for no rows
        b = slice(start, start + BLOCK_ROWS)
        key = np.searchsorted(body_sorted, pre[b]) * n + np.searchsorted(body_sorted, post[b])
        ukey, inv = np.unique(key, return_inverse=True)
        keys.append(ukey)
        sums.append(np.bincount(inv, weights=None if weight is None else weight[b],
                                minlength=len(ukey)))
    if len(keys) == 1:
        return keys[0], sums[0]
    ukey, inv = np.unique(np.concatenate(keys), return_inverse=True)
    return ukey, np.bincount(inv, weights=np.concatenate(sums).astype(np.float64),
                             minlength=len(ukey))


# --------------------------------------------------------------------------- units


def check_voxel_nm(value, source: str) -> float:
    """``value`` as a float if it is a finite positive number of nanometres, else a TableError.

    Example:
        >>> check_voxel_nm(8, "<voxel_nm argument>")
        8.0
        >>> check_voxel_nm(-1.0, "manifest.json")
        Traceback (most recent call last):
        ...
        synhelpers.tables.checks.TableError: manifest.json: voxel_nm must be a finite positive number of nanometres per coordinate unit, got -1.0
    """
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    try:
        v = float(value) if ok else math.nan
    except OverflowError:
        v = math.inf
    if not (math.isfinite(v) and v > 0):
        raise TableError("voxel_nm must be a finite positive number of nanometres per coordinate "
                         f"unit, got {value!r:.40}", file=source)
    return v


def resolve_voxel_nm(sources: list[tuple[str, object]]) -> float:
    """The voxel size from the first source that gives one; every other one must agree.

    Args:
        sources: ``(label, value)`` pairs, most authoritative first; ``None`` values are skipped.

    Returns:
        nm per coordinate unit, or :data:`DEFAULT_VOXEL_NM` (hemibrain/MANC) if none is given.

    Example:
        >>> resolve_voxel_nm([("<voxel_nm argument>", None), ("manifest.json", 4)])
        4.0
        >>> resolve_voxel_nm([])
        8.0
    """
    given = [(label, check_voxel_nm(v, label)) for label, v in sources if v is not None]
    if not given:
        return DEFAULT_VOXEL_NM
    first_label, first = given[0]
    for label, v in given[1:]:
        if v != first:
            raise TableError(f"voxel_nm = {v:g} disagrees with voxel_nm = {first:g} from "
                             f"{first_label}; give one value", file=label)
    return first

"""Property: whatever is done to a valid table set, the contract answers with a valid
``Connectome`` or a ``TableError`` naming the file (or ``FileNotFoundError`` for a missing
required file), never with another exception and never with a silently broken connectome.

Starts from a 30-neuron random connectome (all five tables) and mutates it at random:
dropped, renamed or retyped columns; NaN, inf, huge, negative or unknown values; duplicated,
reversed or removed rows; truncated, overwritten or deleted files; broken metadata.
The example budget is fixed and derandomised, so the run is deterministic (~10 s on one core).
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synhelpers.tables.contract import (
    MAX_ABS_COORD,
    TABLE_FILES,
    Connectome,
    TableError,
    TableNotice,
    WeightMismatchWarning,
    from_frames,
    load_tables,
    write_tables,
)

TABLES = tuple(TABLE_FILES)
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
#: Values injected into random rows of any column (the column then holds Python objects).
VALUES = [np.nan, np.inf, 1e300, 2**64 + 1, -1, 0.5, "x", "", None, True, 999_999, "pre"]
#: Values injected keeping the column's dtype: integers (ids, weights), floats, text.
INT_VALUES = [-1, 0, 999_999, 2**62, -(2**62), 2**63 + 5]  # the last one makes the column uint64
FLOAT_VALUES = [np.nan, np.inf, -np.inf, 1e300, -1e13, 1e12, -0.5, 1.5, 0.0]
TEXT_VALUES = ["pre", "post", "PRE", "", None, "x"]
DTYPES = ["str", "float64", "float32", "object", "bool", "category", "uint64", "int8",
          "complex128", "Int64", "string"]
#: Mostly no voxel size (the default), sometimes a valid or an invalid one.
VOXEL_NM = [None] * 14 + [8, 1.0, 0, -1, float("nan"), float("inf"), "8", 1e308]


@functools.cache
def _base() -> dict[str, pd.DataFrame]:
    """A valid 30-neuron connectome with every table (fixed seed)."""
    rng = np.random.default_rng(0)
    n = 30
    body = rng.choice(np.arange(10**15, 10**15 + 10**6), n, replace=False).astype(np.int64)
    neurons = pd.DataFrame({"bodyId": body, "cell_class": rng.choice(["A", "B", None], n)})
    pairs = np.unique(rng.integers(0, n, (120, 2)), axis=0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    weight = rng.integers(1, 4, len(pairs))
    connections = pd.DataFrame({"bodyId_pre": body[pairs[:, 0]], "bodyId_post": body[pairs[:, 1]],
                                "weight": weight})
    rows = np.repeat(np.arange(len(pairs)), weight)
    xyz = rng.integers(0, 40_000, (len(rows), 6)).astype(np.int32)
    dtypes = [np.int32, np.float32, np.int64, np.int32, np.float64, np.int32]  # as exports mix them
    synapses = pd.DataFrame({"bodyId_pre": body[pairs[rows, 0]], "bodyId_post": body[pairs[rows, 1]],
                             **{c: xyz[:, i].astype(dtypes[i]) for i, c in enumerate(
                                 ["x_pre", "y_pre", "z_pre", "x_post", "y_post", "z_post"])},
                             "confidence_pre": rng.random(len(rows)).astype(np.float32)})
    sites = pd.DataFrame({"bodyId": np.concatenate([synapses.bodyId_pre, synapses.bodyId_post]),
                          "kind": ["pre"] * len(rows) + ["post"] * len(rows),
                          "x": np.concatenate([xyz[:, 0], xyz[:, 3]]),
                          "y": np.concatenate([xyz[:, 1], xyz[:, 4]]).astype(np.float64),
                          "z": np.concatenate([xyz[:, 2], xyz[:, 5]]),
                          "confidence": rng.random(2 * len(rows))})
    gap = np.unique(np.sort(rng.integers(0, n, (15, 2)), axis=1), axis=0)
    gap = gap[gap[:, 0] != gap[:, 1]]
    gap_junctions = pd.DataFrame({"bodyId_a": body[gap[:, 0]], "bodyId_b": body[gap[:, 1]],
                                  "weight": rng.integers(1, 5, len(gap))})
    return {"neurons": neurons, "connections": connections, "synapses": synapses,
            "sites": sites, "gap_junctions": gap_junctions}


@functools.cache
def _base_folder() -> Path:
    d = Path(tempfile.mkdtemp(prefix="contract_hypothesis_"))
    write_tables(from_frames(**_base(), name="base"), d)
    return d


def _mutate_column(data, df: pd.DataFrame, op: str) -> pd.DataFrame:
    col = data.draw(st.sampled_from(list(df.columns)), label="column")
    if op == "drop_column":
        return df.drop(columns=col)
    if op == "rename_column":
        new = data.draw(st.sampled_from([*df.columns, "type", "kind", "bodyid", ""]), label="to")
        return df.rename(columns={col: new})
    if op == "retype":
        try:
            return df.assign(**{col: df[col].astype(data.draw(st.sampled_from(DTYPES), label="dtype"))})
        except (TypeError, ValueError, OverflowError):  # not convertible: leave it
            return df
    rows = data.draw(st.lists(st.integers(0, len(df) - 1), min_size=1, max_size=3), label="rows")
    return df.assign(**{col: _set_values(data, df[col], rows, typed=op == "set_typed")})


def _set_values(data, s: pd.Series, rows: list[int], typed: bool) -> pd.Series:
    """``s`` with a drawn value at ``rows``: keeping its dtype kind (``typed``) or as objects."""
    kind = s.dtype.kind if typed else "O"
    if kind in "iu":
        value = data.draw(st.sampled_from(INT_VALUES), label="int value")
        values = s.to_numpy(np.uint64 if value >= 2**63 else np.int64).copy()
    elif kind == "f":
        value = data.draw(st.sampled_from(FLOAT_VALUES), label="float value")
        values = s.to_numpy(np.float64).copy()
    else:
        pool = TEXT_VALUES if typed else VALUES
        value = data.draw(st.sampled_from(pool), label="value")
        values = s.to_numpy(object).copy()
    values[rows] = value
    out = pd.Series(values, index=s.index)
    return out.infer_objects() if kind == "O" and data.draw(st.booleans(), label="infer") else out


def _mutate(data, frames: dict, table: str | None = None) -> None:
    """One random mutation of one table (``table``, else a random one), in place in ``frames``."""
    table = table or data.draw(st.sampled_from(TABLES), label="table")
    df = frames[table]
    if not isinstance(df, pd.DataFrame) or len(df) == 0 or len(df.columns) == 0:
        return
    if df.columns.duplicated().any():  # already broken; pandas cannot edit it column-wise
        return
    op = data.draw(st.sampled_from(["drop_column", "rename_column", "retype", "set_values",
                                    "set_typed", "set_typed", "set_typed", "set_typed",
                                    "duplicate_rows", "reverse_rows",
                                    "drop_rows", "empty", "remove_table", "not_a_frame"]), label="op")
    if op in ("drop_column", "rename_column", "retype", "set_values", "set_typed"):
        frames[table] = _mutate_column(data, df, op)
    elif op in ("duplicate_rows", "reverse_rows", "drop_rows"):
        rows = data.draw(st.lists(st.integers(0, len(df) - 1), min_size=1, max_size=4), label="rows")
        part = df.iloc[rows]
        if op == "reverse_rows" and len(df.columns) >= 2:  # (a, b) -> (b, a): listed both ways
            first, second = list(df.columns[:2])
            part = part.rename(columns={first: second, second: first})
        frames[table] = (df.drop(index=df.index[rows]) if op == "drop_rows"
                         else pd.concat([df, part], ignore_index=True))
    elif op == "empty":
        frames[table] = df.iloc[:0]
    elif op == "remove_table":
        frames[table] = None
    else:
        frames[table] = df.to_dict("list")


def _assert_contract_holds(con: Connectome) -> None:
    """What a valid Connectome promises, checked independently of the contract's code."""
    assert isinstance(con, Connectome)
    ids = con.neurons["bodyId"]
    assert pd.api.types.is_integer_dtype(ids.dtype) and ids.notna().all() and ids.is_unique
    assert int(ids.max()) < 2**63 and int(ids.min()) >= -(2**63)
    known = set(ids.astype(object))
    refs = [("connections", "bodyId_pre"), ("connections", "bodyId_post"),
            ("synapses", "bodyId_pre"), ("synapses", "bodyId_post"), ("sites", "bodyId"),
            ("gap_junctions", "bodyId_a"), ("gap_junctions", "bodyId_b")]
    for table, col in refs:
        df = getattr(con, table)
        if df is not None:
            assert set(df[col].astype(object)) <= known, (table, col)
    for df in (con.connections, con.gap_junctions):
        if df is not None:
            assert (df["weight"].astype(object) > 0).all()
    coords = [(con.synapses, ["x_pre", "y_pre", "z_pre", "x_post", "y_post", "z_post"]),
              (con.sites, ["x", "y", "z"])]
    for df, cols in coords:
        if df is not None:
            v = df[cols].to_numpy(np.float64)
            assert np.isfinite(v).all() and (np.abs(v) <= MAX_ABS_COORD).all()
    if con.sites is not None:
        assert con.sites["kind"].isin(["pre", "post"]).all()
    keys = ["bodyId_pre", "bodyId_post", *(["roi"] if "roi" in con.connections.columns else [])]
    assert not con.connections.duplicated(keys).any(), "duplicate connection rows are merged"
    if con.gap_junctions is not None:
        a, b = con.gap_junctions["bodyId_a"], con.gap_junctions["bodyId_b"]
        assert (a != b).all()
        assert not pd.DataFrame({"lo": np.minimum(a, b), "hi": np.maximum(a, b)}).duplicated().any()
    v = con.meta["voxel_nm"]
    assert isinstance(v, float) and np.isfinite(v) and v > 0


def _outcome(call, allowed_files: set[str]) -> None:
    """Run ``call``: a valid Connectome, or a TableError whose message starts with its file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a numpy/pandas warning would be a silent problem
            warnings.simplefilter("ignore", WeightMismatchWarning)
            # rows merged or dropped by the normalisation are reported on purpose
            warnings.simplefilter("ignore", TableNotice)
            con = call()
    except TableError as e:
        assert e.file in allowed_files, (e.file, str(e))
        assert str(e).startswith(e.file)
        return
    _assert_contract_holds(con)


@settings(max_examples=300, **SETTINGS)
@given(data=st.data())
def test_mutated_frames_give_a_connectome_or_a_table_error(data):
    frames = {t: df.copy() for t, df in _base().items()}
    for _ in range(data.draw(st.integers(1, 3), label="n_mutations")):
        _mutate(data, frames)
    voxel_nm = data.draw(st.sampled_from(VOXEL_NM), label="voxel_nm")
    labels = {f"<{t} frame>" for t in TABLES} | {"<voxel_nm argument>"}
    _outcome(lambda: from_frames(**frames, voxel_nm=voxel_nm), labels)


def _damage(data, folder: Path) -> None:
    """One random damage to one file of ``folder``."""
    fname = data.draw(st.sampled_from([*TABLE_FILES.values(), "manifest.json"]), label="file")
    f = folder / fname
    op = data.draw(st.sampled_from(["truncate", "overwrite", "delete", "empty", "append",
                                    "rewrite", "rewrite"]), label="damage")
    if fname == "manifest.json":
        text = data.draw(st.sampled_from(['{"voxel_nm": -1}', '{"voxel_nm": "8"}', "[1, 2]",
                                          '{"voxel_nm": 4}', '{"name": 3}', "{", "\xff"]))
        f.write_bytes(text.encode("latin-1"))
        return
    raw = f.read_bytes() if f.exists() else b""
    if not raw:  # already deleted or emptied
        return
    if op == "truncate":
        f.write_bytes(raw[: data.draw(st.integers(0, len(raw) - 1), label="keep")])
    elif op == "overwrite":
        at = data.draw(st.integers(0, len(raw) - 1), label="at")
        junk = data.draw(st.binary(min_size=1, max_size=64), label="junk")
        f.write_bytes(raw[:at] + junk + raw[at + len(junk):])
    elif op == "delete":
        f.unlink()
    elif op == "empty":
        f.write_bytes(b"")
    elif op == "append":
        f.write_bytes(raw + data.draw(st.binary(min_size=1, max_size=64), label="tail"))
    else:  # a table mutated in memory and written back as valid Parquet
        table = fname.removesuffix(".parquet")
        try:
            frames = {table: pd.read_parquet(f)}
        except Exception:  # damaged by an earlier step: nothing to rewrite
            return
        _mutate(data, frames, table)
        df = frames[table]
        try:
            df.to_parquet(f) if isinstance(df, pd.DataFrame) else f.unlink()
        except Exception:  # pyarrow cannot store this column (mixed objects): keep the file
            f.write_bytes(raw)


@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_damaged_folders_give_a_connectome_or_a_named_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "con"
        shutil.copytree(_base_folder(), folder)
        for _ in range(data.draw(st.integers(1, 2), label="n_damages")):
            _damage(data, folder)
        files = {str(folder / f) for f in [*TABLE_FILES.values(), "manifest.json"]}
        try:
            _outcome(lambda: load_tables(folder), files)
        except FileNotFoundError as e:
            missing = [f for f in ("neurons.parquet", "connections.parquet") if f in str(e)]
            assert missing and not (folder / missing[0]).exists(), str(e)

"""Batched, resumable work: Parquet parts written atomically, then assembled into tables.

Layout inside the output folder ``out``::

    out/.parts/<plan key>/plan.json             what is being downloaded (no token)
    out/.parts/<plan key>/bodies.parquet        the body ids, in batch order
    out/.parts/<plan key>/<table>/part-00007.parquet

Each part is written to a temporary file and renamed into place (:func:`synhelpers.io.atomic_path`),
so a part either exists whole or not at all; a rerun skips the parts that exist. When every
part is there, :func:`assemble` streams the parts of each table into one Parquet file (one
part in memory at a time), validates the tables against the data contract and only then
renames them into ``out``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ...io import atomic_path, sha256_file, write_json
from ..contract import REQUIRED_COLUMNS, TABLE_FILES, validate_tables
from .errors import DiskFullError

__all__ = ["PartStore", "assemble", "CONNECTION_SCHEMA", "SYNAPSE_SCHEMA", "disk_full_guard"]

#: Arrow schema of a connections part (per-ROI rows, neuPrint column names).
CONNECTION_SCHEMA = pa.schema([
    ("bodyId_pre", pa.int64()), ("bodyId_post", pa.int64()), ("roi", pa.string()), ("weight", pa.int64()),
])

#: Arrow schema of a synapses part (what ``fetch_synapse_connections`` returns).
SYNAPSE_SCHEMA = pa.schema([
    ("bodyId_pre", pa.int64()), ("bodyId_post", pa.int64()),
    ("roi_pre", pa.string()), ("roi_post", pa.string()),
    ("x_pre", pa.int32()), ("y_pre", pa.int32()), ("z_pre", pa.int32()),
    ("x_post", pa.int32()), ("y_post", pa.int32()), ("z_post", pa.int32()),
    ("confidence_pre", pa.float32()), ("confidence_post", pa.float32()),
])

SCHEMAS = {"connections": CONNECTION_SCHEMA, "synapses": SYNAPSE_SCHEMA}


@contextlib.contextmanager
def disk_full_guard(what: str) -> Iterator[None]:
    """Turn ``OSError(ENOSPC/EDQUOT)`` into a one-line :class:`DiskFullError`."""
    try:
        yield
    except OSError as e:
        if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            raise DiskFullError(f"disk full while writing {what}; free some space and rerun "
                                "(finished parts are kept and the download resumes)") from None
        raise


def to_arrow(df: pd.DataFrame, table: str) -> pa.Table:
    """Convert a part to Arrow, with the fixed schema for connections/synapses."""
    schema = SCHEMAS.get(table)
    if schema is None:
        return pa.Table.from_pandas(df, preserve_index=False)
    df = df[[f.name for f in schema]].copy()
    for f in schema:
        if pa.types.is_string(f.type):
            df[f.name] = df[f.name].astype(object).where(df[f.name].notna(), None)
    return pa.Table.from_pandas(df, schema=schema, preserve_index=False)


class PartStore:
    """The parts of one download plan.

    Args:
        out: the output folder.
        plan: a JSON-able description of the download (dataset, source, criteria, batch
            size ...); its hash names the parts folder, so a different plan never reuses
            another plan's parts. It must not hold a token.
    """

    def __init__(self, out: str | os.PathLike, plan: dict):
        self.out = Path(out)
        self.plan = plan
        key = hashlib.sha256(json.dumps(plan, sort_keys=True, default=str).encode()).hexdigest()[:12]
        self.root = self.out / ".parts" / key
        self.root.mkdir(parents=True, exist_ok=True)
        with disk_full_guard(str(self.root / "plan.json")):
            if not (self.root / "plan.json").exists():
                write_json(self.root / "plan.json", plan)

    # body list ------------------------------------------------------------------------------

    def bodies(self, fetch: Callable[[], np.ndarray]) -> np.ndarray:
        """The plan's body ids, fetched once and then read back on every rerun."""
        f = self.root / "bodies.parquet"
        if f.exists():
            return pd.read_parquet(f)["bodyId"].to_numpy(np.int64)
        ids = np.asarray(fetch(), dtype=np.int64)
        with disk_full_guard(str(f)), atomic_path(f) as tmp:
            pq.write_table(pa.table({"bodyId": ids}), tmp)
        return ids

    # parts ----------------------------------------------------------------------------------

    def path(self, table: str, i: int) -> Path:
        return self.root / table / f"part-{i:05d}.parquet"

    def has(self, table: str, i: int) -> bool:
        return self.path(table, i).exists()

    def rows(self, table: str, i: int) -> int:
        return pq.ParquetFile(self.path(table, i)).metadata.num_rows

    def write(self, table: str, i: int, df: pd.DataFrame) -> int:
        """Write part ``i`` of ``table`` atomically; returns its row count."""
        f = self.path(table, i)
        t = to_arrow(df, table)
        with disk_full_guard(str(f)), atomic_path(f) as tmp:
            pq.write_table(t, tmp, compression="zstd")
        return t.num_rows

    def parts(self, table: str, n: int) -> list[Path]:
        return [self.path(table, i) for i in range(n)]

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(OSError):
            (self.out / ".parts").rmdir()


def _stream_concat(paths: list[Path], dest: Path, schema: pa.Schema | None) -> int:
    """Write the parts one after the other into ``dest`` (one part in memory at a time)."""
    n = 0
    if schema is None:
        schema = pa.unify_schemas([pq.read_schema(p) for p in paths], promote_options="permissive")
    with pq.ParquetWriter(dest, schema, compression="zstd") as w:
        for p in paths:
            t = pq.read_table(p)
            if t.num_rows == 0:
                continue
            missing = [f for f in schema if f.name not in t.column_names]
            for f in missing:
                t = t.append_column(f, pa.nulls(t.num_rows, f.type))
            w.write_table(t.select(schema.names).cast(schema))
            n += t.num_rows
    return n


def assemble(out: Path, parts: dict[str, list[Path]],
             neurons_hook: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
             check_weights: bool = True) -> dict[str, dict]:
    """Build the final tables from their parts, validate them, then move them into ``out``.

    Args:
        out: output folder.
        parts: ``{"neurons": [...], "connections": [...], "synapses": [...]}`` part paths
            (``synapses`` may be missing).
        neurons_hook: applied to the whole neurons table before writing (e.g. an annotation join).
        check_weights: passed to :func:`synhelpers.tables.validate_tables`.

    Returns:
        ``{table: {"file": name, "rows": n, "sha256": hex}}``.

    Raises:
        TableError: a table breaks the contract (nothing is written to ``out``).
        DiskFullError: the disk filled up (nothing partial is left).
    """
    info: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        tmps: dict[str, Path] = {}
        for table in ("neurons", "connections", "synapses"):
            if table not in parts:
                continue
            final = out / TABLE_FILES[table]
            with disk_full_guard(str(final)):
                tmp = stack.enter_context(atomic_path(final))
                if table == "neurons":
                    df = pd.concat([pd.read_parquet(p) for p in parts[table]], ignore_index=True)
                    df = df.sort_values("bodyId", kind="stable").reset_index(drop=True)
                    if neurons_hook is not None:
                        df = neurons_hook(df)
                    df.to_parquet(tmp, engine="pyarrow", compression="zstd", index=False)
                    rows = len(df)
                else:
                    rows = _stream_concat(parts[table], tmp, SCHEMAS.get(table))
            tmps[table] = tmp
            info[table] = {"file": TABLE_FILES[table], "rows": int(rows)}
        # validate from the temporary files, reading only the contract's columns
        frames = {t: pd.read_parquet(p, columns=list(REQUIRED_COLUMNS[t]) + (["roi"] if t == "connections" else []))
                  for t, p in tmps.items()}
        validate_tables(frames["neurons"], frames["connections"], frames.get("synapses"),
                        files={t: str(out / TABLE_FILES[t]) for t in tmps}, check_weights=check_weights)
        del frames
        for t, p in tmps.items():
            info[t]["sha256"] = sha256_file(p)
        # leaving the ExitStack renames every temporary file onto its final name
    return info

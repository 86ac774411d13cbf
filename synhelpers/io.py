"""Small, safe file helpers shared by every stage: atomic writes and content hashes.

Every file the project writes goes through :func:`atomic_path`, so an interrupted
run never leaves a half-written table, graph or ``metrics.json`` behind: the data
is written to a temporary file in the same folder and renamed into place with
:func:`os.replace`, which is atomic on POSIX file systems.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "write_json", "read_json", "sha256_file", "write_parquet",
           "write_parquet_chunks"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> with atomic_path(d / "x.txt") as tmp:
        ...     _ = tmp.write_text("hello")
        >>> (d / "x.txt").read_text()
        'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates files readable by the owner only; give the usual permissions
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically. Returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")
    return Path(path)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def write_parquet(df, path: str | os.PathLike) -> Path:
    """Write a pandas DataFrame to Parquet (pyarrow, zstd), atomically. Returns the path."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, engine="pyarrow", compression="zstd", index=False)
    return Path(path)


def write_parquet_chunks(frames: Iterable, path: str | os.PathLike) -> Path:
    """Write pandas DataFrames as consecutive row groups of one Parquet file (pyarrow, zstd),
    atomically: a table too large for memory, one chunk at a time. Returns the path.

    Every frame must have the first one's columns and dtypes (the Arrow schema, pandas
    metadata included); reading the file back gives their concatenation, as
    :func:`write_parquet` of the concatenated frame would.

    Raises:
        ValueError: ``frames`` is empty, or a frame's schema differs from the first one's.

    Example:
        >>> import tempfile, pathlib, pandas as pd
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
        >>> _ = write_parquet_chunks((pd.DataFrame({"a": [i, i + 1]}) for i in (0, 2)), f)
        >>> pd.read_parquet(f)["a"].tolist()
        [0, 1, 2, 3]
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        writer = None
        try:
            for df in frames:
                table = pa.Table.from_pandas(df, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                elif not table.schema.equals(writer.schema, check_metadata=True):
                    raise ValueError(f"{path}: a chunk's columns or dtypes differ from the first "
                                     f"chunk's:\n{table.schema}\nvs\n{writer.schema}")
                writer.write_table(table)
                del table
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise ValueError(f"{path}: no frames to write")
    return Path(path)


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")

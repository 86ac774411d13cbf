"""Reading a tables folder: its Parquet tables, its metadata sidecar, and whether it is whole.

A folder whose marker (:mod:`synhelpers.outputs`) says the command writing it was
interrupted is refused before any table is read: ``synth`` or ``download`` killed between
two files leaves such a folder, never one that passes as a connectome.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import OutputError
from ..outputs import check_complete
from .checks import MissingTableError, TableError
from .schema import OPTIONAL_TABLES, TABLE_FILES

__all__ = ["read_frames", "read_meta", "check_whole"]

_LEAN_READ = {"self_destruct": True}  # Table.to_pandas options: same frames, lower peak memory


def check_whole(path: Path) -> None:
    """Raise :class:`TableError` (naming the folder and the command to rerun) if the folder's
    writer was interrupted; a folder without a marker (the user's own tables) passes."""
    try:
        check_complete(path)
    except OutputError as e:
        msg, head = str(e), f"{path}: "
        raise TableError(msg[len(head):] if msg.startswith(head) else msg, file=str(path)) from None


def read_frames(path: Path, wanted: dict[str, bool]) -> tuple[dict, dict]:
    """Read the tables of ``path`` that exist and are wanted; Parquet errors become TableErrors."""
    frames: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    for table, fname in TABLE_FILES.items():
        f = path / fname
        files[table] = str(f)
        if not f.exists():
            if table in OPTIONAL_TABLES:
                continue
            raise MissingTableError(f"required table '{table}' is missing from {path}", file=str(f))
        if not wanted.get(table, True):
            continue
        try:
            # self_destruct: Arrow buffers are freed column by column as they are converted, so
            # a large table is not held twice (Arrow + pandas); not split_blocks, whose
            # zero-copy columns would be read-only
            frames[table] = pd.read_parquet(f, engine="pyarrow", to_pandas_kwargs=_LEAN_READ)
        except Exception as e:  # corrupt, truncated or not Parquet
            raise TableError(f"cannot be read as Parquet ({e})", file=str(f)) from e
    return frames, files


def read_meta(path: Path) -> tuple[dict, str]:
    """The contents of ``synthetic.json`` or ``manifest.json`` (first found) and its path."""
    for mfile in ("synthetic.json", "manifest.json"):
        f = path / mfile
        if f.exists():
            try:
                meta = json.loads(f.read_text())
            except (OSError, ValueError) as e:  # ValueError covers bad JSON and bad UTF-8
                raise TableError(f"cannot be read as JSON ({e})", file=str(f)) from e
            if not isinstance(meta, dict):
                raise TableError(f"expected a JSON object, got {type(meta).__name__}", file=str(f))
            return meta, str(f)
    return {}, str(path / "manifest.json")

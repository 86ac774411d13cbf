"""Content checks of downloaded export files: is the file what its name claims?

A size and a checksum taken from the HTTP answer only prove that the bytes arrived as sent:
a captive portal or an error page answered with ``200 OK`` passes both. So before a file
counts as verified its content is opened, cheaply, and compared with the export manifest
(:mod:`synhelpers.tables.download.manifest`):

- ``tar.gz``: every member is listed, each expected member is a regular file no larger than
  its cap and its CSV header has the expected columns, and the gzip stream is read to its end
  (so its CRC is checked). Nothing is extracted to disk (no ``extractall``).
- ``feather``: the Arrow file footer is opened (memory-mapped; no column is loaded) and the
  schema must have the expected columns. Old feather V1 files are memory-mapped and read
  without copying.
- ``parquet``: the footer's schema, likewise.
- ``csv``: the header line.

Every failure is a one-line :class:`~.errors.ExportIntegrityError` naming the file (and the
member or column). :func:`read_tar_members` reads the expected members of an archive into
memory with the same checks, for the conversion step.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import tarfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from .errors import DownloadError, ExportIntegrityError
from .manifest import Columns, ExportFile, TarMember, describe_column

__all__ = ["verify_content", "read_tar_members", "reading", "html_hint", "looks_like_html",
           "missing_columns", "move_aside"]

log = logging.getLogger(__name__)

#: What reading a damaged or foreign file can raise (turned into ExportIntegrityError).
READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError, pa.ArrowException, ValueError)

#: Bytes read for a CSV header line.
HEADER_BYTES = 1 << 16

_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")


def looks_like_html(path: str | os.PathLike) -> bool:
    """Whether the file starts like an HTML (or XML error) page.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.tar.gz"
        >>> _ = p.write_bytes(b"  <!DOCTYPE html><html><body>Sign in</body></html>")
        >>> looks_like_html(p)
        True
    """
    try:
        with open(path, "rb") as f:
            head = f.read(1024).lstrip().lower()
    except OSError:
        return False
    return head.startswith(_HTML_STARTS)


def html_hint(path: str | os.PathLike) -> str:
    """A clause for error messages when the file is an HTML page, else ``""``."""
    if not looks_like_html(path):
        return ""
    return (" (it is an HTML page: a captive portal, proxy or error page answered instead of "
            "the file)")


def _short(e: BaseException) -> str:
    text = str(e).splitlines()[0][:200] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


@contextlib.contextmanager
def reading(path: str | os.PathLike | None, label: str, kind: str) -> Iterator[None]:
    """Turn a low-level read failure (tarfile, gzip, pyarrow, CSV) into one-line errors.

    The message names ``label`` (the file name), says what kind of file was expected and,
    when ``path`` is an HTML page, says so (``path=None`` for bytes in memory).
    """
    try:
        yield
    except DownloadError:
        raise
    except READ_ERRORS as e:
        raise ExportIntegrityError(f"{label} is not a readable {kind} file ({_short(e)})"
                                   f"{html_hint(path) if path else ''}") from None


def missing_columns(have: list[str], required: Columns) -> list[str]:
    """The required columns (described, alternatives included) absent from ``have``.

    Example:
        >>> missing_columns(["pre_id", "post"], (("pre_id", "pre"), ("post_id", "post"), ("w",)))
        ["'w'"]
    """
    present = set(have)
    return [describe_column(alts) for alts in required if not present.intersection(alts)]


def _require_columns(have: list[str], required: Columns, label: str) -> None:
    missing = missing_columns(have, required)
    if missing:
        raise ExportIntegrityError(f"{label} lacks the expected column(s) {', '.join(missing)} "
                                   f"(it has {have[:12]})")


def _csv_header(line: bytes) -> list[str]:
    text = line.decode("utf-8-sig").strip()
    return [c.strip().strip('"') for c in text.split(",")] if text else []


def _check_csv(path: Path, spec: ExportFile, label: str) -> str:
    with open(path, "rb") as f:
        names = _csv_header(f.readline(HEADER_BYTES))
    _require_columns(names, spec.columns, label)
    return f"CSV with columns {names[:12]}"


def _check_feather(path: Path, spec: ExportFile, label: str) -> str:
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"ARROW1":
        # feather V2 is the Arrow IPC file format: the schema sits in the footer
        with pa.memory_map(str(path)) as source:
            names = pa.ipc.open_file(source).schema.names
    elif magic[:4] == b"FEA1":
        # feather V1 has no separate schema reader; its columns are never compressed, so a
        # memory-mapped read maps the file without copying it
        names = feather.read_table(str(path), memory_map=True).column_names
    else:
        raise ExportIntegrityError(f"{label} is not a feather file (it does not start with the "
                                   f"Arrow or feather magic bytes; starts with {magic!r})")
    _require_columns(names, spec.columns, label)
    return f"feather with {len(names)} columns"


def _check_parquet(path: Path, spec: ExportFile, label: str) -> str:
    names = pq.read_schema(str(path)).names
    _require_columns(names, spec.columns, label)
    return f"Parquet with {len(names)} columns"


def _member_problem(label: str, m: tarfile.TarInfo, want: TarMember, seen: dict) -> str | None:
    """Why member ``m`` (expected as ``want``) cannot be read, or ``None``."""
    what = f"{label}: member {m.name!r}"
    if want.name in seen:
        return f"{label} holds {want.name!r} twice ({seen[want.name]!r} and {m.name!r})"
    if m.issym():
        return f"{what} is a symbolic link (to {m.linkname!r}), not a regular file"
    if m.islnk():
        return f"{what} is a hard link (to {m.linkname!r}), not a regular file"
    if m.isdir():
        return f"{what} is a directory, not a regular file"
    if not m.isfile():
        return f"{what} is a special file (tar type {m.type!r}), not a regular file"
    if m.size > want.max_bytes:
        return (f"{what} is {m.size:,} bytes, over its cap of {want.max_bytes:,} bytes "
                "(from the export manifest)")
    return None


def _expected_members(tar: tarfile.TarFile, label: str,
                      members: tuple[TarMember, ...]) -> Iterator[tuple[tarfile.TarInfo, TarMember]]:
    """Walk the archive once; yield each expected member after its checks."""
    wanted = {w.name: w for w in members}
    seen: dict[str, str] = {}
    for m in tar:
        want = wanted.get(m.name.rstrip("/").rsplit("/", 1)[-1])
        if want is None:
            continue
        problem = _member_problem(label, m, want, seen)
        if problem:
            raise ExportIntegrityError(problem)
        seen[want.name] = m.name
        yield m, want
    # read the gzip stream to its end: a damaged archive fails its CRC here (tarfile itself
    # stops quietly at the first unreadable header after the first member)
    while tar.fileobj.read(1 << 20):
        pass
    absent = [w.name for w in members if w.name not in seen]
    if absent:
        raise ExportIntegrityError(f"{label} lacks the expected member(s) {absent}")


def _check_tar(path: Path, spec: ExportFile, label: str) -> str:
    with tarfile.open(path, "r:gz") as tar:
        for m, want in _expected_members(tar, label, spec.members):
            if want.columns:
                names = _csv_header(tar.extractfile(m).readline(HEADER_BYTES))
                _require_columns(names, want.columns, f"{label} member {m.name!r}")
    return f"tar.gz with {len(spec.members)} expected member(s)"


_CHECKS = {"tar.gz": _check_tar, "feather": _check_feather, "parquet": _check_parquet,
           "csv": _check_csv}


def verify_content(path: str | os.PathLike, spec: ExportFile, *, label: str | None = None) -> str:
    """Check that the file at ``path`` holds what ``spec`` says (see the module docstring).

    Args:
        path: the file (its own name does not matter: a ``.part`` file is fine).
        spec: the manifest entry; its kind comes from ``spec.kind`` or ``spec.name``.
        label: name used in messages (default ``spec.name``).

    Returns:
        A short description of what was checked.

    Raises:
        ExportIntegrityError: one line naming the file and the member or column. (No HTML
            hint: callers add :func:`html_hint` once.)
    """
    label = label or spec.name
    kind = spec.file_kind
    try:
        return _CHECKS[kind](Path(path), spec, label)
    except DownloadError:
        raise
    except READ_ERRORS as e:
        raise ExportIntegrityError(f"{label} is not a readable {kind} file ({_short(e)})") from None


def read_tar_members(path: str | os.PathLike, members: tuple[TarMember, ...], *,
                     label: str | None = None) -> dict[str, bytes]:
    """The expected members of a ``tar.gz`` archive, by base name, read into memory.

    Members are found by base name in any folder of the archive and read one by one with the
    checks of :func:`verify_content` (regular file, size cap). Nothing is written to disk.

    Raises:
        ExportIntegrityError: a member is absent, a link or directory, or over its cap; or the
            archive cannot be read.
    """
    label = label or Path(path).name
    out: dict[str, bytes] = {}
    with reading(path, label, "tar.gz"), tarfile.open(path, "r:gz") as tar:
        for m, want in _expected_members(tar, label, members):
            data = tar.extractfile(m).read(want.max_bytes + 1)
            if len(data) > want.max_bytes:  # the header lied about the size
                raise ExportIntegrityError(f"{label}: member {m.name!r} holds more than its cap "
                                           f"of {want.max_bytes:,} bytes")
            out[want.name] = data
    return out


def move_aside(path: str | os.PathLike, name: str | None = None) -> Path:
    """Rename a file that failed its check to ``NAME.bad-<UTC time>`` in the same folder.

    Only the newest bad copy of each name is kept (an export file can be 2 GB; older bad
    copies are deleted first).

    Args:
        path: the bad file (a download's ``.part`` file or a cached copy).
        name: the name to base the new name on (default: ``path``'s name).

    Returns:
        The new path.
    """
    path = Path(path)
    name = name or path.name
    for old in path.parent.glob(glob.escape(name) + ".bad-*"):
        old.unlink(missing_ok=True)
    target = path.with_name(f"{name}.bad-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    os.replace(path, target)
    return target

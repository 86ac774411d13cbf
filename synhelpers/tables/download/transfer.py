"""One export file over HTTP: streamed, resumed with ``Range``, and checked before it counts.

:func:`download_file` streams ``url`` to ``dest.part`` with a progress bar and resumes a
dropped connection from where it stopped. The finished file must then

1. have the length the server announced, and the size the export manifest gives (if known);
2. match the MD5 of Google Cloud Storage's ``x-goog-hash`` header (if sent) and the MD5 and
   SHA-256 of the manifest (if known);
3. pass the content check of :func:`synhelpers.tables.download.verify.verify_content`
   (archive members, table columns), which holds even when the server is wrong: an error page
   answered with ``200 OK`` passes 1 and 2 but not 3.

Only then is it renamed to ``dest`` and recorded in ``dest.ok.json``. A file that fails is
moved aside to ``dest.bad-<time>`` (never kept as verified) and reported. On a rerun a cached
``dest`` is re-checked (size against its record, content); one that fails is moved aside with
a logged warning and downloaded again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import time
from pathlib import Path

import requests
from tqdm.auto import tqdm

from ...io import write_json
from ..config import MAX_WAIT_S, RETRY_STATUS, DownloadConfig
from .errors import (
    DownloadError,
    DownloadTimeoutError,
    ExportIntegrityError,
    ServerError,
    ServerUnreachableError,
)
from .manifest import ExportFile
from .parts import disk_full_guard
from .token import scrub
from .verify import html_hint, move_aside, verify_content

__all__ = ["download_file", "CHUNK"]

_NET = DownloadConfig()  # network defaults (one home: synhelpers.tables.config)

log = logging.getLogger(__name__)

#: Bytes read per step of a streamed download (a smaller step loses less on a dropped connection).
CHUNK = 1 << 16



def _goog_md5(headers) -> str | None:
    for part in headers.get("x-goog-hash", "").split(","):
        k, _, v = part.strip().partition("=")
        if k == "md5" and v:
            return v
    return None


class _HTTPStatus(Exception):
    def __init__(self, code: int):
        self.code = code


class _Transfer:
    """The state of one streamed, resumable download of ``url`` into ``part``."""

    def __init__(self, url: str, part: Path, *, timeout: float, chunk: int, bar):
        self.url, self.part, self.timeout, self.chunk, self.bar = url, part, timeout, chunk, bar
        self.total: int | None = None  # bytes, as the server announced
        self.md5_announced: str | None = None  # base64, from x-goog-hash

    def have(self) -> int:
        return self.part.stat().st_size if self.part.exists() else 0

    def attempt(self) -> bool:
        """One GET from where ``part`` ends; ``True`` once the file is complete."""
        have = self.have()
        headers = {"Range": f"bytes={have}-"} if have else {}
        with requests.get(self.url, headers=headers, stream=True, timeout=self.timeout) as r:
            if r.status_code == 416 and have:
                return self._unsatisfiable(r, have)
            if r.status_code >= 400:
                raise _HTTPStatus(r.status_code)
            if r.status_code == 200 and have:
                have = 0  # the server ignored Range: start again
            self._stream(r, have)
        return self.total is None or self.have() >= self.total

    def _unsatisfiable(self, r: requests.Response, have: int) -> bool:
        """A 416 answer to ``Range: bytes=have-``: the part is already whole, or it is longer
        than the file (then it is deleted and the next attempt starts over)."""
        size = r.headers.get("Content-Range", "").rpartition("/")[2]
        if size.isdigit():
            self.total = int(size)
        if self.total == have:
            return True
        self.part.unlink()
        return False

    def _stream(self, r: requests.Response, have: int) -> None:
        self.md5_announced = _goog_md5(r.headers) or self.md5_announced
        if r.status_code == 206 and "/" in r.headers.get("Content-Range", ""):
            self.total = int(r.headers["Content-Range"].rsplit("/", 1)[1])
        elif "Content-Length" in r.headers:
            self.total = have + int(r.headers["Content-Length"])
        self.bar.total, self.bar.n = self.total, have
        self.bar.refresh()
        with disk_full_guard(str(self.part)), open(self.part, "ab" if have else "wb") as f:
            for data in r.iter_content(self.chunk):
                f.write(data)
                self.bar.update(len(data))

    def run(self, retries: int, backoff: float) -> None:
        """Attempt until complete; wait ``backoff * 2**k`` s (at most 30) after failure ``k``."""
        last: Exception | None = None
        for attempt in range(retries + 1):
            try:
                if self.attempt():
                    return
                last = requests.exceptions.ChunkedEncodingError("short read")
            except _HTTPStatus as e:
                last = ServerError(f"{self.url} answered HTTP {e.code}")
                if e.code not in RETRY_STATUS:
                    raise last from None
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as e:
                last = e
            except requests.RequestException as e:  # a bad URL: retrying will not help
                raise DownloadError(f"cannot download {self.url}: {type(e).__name__}") from None
            if attempt < retries:
                time.sleep(min(MAX_WAIT_S, backoff * 2 ** attempt))
        raise self._give_up(last, retries)

    def _give_up(self, last: Exception | None, retries: int) -> DownloadError:
        if isinstance(last, DownloadError):
            return last
        if isinstance(last, requests.Timeout):
            return DownloadTimeoutError(f"downloading {self.url} timed out ({self.timeout:g} s) "
                                        f"{retries + 1} times; rerun to resume")
        return ServerUnreachableError(f"downloading {self.url} failed {retries + 1} times "
                                      f"({type(last).__name__}); rerun to resume from "
                                      f"{self.have():,} bytes")


def _hashes(path: Path) -> tuple[str, str]:
    """``(base64 MD5, hex SHA-256)`` of a file, read in 4 MiB steps."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(1 << 22):
            md5.update(b)
            sha.update(b)
    return base64.b64encode(md5.digest()).decode(), sha.hexdigest()


def _reject(part: Path, dest: Path, message: str) -> ExportIntegrityError:
    """Move the failed file aside; the error to raise (one line)."""
    bad = move_aside(part, dest.name)
    return ExportIntegrityError(f"{message}; it was moved aside to {bad.name}, rerun to "
                                "download it again")


def _size_and_sum_problem(part: Path, spec: ExportFile, total: int | None,
                          md5_announced: str | None) -> tuple[str | None, str, str]:
    """``(problem or None, md5, sha256)``: size and checksums against server and manifest."""
    size = part.stat().st_size
    if total is not None and size != total:
        return f"got {size:,} bytes, the server announced {total:,}", "", ""
    if spec.size is not None and size != spec.size:
        return f"size {size:,} bytes, the export manifest says {spec.size:,}", "", ""
    md5, sha = _hashes(part)
    if md5_announced and md5 != md5_announced:
        return "MD5 checksum does not match the server's x-goog-hash", md5, sha
    if spec.md5 and md5 != spec.md5:
        return "MD5 checksum differs from the export manifest's", md5, sha
    if spec.sha256 and sha != spec.sha256:
        return (f"SHA-256 {sha[:12]}... differs from the expected {spec.sha256[:12]}...", md5, sha)
    return None, md5, sha


def _accept(part: Path, dest: Path, spec: ExportFile, total: int | None,
            md5_announced: str | None) -> dict:
    """Check the finished ``part``; rename it to ``dest`` and record it, or move it aside."""
    problem, md5, sha = _size_and_sum_problem(part, spec, total, md5_announced)
    if problem:
        raise _reject(part, dest, f"{dest.name}: {problem}{html_hint(part)}")
    try:
        verify_content(part, spec, label=dest.name)
    except ExportIntegrityError as e:
        raise _reject(part, dest, f"{e}{html_hint(part)}") from None
    os.replace(part, dest)
    rec = {"file": dest.name, "size": dest.stat().st_size, "sha256": sha, "md5": md5}
    write_json(_ok_path(dest), rec)
    return rec


def _ok_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".ok.json")


def _cache_problem(dest: Path, spec: ExportFile) -> tuple[str | None, dict]:
    """``(why the cached dest cannot be used or None, its record)``."""
    try:
        rec = json.loads(_ok_path(dest).read_text())
    except FileNotFoundError:
        return "there is no record that it was verified", {}
    except ValueError:
        return "its verification record is unreadable", {}
    size = dest.stat().st_size
    if rec.get("size") != size:
        return f"it has {size:,} bytes, {rec.get('size')} when it was verified", rec
    if spec.size is not None and size != spec.size:
        return f"it has {size:,} bytes, the export manifest says {spec.size:,}", rec
    if (spec.sha256 and rec.get("sha256") != spec.sha256) or (spec.md5 and rec.get("md5") != spec.md5):
        return "its recorded checksum differs from the export manifest's", rec
    try:
        verify_content(dest, spec, label=dest.name)
    except ExportIntegrityError as e:
        return str(e), rec
    return None, rec


def _cached(dest: Path, spec: ExportFile) -> tuple[dict | None, str | None]:
    """``(record, None)`` for a good cached file; else ``(None, note)`` once it is moved aside."""
    if not dest.exists():
        return None, None
    problem, rec = _cache_problem(dest, spec)
    if problem is None:
        return rec, None
    hint = html_hint(dest)
    bad = move_aside(dest, dest.name)
    _ok_path(dest).unlink(missing_ok=True)
    note = f"the cached {dest.name} failed its check ({problem}){hint} and was moved aside to {bad.name}"
    log.warning(scrub(f"{note}; downloading it again"))
    return None, note


def download_file(url: str, dest: str | os.PathLike, *, spec: ExportFile | None = None,
                  timeout: float = _NET.timeout, retries: int = _NET.retries,
                  backoff: float = _NET.backoff, progress: bool = True, chunk: int | None = None) -> dict:
    """Download ``url`` to ``dest``: streamed, resumed by HTTP Range, checked (module docstring).

    Args:
        url: the file's URL.
        dest: where the verified file goes (``dest.part`` while downloading).
        spec: its manifest entry (expected size, checksums, members, columns); default: only
            what its name says (the content check still applies).
        timeout: seconds per request; retries: extra attempts; backoff: first wait, seconds.
        progress: show a progress bar; chunk: bytes per read (default :data:`CHUNK`).

    Returns:
        ``{"file", "size", "sha256", "md5"}`` (also written to ``dest.ok.json``).

    Raises:
        ExportIntegrityError: wrong size, checksum or content (the file is moved aside).
        ServerUnreachableError, DownloadTimeoutError, ServerError: after the retries.
        When a cached copy was moved aside first, the message says so.
    """
    dest = Path(dest)
    spec = spec or ExportFile(dest.name)
    rec, note = _cached(dest, spec)
    if rec is not None:
        return rec
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tqdm(total=None, unit="B", unit_scale=True, desc=dest.name, disable=not progress,
                  leave=False) as bar:
            transfer = _Transfer(url, part, timeout=timeout, chunk=chunk or CHUNK, bar=bar)
            transfer.run(retries, backoff)
        return _accept(part, dest, spec, transfer.total, transfer.md5_announced)
    except DownloadError as e:
        if note is None:
            raise
        raise type(e)(f"{e} (before this, {note})") from None

"""The export manifest: which public export files exist and what each must contain.

The manifest ships with the package (``export_manifest.json`` beside this module) so that what
a downloaded file is checked against never comes only from the HTTP answer that delivered it:
an error page answered with ``200 OK`` carries a matching length and (on a proxy) even a
matching checksum, but it does not hold the archive members or table columns listed here.

Exact sizes and checksums stay ``None`` until someone has read them from the bucket; the
content check (:mod:`synhelpers.tables.download.verify`) applies to every file regardless.

Example:
    >>> sets = load_manifest()
    >>> sorted(sets)
    ['hemibrain', 'manc']
    >>> tar = sets["hemibrain"].adjacency[0]
    >>> tar.file_kind, [m.name for m in tar.members][:1]
    ('tar.gz', ['traced-neurons.csv'])
    >>> describe_column(("post_id", "post"))
    "'post_id' (or 'post')"
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import DownloadError

__all__ = ["ExportFile", "ExportSet", "TarMember", "load_manifest", "read_manifest", "kind_of",
           "describe_column", "DEFAULT_MEMBER_CAP", "KINDS"]

#: A table's required columns: each entry holds the names accepted in place of one another.
Columns = tuple[tuple[str, ...], ...]

#: File kinds the content check knows, by how the name ends.
KINDS = {".tar.gz": "tar.gz", ".tgz": "tar.gz", ".feather": "feather", ".parquet": "parquet",
         ".csv": "csv"}

#: Size cap of a tar member the manifest gives no cap for (bytes, uncompressed).
DEFAULT_MEMBER_CAP = 4 << 30

_PACKAGED = "export_manifest.json"


@dataclass(frozen=True)
class TarMember:
    """A file expected inside a tar archive, found by its base name in any folder.

    Attributes:
        name: base name, e.g. ``"traced-neurons.csv"``.
        columns: CSV header columns it must have.
        max_bytes: largest uncompressed size accepted, bytes.
    """

    name: str
    columns: Columns = ()
    max_bytes: int = DEFAULT_MEMBER_CAP


@dataclass(frozen=True)
class ExportFile:
    """One export file: its name under the base URL, what it holds, and its checksums if known.

    Attributes:
        name: path under the export set's base URL.
        sha256: hex SHA-256, or ``None`` when not known.
        size: bytes, or ``None`` when not known.
        md5: base64 MD5 as Google Cloud Storage lists it, or ``None``.
        kind: ``"tar.gz"``, ``"feather"``, ``"parquet"`` or ``"csv"``; ``None``: from the name.
        columns: columns a table file must have (feather, Parquet, CSV header).
        members: files a tar archive must hold.
    """

    name: str
    sha256: str | None = None
    size: int | None = None
    md5: str | None = None
    kind: str | None = None
    columns: Columns = ()
    members: tuple[TarMember, ...] = ()

    @property
    def file_kind(self) -> str:
        """``kind``, or the kind its name says."""
        return self.kind or kind_of(self.name)


@dataclass(frozen=True)
class ExportSet:
    """The export files of one dataset version."""

    key: str
    version: str
    base_url: str
    adjacency: tuple[ExportFile, ...]
    synapse_files: tuple[ExportFile, ...] = ()
    properties: ExportFile | None = None


def kind_of(name: str) -> str:
    """The file kind from how ``name`` ends.

    Raises:
        DownloadError: the ending is none of :data:`KINDS` (so no content check exists).
    """
    for end, kind in KINDS.items():
        if name.lower().endswith(end):
            return kind
    raise DownloadError(f"{name}: no content check for this kind of file (known endings: "
                        f"{', '.join(KINDS)}); give the kind in the export manifest")


def describe_column(alternatives: tuple[str, ...]) -> str:
    """``'a'`` or ``'a' (or 'b'/'c')`` for messages."""
    first, *rest = alternatives
    return repr(first) + (f" (or {'/'.join(repr(r) for r in rest)})" if rest else "")


def read_manifest(source: str | os.PathLike | dict | None = None) -> dict[str, Any]:
    """The manifest as plain JSON data (a copy): the packaged one, or ``source``.

    Args:
        source: ``None`` (the packaged ``export_manifest.json``), a path to a JSON file, or a
            dict of the same layout (tests and mirrors pass their own).
    """
    if isinstance(source, dict):
        return copy.deepcopy(source)
    try:
        if source is None:
            text = resources.files(__package__).joinpath(_PACKAGED).read_text(encoding="utf-8")
        else:
            text = Path(source).read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, ValueError) as e:
        where = _PACKAGED if source is None else str(source)
        raise DownloadError(f"cannot read the export manifest {where}: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}") from None


def _columns(raw: list) -> Columns:
    return tuple((c,) if isinstance(c, str) else tuple(c) for c in raw or ())


def _file(raw: dict) -> ExportFile:
    members = tuple(TarMember(m["name"], _columns(m.get("columns")),
                              int(m.get("max_bytes") or DEFAULT_MEMBER_CAP))
                    for m in raw.get("members") or ())
    spec = ExportFile(raw["name"], sha256=raw.get("sha256"), size=raw.get("size"),
                      md5=raw.get("md5"), kind=raw.get("kind"),
                      columns=_columns(raw.get("columns")), members=members)
    spec.file_kind  # noqa: B018 - fail early on a file no check exists for
    return spec


def _export_set(key: str, raw: dict) -> ExportSet:
    files = {"adjacency": [], "synapses": [], "properties": []}
    for f in raw["files"]:
        files[f["role"]].append(_file(f))
    if len(files["properties"]) > 1:
        raise ValueError("more than one 'properties' file")
    return ExportSet(key, raw["version"], raw["base_url"], adjacency=tuple(files["adjacency"]),
                     synapse_files=tuple(files["synapses"]),
                     properties=files["properties"][0] if files["properties"] else None)


def load_manifest(source: str | os.PathLike | dict | None = None) -> dict[str, ExportSet]:
    """The export sets of the manifest, by dataset key (``"hemibrain"``, ``"manc"``).

    Args:
        source: see :func:`read_manifest`.

    Raises:
        DownloadError: the manifest cannot be read or lacks a field (one line, names it).
    """
    raw = read_manifest(source)
    try:
        return {key: _export_set(key, ds) for key, ds in raw["datasets"].items()}
    except (KeyError, TypeError, ValueError) as e:
        where = _PACKAGED if source is None else ("the given manifest" if isinstance(source, dict)
                                                  else str(source))
        raise DownloadError(f"export manifest {where} is malformed: {type(e).__name__}: {e}") from None

"""Ownership of outputs: the tool overwrites only what it wrote, for the same purpose.

Every folder the tool writes (a tables folder, a graph folder, a run folder ...) carries a small
marker, ``.synhelpers.json``, saying what kind of folder it is and listing the files the tool
wrote there::

    {"marker": 1, "kind": "tables", "purpose": "synthetic", "complete": true,
     "writer": "synth", "files": {"neurons.parquet": "tables", "synthetic.json": "tables"}}

- ``kind``: ``"tables"``, ``"graph"``, ``"run"`` ... (:data:`KINDS`; ``None`` for a folder of
  the user's into which the tool wrote single files, e.g. a predictions table).
- ``purpose``: optional finer identity within a kind: a tables folder of the synthetic
  generator (``"synthetic"``) is not one of a download (``"download hemibrain:v1.2.1"``), one
  baseline label is not another. ``None`` matches any purpose.
- ``complete``: ``false`` while a writer is at work (:func:`writing`); a reader refuses such a
  folder (:func:`check_complete`), so a writer killed between two files never leaves a folder
  that passes as whole.
- ``files``: relative path -> purpose of every file (or folder) the tool wrote there; only
  these are ever overwritten or removed (:func:`remove_owned`).

Functions, each refusing in one line that names the path (:class:`OutputError`):

- :func:`claim_folder` before writing into a folder: it is new or empty, or marked as this
  kind (and purpose), or a folder the tool wrote before markers existed (:attr:`FolderKind.legacy`).
- :func:`check_output_file` before writing one file (``predict --out x.parquet``, ``suggest
  --out x.csv``): the suffix is right, the path is no folder, link or reserved name of the
  folder's kind, and an existing file there was written by the tool for the same purpose;
  :func:`record_file` after writing it.
- :func:`writing` around a multi-file write: marks the folder incomplete, then complete with
  the files recorded. Each file itself goes through :func:`synhelpers.io.atomic_path`.
- :func:`owned_files`, :func:`remove_owned` (what ``--overwrite`` may delete: the recorded
  files only, never the user's other files, never a path outside the folder).

Applying it to run folders, predictions, suggest CSVs and baselines::

    claim_folder(out, "run", purpose="train")                       # train --out
    remove_owned(out, "run", purpose="train")                       # train --overwrite
    with writing(out, "run", purpose="train", writer="python -m synhelpers train ...") as rec:
        ...; rec.add("metrics.json"); rec.add("checkpoints")        # a folder: all of it
    claim_folder(out, "run", purpose=f"baseline {label}")           # one baseline per label
    f = check_output_file(out_file, (".parquet",), "predictions")   # predict --out
    write_parquet(df, f); record_file(f, "predictions")
    f = check_output_file(out_file, (".csv",), "suggestions")       # suggest --out

Give each writer its own ``purpose``: a folder claimed with one is refused to another (a
train run to a baseline, one baseline label to another); an adopted folder of an older
version without one takes the first that claims it. More kinds: :func:`register_kind`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import OutputError
from .io import write_json

__all__ = ["MARKER", "Marker", "FolderKind", "KINDS", "register_kind", "read_marker",
           "claim_folder", "check_output_file", "record_file", "writing", "check_complete",
           "owned_files", "remove_owned", "OutputError"]

#: File name of the marker inside every folder the tool writes.
MARKER = ".synhelpers.json"
_TABLE_NAMES = ("neurons.parquet", "connections.parquet", "synapses.parquet", "sites.parquet",
                "gap_junctions.parquet", "synthetic.json", "synthetic_truth.parquet",
                "manifest.json")


@dataclass
class Marker:
    """The contents of a folder's ``.synhelpers.json`` (see the module docstring)."""

    kind: str | None
    purpose: str | None = None
    complete: bool = True
    writer: str | None = None
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"marker": 1, **{k: getattr(self, k) for k in ("kind", "purpose", "complete",
                                                              "writer")}, "files": dict(self.files)}


def _legacy_tables(folder: Path) -> str | None:
    """The purpose of a tables folder written before markers existed, from its sidecar."""
    if (folder / "synthetic.json").is_file():
        return "synthetic"
    if (folder / "manifest.json").is_file():
        try:
            name = json.loads((folder / "manifest.json").read_text()).get("name")
        except (OSError, ValueError, AttributeError):
            return None
        return f"download {name}" if isinstance(name, str) else None
    if (folder / ".parts").is_dir() or (folder / ".downloads").is_dir():
        return ""  # an interrupted download (its parts, its cached export files): resumable
    return None


def _legacy_run(folder: Path) -> str | None:
    """The purpose of a run folder written before markers existed: ``"train"`` (its run.json,
    or a metrics.json with a graph fingerprint), ``"baseline LABEL"``, else any (``""``)."""
    if (folder / "run.json").is_file():
        return "train"
    try:
        raw = json.loads((folder / "metrics.json").read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return ""
    raw = raw if isinstance(raw, dict) else {}
    if raw.get("model") == "logreg_baseline":
        return f"baseline {raw.get('task')}"
    return "train" if "data_fingerprint" in raw else ""


@dataclass(frozen=True)
class FolderKind:
    """What the tool writes into a folder of one kind.

    Attributes:
        files: names reserved by the kind: no other output may take them (``predict --out
            TABLES/synapses.parquet`` would create a table).
        legacy: ``folder -> purpose`` for a folder the tool wrote before markers existed
            (``None``: not one); its reserved files present there are adopted as owned.
    """

    files: tuple[str, ...] = ()
    legacy: Callable[[Path], str | None] | None = None


#: The known kinds; extend with :func:`register_kind`.
KINDS: dict[str, FolderKind] = {
    "tables": FolderKind(_TABLE_NAMES, _legacy_tables),
    "graph": FolderKind(("graph.pt", "split.parquet", "graph.json"),
                        lambda f: "" if (f / "graph.pt").is_file() else None),
    "run": FolderKind(("metrics.json", "run.json", "MODEL_CARD.md"), _legacy_run),
}


def register_kind(kind: str, files: Iterable[str] = (),
                  legacy: Callable[[Path], str | None] | None = None) -> None:
    """Add (or extend) a folder kind: its reserved file names and legacy detector."""
    old = KINDS.get(kind, FolderKind())
    KINDS[kind] = FolderKind(tuple(dict.fromkeys([*old.files, *files])), legacy or old.legacy)


def read_marker(folder: str | Path) -> Marker | None:
    """The folder's marker, or ``None`` when it has none.

    Raises:
        OutputError: the marker exists but is not a marker (then nothing there is touched).
    """
    f = Path(folder) / MARKER
    if not f.is_file():
        return None
    try:
        raw = json.loads(f.read_text())
        files = raw.get("files") or {}
        return Marker(raw["kind"], raw.get("purpose"), bool(raw.get("complete", True)),
                      raw.get("writer"), {str(k): str(v) for k, v in dict(files).items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise OutputError(f"{f}: not a readable synhelpers marker; nothing in {folder} is "
                          "overwritten (remove the file if the folder is yours)") from None


def _write_marker(folder: Path, marker: Marker) -> None:
    write_json(folder / MARKER, marker.to_json())


def _adopt_legacy(folder: Path, kind: str) -> Marker | None:
    """A marker for a folder of ``kind`` written before markers existed, else ``None``."""
    spec = KINDS.get(kind)
    purpose = spec.legacy(folder) if spec and spec.legacy else None
    if purpose is None:
        return None
    owned = {n: kind for n in spec.files if (folder / n).exists()}
    return Marker(kind, purpose or None, True, None, owned)


def _is_leftover(p: Path) -> bool:
    """A folder the tool marked, or a temporary file of an interrupted atomic write."""
    if p.name.startswith(".") and p.name.endswith(".tmp"):
        return True
    return p.is_dir() and (p / MARKER).is_file()


def _describe(marker: Marker) -> str:
    what = f"a {marker.kind} folder" if marker.kind else "a folder of yours"
    return what + (f" ({marker.purpose})" if marker.purpose else "")


def claim_folder(path: str | Path, kind: str, *, purpose: str | None = None) -> Path:
    """Make sure the tool may write a ``kind`` folder at ``path``; create and mark it.

    Allowed: a new or empty folder (sub-folders the tool marked and temporary files of an
    interrupted write do not count); a folder marked ``kind`` whose purpose is ``purpose`` (or
    either is ``None``); a folder of ``kind`` written before markers existed (adopted).

    Raises:
        OutputError: ``path`` is a file or a dangling link; or the folder holds other things
            (the user's files, another kind, another purpose). One line naming the path.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "mine.csv").write_text("1")
        >>> claim_folder(d / "graph", "graph").name
        'graph'
        >>> claim_folder(d, "graph")
        Traceback (most recent call last):
        ...
        synhelpers.errors.OutputError: ... holds files synhelpers did not write (mine.csv); choose another --out, or an empty folder
    """
    path = Path(path)
    try:
        return _claim_folder(path, kind, purpose)
    except OSError as e:  # a name too long, a loop of links, a folder that cannot be read
        raise OutputError(f"{path}: cannot be used as an output folder ({e.strerror or e}); "
                          "choose another --out") from None


def _claim_folder(path: Path, kind: str, purpose: str | None) -> Path:
    if path.is_symlink() and not path.exists():
        raise OutputError(f"{path}: a link to nothing; give a folder as --out")
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: a file, not a folder; give a folder as --out")
    marker = read_marker(path) if path.exists() else None
    if marker is None and path.exists():
        others = sorted(p.name for p in path.iterdir()
                        if p.name != MARKER and not _is_leftover(p))
        marker = _adopt_legacy(path, kind)
        if marker is None and others:
            marker = next(filter(None, (_adopt_legacy(path, k) for k in KINDS if k != kind)), None)
        if marker is None and others:
            shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
            raise OutputError(f"{path}: holds files synhelpers did not write ({shown}); choose "
                              "another --out, or an empty folder")
    if marker is not None and (marker.kind != kind or
                               (purpose and marker.purpose and marker.purpose != purpose)):
        want = f"a {kind} folder" + (f" ({purpose})" if purpose else "")
        raise OutputError(f"{path}: is {_describe(marker)}, not {want}; nothing there is "
                          "overwritten: choose another --out")
    if marker is None:
        marker = Marker(kind, purpose)
    elif purpose and not marker.purpose:
        marker.purpose = purpose
    path.mkdir(parents=True, exist_ok=True)
    _write_marker(path, marker)
    return path


def _is_reserved(folder: Path, name: str, purpose: str) -> Marker | None:
    """The folder's marker if ``name`` is reserved by its kind for another purpose."""
    marker = read_marker(folder) if folder.is_dir() else None
    if marker is None:
        if name in KINDS["tables"].files and (folder / "neurons.parquet").is_file():
            return Marker("tables", "the user's own")  # a connectome: reads any table there
        for kind, spec in KINDS.items():  # an unmarked folder of the tool (older version)
            if name in spec.files and spec.legacy and spec.legacy(folder) is not None:
                return Marker(kind)
        return None
    spec = KINDS.get(marker.kind or "")
    if spec and name in spec.files and marker.files.get(name) != purpose:
        return marker
    return None


def check_output_file(path: str | Path, suffixes: Iterable[str], purpose: str, *,
                      flag: str = "--out") -> Path:
    """Make sure the tool may write the file ``path`` as ``purpose`` (e.g. ``"predictions"``).

    Raises:
        OutputError: the suffix is not one of ``suffixes``; ``path`` is a folder, a link or
            empty; the name is reserved by the folder's kind (``TABLES/neurons.parquet``,
            ``GRAPH/split.parquet``, ``RUN/metrics.json``); or a file is there that the tool
            did not write as ``purpose``. One line naming the path and ``flag``.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> check_output_file(d / "p.csv", (".parquet",), "predictions")
        Traceback (most recent call last):
        ...
        synhelpers.errors.OutputError: --out ...p.csv: a predictions file must end in .parquet
    """
    suffixes = tuple(suffixes)
    if str(path) == "":
        raise OutputError(f"{flag} is empty; give a file name ending in {' or '.join(suffixes)}")
    path = Path(path)
    try:
        return _check_output_file(path, suffixes, purpose, flag)
    except OSError as e:  # a name too long, a loop of links, a folder that cannot be read
        raise OutputError(f"{flag} {path}: cannot be used as an output file "
                          f"({e.strerror or e}); choose another name") from None


def _check_output_file(path: Path, suffixes: tuple, purpose: str, flag: str) -> Path:
    if path.is_symlink():
        raise OutputError(f"{flag} {path}: a link; give a plain file path")
    if path.is_dir():
        raise OutputError(f"{flag} {path}: a folder; give a file name ending in {' or '.join(suffixes)}")
    if suffixes and not path.name.lower().endswith(suffixes):
        raise OutputError(f"{flag} {path}: a {purpose} file must end in {' or '.join(suffixes)}")
    owner = _is_reserved(path.parent, path.name, purpose)
    if owner is not None:
        raise OutputError(f"{flag} {path}: {path.name} belongs to {_describe(owner)} and is not "
                          f"a {purpose} file; choose another name")
    if path.exists():
        marker = read_marker(path.parent)
        if marker is None or marker.files.get(path.name) != purpose:
            raise OutputError(f"{flag} {path}: exists and was not written by synhelpers as a "
                              f"{purpose} file; choose another name, or remove it yourself")
    return path


def record_file(path: str | Path, purpose: str) -> None:
    """Record ``path`` as written by the tool for ``purpose`` in its folder's marker (a folder
    without one gets a marker of kind ``None``: the user's folder, holding this output)."""
    path = Path(path)
    marker = read_marker(path.parent) or Marker(None)
    marker.files[path.name] = purpose
    _write_marker(path.parent, marker)


class _Recorder:
    def __init__(self, kind: str):
        self.kind, self.names = kind, {}

    def add(self, name: str, purpose: str | None = None) -> None:
        """Record ``name`` (relative to the folder) as written, for ``purpose`` (the kind)."""
        self.names[str(name)] = purpose or self.kind


@contextlib.contextmanager
def writing(folder: str | Path, kind: str, *, purpose: str | None = None,
            writer: str | None = None) -> Iterator[_Recorder]:
    """Claim ``folder`` and mark it incomplete; on success record the files added to the
    yielded recorder (``rec.add(name)``) and mark it complete. On any exception (a kill
    included) the folder stays marked incomplete, so :func:`check_complete` refuses it.

    ``writer``: the command that writes it (``"synth --out DIR"``), named in the refusal.
    """
    folder = claim_folder(folder, kind, purpose=purpose)
    marker = read_marker(folder)
    marker.complete, marker.writer = False, writer or marker.writer
    if purpose:
        marker.purpose = purpose
    _write_marker(folder, marker)
    rec = _Recorder(kind)
    yield rec
    marker = read_marker(folder)
    marker.files.update(rec.names)
    marker.complete = True
    _write_marker(folder, marker)


def check_complete(folder: str | Path) -> None:
    """Raise :class:`OutputError` if the folder's marker says a writer did not finish."""
    marker = read_marker(folder)
    if marker is not None and not marker.complete:
        how = f"rerun `{marker.writer}`" if marker.writer else "write it again"
        raise OutputError(f"{folder}: an incomplete {marker.kind or ''} folder (the command "
                          f"writing it was interrupted before it finished); {how}")


def _inside(folder: Path, name: str) -> Path | None:
    """``folder / name`` if it stays inside ``folder`` (no ``..``, no absolute path, no link
    out), else ``None``."""
    p = folder / name
    inside = p.resolve().is_relative_to(folder.resolve()) and not Path(name).is_absolute()
    return p if inside else None


def owned_files(folder: str | Path) -> list[Path]:
    """The recorded files and folders of ``folder`` that exist (inside it), sorted."""
    folder = Path(folder)
    marker = read_marker(folder) if folder.is_dir() else None
    paths = (_inside(folder, n) for n in (marker.files if marker else {}))
    return sorted(p for p in paths if p is not None and (p.exists() or p.is_symlink()))


def remove_owned(folder: str | Path, kind: str, *, purpose: str | None = None) -> list[Path]:
    """``--overwrite``: remove the files the tool recorded in ``folder`` (a ``kind`` folder),
    nothing else; returns what was removed. A folder that is not of ``kind`` is refused by
    :func:`claim_folder` first, so the user's other files are never deleted."""
    folder = claim_folder(folder, kind, purpose=purpose)
    removed = []
    for p in owned_files(folder):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
        removed.append(p)
    marker = read_marker(folder)
    marker.files = {}
    return _write_marker(folder, marker) or removed

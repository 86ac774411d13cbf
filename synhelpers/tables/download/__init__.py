"""Real connectomes: hemibrain v1.2.1 and MANC v1.2.1 from neuPrint, or from the public bulk
exports without a token, into the three tables of the data contract.

>>> from synhelpers.tables.download import fetch_dataset                     # doctest: +SKIP
>>> fetch_dataset("manc:v1.2.1", "data/manc", token_file="~/.neuprint-token")  # doctest: +SKIP
>>> fetch_dataset("hemibrain:v1.2.1", "data/hemibrain", source="exports")      # doctest: +SKIP

Output in ``out``: ``neurons.parquet``, ``connections.parquet`` (per ROI), ``synapses.parquet``
and ``manifest.json`` (dataset, server, server version, time, neuprint-python version, row
counts, sha256 of each table; never the token).

Differences of the token-free exports from the v1.2.1 neuPrint databases
--------------------------------------------------------------------------
See :data:`synhelpers.tables.download.exports.EXPORT_DIFFERENCES` (the same text is in the README).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ...io import write_json
from ...outputs import claim_folder, writing
from ..config import DownloadConfig
from .errors import (
    BadAnswerError,
    DiskFullError,
    DownloadError,
    DownloadTimeoutError,
    ExportIntegrityError,
    NoTokenError,
    ServerError,
    ServerUnreachableError,
    TokenRejectedError,
    UnknownDatasetError,
)
from .parts import PartStore, assemble, disk_full_guard
from .token import Token, resolve_token

__all__ = [
    "fetch_dataset",
    "join_annotations",
    "Token",
    "resolve_token",
    "DownloadError",
    "NoTokenError",
    "TokenRejectedError",
    "UnknownDatasetError",
    "ServerUnreachableError",
    "DownloadTimeoutError",
    "ServerError",
    "BadAnswerError",
    "DiskFullError",
    "ExportIntegrityError",
    "KNOWN_DATASETS",
]

_NET = DownloadConfig()  # network defaults (shared with the `download` command)

#: Datasets with a documented route; any dataset the server lists works with source="neuprint".
KNOWN_DATASETS = ("hemibrain:v1.2.1", "manc:v1.2.1")

#: Columns of the hemibrain annotation table that neuPrint already provides (not joined again).
_NEUPRINT_OWNED = {"instance", "type", "cellBodyFiber", "somaLocation", "pre", "post", "cropped", "status"}


def join_annotations(neurons: pd.DataFrame, annotations: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Left-join a per-body annotation table (e.g. the public hemibrain ``hemibrain_meta.csv``
    with ``cell_class``, ``morphology_type``, ``ito_lee_hemilineage`` ...) onto ``neurons``.

    Columns neuPrint already gives (``type``, ``instance``, ``pre``, ``post`` ...) keep
    neuPrint's values; the others are added. Bodies absent from the table get missing values.

    Args:
        neurons: the neurons table (``bodyId`` int64).
        annotations: a CSV path or URL, or a DataFrame; must have ``bodyId``.

    Example:
        >>> n = pd.DataFrame({"bodyId": [1, 2], "type": ["A", "B"]})
        >>> a = pd.DataFrame({"bodyId": [2], "type": ["x"], "cell_class": ["CX"]})
        >>> join_annotations(n, a)[["bodyId", "type", "cell_class"]].values.tolist()
        [[1, 'A', nan], [2, 'B', 'CX']]
    """
    if not isinstance(annotations, pd.DataFrame):
        try:
            annotations = pd.read_csv(annotations, low_memory=False)
        except Exception as e:
            raise DownloadError(f"cannot read the annotation table {annotations}: {type(e).__name__}: "
                                f"{str(e).splitlines()[0] if str(e) else ''}") from None
    if "bodyId" not in annotations.columns:
        raise BadAnswerError(f"annotation table has no 'bodyId' column (has {list(annotations.columns)[:10]})")
    keep = ["bodyId"] + [c for c in annotations.columns
                         if c != "bodyId" and c not in _NEUPRINT_OWNED and c not in neurons.columns]
    a = annotations[keep].drop_duplicates("bodyId")
    a = a.astype({"bodyId": "int64"})
    return neurons.merge(a, on="bodyId", how="left")


def fetch_dataset(
    dataset: str, out: str | os.PathLike, token: str | Token | None = None, criteria=None,
    synapses: bool = True, *, source: str = "neuprint", token_file: str | os.PathLike | None = None,
    server: str | None = None, annotations: str | os.PathLike | pd.DataFrame | None = None,
    batch_size: int = _NET.batch_size, timeout: float = _NET.timeout, retries: int = _NET.retries,
    backoff: float = _NET.backoff, exports_url: str | None = None, progress: bool = True, keep_parts: bool = False,
    export_manifest: str | os.PathLike | dict | None = None,
) -> Path:
    """Download a connectome into ``out`` (returned as a Path): the contract's tables + manifest.

    Args:
        dataset: ``"hemibrain:v1.2.1"``, ``"manc:v1.2.1"``, or any dataset the server lists.
        out: output folder (created).
        token: neuPrint token (string or :class:`Token`); else ``token_file``, else
            ``$NEUPRINT_APPLICATION_CREDENTIALS``. Not needed for ``source="exports"``.
        criteria: a ``neuprint.NeuronCriteria`` or a list of bodyIds; default all
            ``status='Traced'`` neurons. Connections and synapses are those among the
            selected neurons.
        synapses: also download synapse pairs (``synapses.parquet``; large).
        source: ``"neuprint"`` or ``"exports"`` (public bulk exports, no token).
        token_file: file holding the token (or the JSON from the neuPrint account page).
        server: neuPrint server URL (default ``https://neuprint.janelia.org``).
        annotations: hemibrain only: CSV path/URL or DataFrame joined on ``bodyId`` (see
            :func:`join_annotations`), e.g. the public ``hemibrain_meta.csv``.
        batch_size: bodies per batch (one Parquet part per table per batch).
        timeout: seconds per request; retries: extra attempts; backoff: first wait (s).
            Defaults: :class:`synhelpers.tables.config.DownloadConfig`.
        exports_url: base URL of the exports (tests point it at a local server).
        progress: show a progress bar (notebook widget inside Jupyter).
        keep_parts: keep ``out/.parts`` after success.
        export_manifest: replaces the packaged export manifest that says what each export
            file must contain (a JSON path or a dict of the same layout; tests and mirrors).

    ``out`` must be new, empty, or this dataset's download folder (an interrupted one resumes);
    a folder holding the user's own tables or another dataset's download is refused in one
    line (:func:`synhelpers.outputs.claim_folder`). Until ``manifest.json`` is written the
    folder is marked incomplete, so :func:`synhelpers.load_tables` refuses it.

    Raises:
        OutputError: ``out`` holds something else (see above).
        NoTokenError, TokenRejectedError, UnknownDatasetError, ServerUnreachableError,
        DownloadTimeoutError, ServerError, BadAnswerError, DiskFullError, ExportIntegrityError:
        one line each. Finished parts are kept, so rerunning resumes; an export file that
        fails its check is moved aside to ``out/.downloads/NAME.bad-<time>``, never kept.
        synhelpers.tables.TableError: the assembled tables break the data contract.
    """
    out = Path(out)
    purpose = f"download {dataset}"
    with disk_full_guard(str(out)):
        claim_folder(out, "tables", purpose=purpose)  # refuse another dataset's folder first
    command = (f"python -m synhelpers download --dataset {dataset} --out {out}"
               + (" --source exports" if source == "exports" else ""))
    with writing(out, "tables", purpose=purpose, writer=command) as rec:
        for name in _fetch(dataset, out, token, criteria, synapses, source, token_file, server,
                           annotations, batch_size, timeout, retries, backoff, exports_url,
                           progress, keep_parts, export_manifest):
            rec.add(name)
    return out


def _fetch(dataset, out, token, criteria, synapses, source, token_file, server, annotations,
           batch_size, timeout, retries, backoff, exports_url, progress, keep_parts,
           export_manifest) -> list[str]:
    """The download itself; returns the names of the files written into ``out``."""
    net = {"batch_size": batch_size, "timeout": timeout, "retries": retries, "backoff": backoff,
           "progress": progress, "store_factory": lambda plan: PartStore(out, plan)}
    if source == "neuprint":
        from .neuprint_source import DEFAULT_SERVER, download_neuprint

        tok = resolve_token(token, token_file)
        result = download_neuprint(dataset, out, tok, criteria=criteria, synapses=synapses,
                                   server=server or DEFAULT_SERVER, **net)
    elif source == "exports":
        from .exports import download_exports

        result = download_exports(dataset, out, criteria=criteria, synapses=synapses,
                                  base_url=exports_url, manifest=export_manifest, **net)
    else:
        raise DownloadError(f"unknown source {source!r}; use 'neuprint' or 'exports'")
    return _finish(out, dataset, result, annotations, keep_parts)


def _finish(out: Path, dataset: str, result: dict, annotations, keep_parts: bool) -> list[str]:
    """Assemble the parts into the final tables and write ``manifest.json`` (last); returns the
    names of the files written."""
    store, n = result["store"], result["n_batches"]
    hook = None
    if annotations is not None:
        def hook(df: pd.DataFrame) -> pd.DataFrame:
            return join_annotations(df, annotations)
    parts = {t: store.parts(t, n) for t in result["tables"]}
    info = assemble(out, parts, neurons_hook=hook)
    manifest = dict(result["manifest"])
    manifest["name"] = dataset
    manifest["annotations"] = None if annotations is None else (
        "DataFrame" if isinstance(annotations, pd.DataFrame) else str(annotations))
    manifest["tables"] = info
    manifest["row_counts"] = {t: v["rows"] for t, v in info.items()}
    manifest["sha256"] = {t: v["sha256"] for t, v in info.items()}
    with disk_full_guard(str(out / "manifest.json")):
        write_json(out / "manifest.json", manifest)
    if not keep_parts:
        store.remove()
    return [v["file"] for v in info.values()] + ["manifest.json"]

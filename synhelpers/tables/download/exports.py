"""Token-free path: the public bulk exports of hemibrain v1.2 and MANC v1.0.

Files (see ``../shared/docs/data-contract.md``; what each must contain is in the packaged
export manifest, :mod:`synhelpers.tables.download.manifest`):

- hemibrain v1.2, ``https://storage.googleapis.com/hemibrain/v1.2/``:
  ``exported-traced-adjacencies-v1.2.tar.gz`` (``traced-neurons.csv``,
  ``traced-total-connections.csv``, ``traced-roi-connections.csv``),
  ``hemibrain-v1.2-synapse-points-with-body-roi-type-status.feather`` (one row per synapse
  point) and ``hemibrain-v1.2-synapse-partners.feather`` (pairs of point ids).
- MANC v1.0, ``https://storage.googleapis.com/flyem-manc-exports/v1.0/``:
  ``manc-traced-adjacencies-v1.0/{traced-neurons,traced-connections,traced-connections-per-roi}.csv``
  and ``manc-v1.0-neuron-properties.feather``.

Each file is downloaded by :func:`~synhelpers.tables.download.transfer.download_file` into
``out/.downloads/`` (streamed, resumed with HTTP ``Range``, size-, checksum- and
content-checked; a file that fails is moved aside, never kept as verified). The files are then
converted (:mod:`~synhelpers.tables.download.export_tables`), in batches of bodies, to the same
three tables and manifest as the neuPrint path.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..config import DownloadConfig
from .errors import DownloadError, UnknownDatasetError
from .export_tables import hemibrain_synapses, hemibrain_tables, manc_tables
from .manifest import ExportFile, ExportSet, load_manifest
from .transfer import download_file

__all__ = ["EXPORTS", "EXPORT_DIFFERENCES", "ExportFile", "ExportSet", "download_file",
           "download_exports"]

_NET = DownloadConfig()  # network defaults (one home: synhelpers.tables.config)

#: Text for the README: what differs between the exports and the v1.2.1 neuPrint databases.
EXPORT_DIFFERENCES = """\
Token-free exports (`source="exports"`) versus the neuPrint databases (`source="neuprint"`):

- Versions: hemibrain comes from the v1.2 exports (the neuPrint database is v1.2.1, a
  re-release of v1.2 with corrected names and labels; the connectivity is the same release) and
  MANC from the v1.0 exports (the neuPrint database is v1.2.1: later proofreading, so bodies,
  types and weights differ; v1.0 has 23,188 traced neurons). The manifest records the export
  version in `export_version`, not the database version.
- Neurons: hemibrain has only `bodyId, type, instance` (plus `status='Traced'`); no `pre`, `post`,
  `somaLocation`, `cellBodyFiber` or `cropped` - join `hemibrain_meta.csv` with
  `annotations=` to add `cell_class` and friends. MANC takes its labels from
  `manc-v1.0-neuron-properties.feather` (class, subclass, hemilineage, predicted
  neurotransmitter and probability, ...) under the v1.0 column names.
- Connections: per-ROI rows from the export's per-ROI table; a `NotPrimary` row per pair holds
  the weight outside primary ROIs so that rows still sum to the pair's total weight, as with
  neuprint-python.
- Synapses: hemibrain only (MANC v1.0 has no synapse export listed, so `synapses.parquet` is
  not written). They are joined from the points and partners feather files with no confidence
  threshold, so there can be more rows than neuPrint's default query returns (which applies the
  dataset's confidence threshold); `roi_pre`/`roi_post` are the export's ROI labels.
- Criteria: only a list of bodyIds (or the default, all traced neurons); a NeuronCriteria needs
  the neuPrint server.
- Memory: converting the full hemibrain synapse export (about 2.7 GB of feather files) needs
  several GB of RAM; the neuPrint path streams batches instead.
"""

#: The export sets of the packaged manifest, by dataset key.
EXPORTS: dict[str, ExportSet] = load_manifest()


def _export_set(dataset: str, manifest: str | os.PathLike | dict | None = None) -> ExportSet:
    sets = EXPORTS if manifest is None else load_manifest(manifest)
    key = dataset.split(":")[0].lower()
    if key not in sets:
        raise UnknownDatasetError(f"no public export for dataset {dataset!r}; available: "
                                  "hemibrain:v1.2.1 (v1.2 exports), manc:v1.2.1 (v1.0 exports)",
                                  available=["hemibrain:v1.2.1", "manc:v1.2.1"])
    return sets[key]


def _download_all(es: ExportSet, base: str, folder: Path, do_syn: bool, **net) -> tuple[list, dict]:
    """Download (or re-check the cached copy of) every file needed; ``(records, paths)``."""
    specs = list(es.adjacency) + ([es.properties] if es.properties else []) \
        + (list(es.synapse_files) if do_syn else [])
    recs, paths = [], {}
    for spec in specs:
        dest = folder / spec.name
        recs.append(download_file(base + spec.name, dest, spec=spec, **net))
        paths[spec.name] = dest
    return recs, paths


def _neurons_and_connections(es: ExportSet, paths: dict, body_list: list | None, store):
    """``(neurons, connections, ids)`` restricted to the selected bodies."""
    neurons, conn = (hemibrain_tables if es.key == "hemibrain" else manc_tables)(paths, es)
    neurons["bodyId"] = neurons["bodyId"].astype(np.int64)
    if body_list is not None:
        neurons = neurons[neurons["bodyId"].isin(body_list)]
    ids = store.bodies(lambda: np.sort(neurons["bodyId"].to_numpy(np.int64)))
    conn = conn[conn["bodyId_pre"].isin(ids) & conn["bodyId_post"].isin(ids)]
    return neurons, conn, ids


def _write_batches(store, batches: list, neurons: pd.DataFrame, conn: pd.DataFrame,
                   syn: pd.DataFrame | None, desc: str, progress: bool) -> None:
    """Write the parts each batch lacks (``syn`` is ``None`` without synapses)."""
    for i, batch in enumerate(tqdm(batches, unit="batch", desc=desc, disable=not progress)):
        if not store.has("neurons", i):
            store.write("neurons", i, neurons[neurons["bodyId"].isin(batch)].sort_values("bodyId"))
        if not store.has("connections", i):
            c = conn[conn["bodyId_pre"].isin(batch)]
            store.write("connections", i, c.sort_values(["bodyId_pre", "bodyId_post", "roi"], kind="stable"))
        if syn is not None and not store.has("synapses", i):
            s = syn[syn["bodyId_pre"].isin(batch)]
            s = s.sort_values([c for c in s.columns if not c.startswith("roi")], kind="stable")
            store.write("synapses", i, s)


def _run_manifest(dataset: str, es: ExportSet, base: str, body_list, batch_size: int,
                  n_batches: int, recs: list, do_syn: bool, synapses: bool) -> dict:
    import neuprint

    return {
        "dataset": dataset, "source": "exports", "export_version": es.version, "server": base,
        "server_version": None,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "neuprint_python_version": neuprint.__version__,
        "criteria": "all traced neurons" if body_list is None else f"bodyId list ({len(body_list)} bodies)",
        "batch_size": int(batch_size), "n_batches": n_batches,
        "export_files": recs,
        "synapses_note": None if do_syn else ("no synapse export for this dataset" if synapses else "not requested"),
    }


def download_exports(dataset: str, out: Path, *, criteria=None, synapses: bool = True,
                     base_url: str | None = None, batch_size: int = _NET.batch_size,
                     timeout: float = _NET.timeout, retries: int = _NET.retries,
                     backoff: float = _NET.backoff, progress: bool = True,
                     store_factory, manifest: str | os.PathLike | dict | None = None) -> dict:
    """Download and convert the public exports (see :func:`synhelpers.tables.download.fetch_dataset`).

    ``manifest`` replaces the packaged export manifest (a path or a dict; tests and mirrors).
    """
    es = _export_set(dataset, manifest)
    if criteria is not None and not isinstance(criteria, list | tuple | np.ndarray | pd.Series):
        raise DownloadError("with source='exports' criteria must be a list of bodyIds "
                            "(a NeuronCriteria needs the neuPrint server)")
    base = base_url or es.base_url
    base = base if base.endswith("/") else base + "/"
    do_syn = synapses and bool(es.synapse_files)
    recs, paths = _download_all(es, base, out / ".downloads", do_syn, timeout=timeout,
                                retries=retries, backoff=backoff, progress=progress)
    body_list = None if criteria is None else sorted({int(b) for b in criteria})
    plan = {"source": "exports", "dataset": dataset, "export_version": es.version, "base_url": base,
            "synapses": do_syn, "batch_size": int(batch_size),
            "files": {r["file"]: r["sha256"] for r in recs},
            "bodies_sha": None if body_list is None else hashlib.sha256(str(body_list).encode()).hexdigest()}
    store = store_factory(plan)
    neurons, conn, ids = _neurons_and_connections(es, paths, body_list, store)
    batches = [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]
    syn = None
    if do_syn and not all(store.has("synapses", i) for i in range(len(batches))):
        syn = hemibrain_synapses(paths, ids)
    _write_batches(store, batches, neurons, conn, syn, f"{dataset} (exports)", progress)
    tables = ["neurons", "connections"] + (["synapses"] if do_syn else [])
    manifest_out = _run_manifest(dataset, es, base, body_list, batch_size, len(batches), recs,
                                 do_syn, synapses)
    return {"store": store, "n_batches": len(batches), "tables": tables, "manifest": manifest_out}

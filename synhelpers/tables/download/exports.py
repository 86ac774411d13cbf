"""Token-free path: the public bulk exports of hemibrain v1.2 and MANC v1.0.

Files (see ``../shared/docs/data-contract.md``):

- hemibrain v1.2, ``https://storage.googleapis.com/hemibrain/v1.2/``:
  ``exported-traced-adjacencies-v1.2.tar.gz`` (``traced-neurons.csv``,
  ``traced-total-connections.csv``, ``traced-roi-connections.csv``),
  ``hemibrain-v1.2-synapse-points-with-body-roi-type-status.feather`` (one row per synapse
  point) and ``hemibrain-v1.2-synapse-partners.feather`` (pairs of point ids).
- MANC v1.0, ``https://storage.googleapis.com/flyem-manc-exports/v1.0/``:
  ``manc-traced-adjacencies-v1.0/{traced-neurons,traced-connections,traced-connections-per-roi}.csv``
  and ``manc-v1.0-neuron-properties.feather``.

Each file is streamed to ``out/.downloads/<name>.part`` with a progress bar, resumed with an
HTTP ``Range`` request after a dropped connection, and checked (size against the server's
length, MD5 against Google Cloud Storage's ``x-goog-hash`` header, SHA-256 when one is known)
before it is renamed into place; a bad file is deleted and reported. The files are then
converted, in batches of bodies, to the same three tables and manifest as the neuPrint path.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.feather as feather
import requests
from tqdm.auto import tqdm

from ...io import write_json
from .errors import (
    DownloadError,
    DownloadTimeoutError,
    ExportIntegrityError,
    ServerError,
    ServerUnreachableError,
    UnknownDatasetError,
)
from .parts import disk_full_guard

__all__ = ["EXPORTS", "EXPORT_DIFFERENCES", "ExportFile", "download_file", "download_exports"]

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


#: Bytes read per step of a streamed download (a smaller step loses less on a dropped connection).
CHUNK = 1 << 16


@dataclass(frozen=True)
class ExportFile:
    """One export file: its name under the base URL, and its checksum when known."""

    name: str
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class ExportSet:
    key: str
    version: str
    base_url: str
    adjacency: tuple[ExportFile, ...]
    synapse_files: tuple[ExportFile, ...] = ()
    properties: ExportFile | None = None


EXPORTS: dict[str, ExportSet] = {
    "hemibrain": ExportSet(
        "hemibrain", "hemibrain v1.2", "https://storage.googleapis.com/hemibrain/v1.2/",
        adjacency=(ExportFile("exported-traced-adjacencies-v1.2.tar.gz"),),
        synapse_files=(ExportFile("hemibrain-v1.2-synapse-points-with-body-roi-type-status.feather"),
                       ExportFile("hemibrain-v1.2-synapse-partners.feather")),
    ),
    "manc": ExportSet(
        "manc", "manc v1.0", "https://storage.googleapis.com/flyem-manc-exports/v1.0/",
        adjacency=(ExportFile("manc-traced-adjacencies-v1.0/traced-neurons.csv"),
                   ExportFile("manc-traced-adjacencies-v1.0/traced-connections.csv"),
                   ExportFile("manc-traced-adjacencies-v1.0/traced-connections-per-roi.csv")),
        properties=ExportFile("manc-v1.0-neuron-properties.feather"),
    ),
}


def _export_set(dataset: str) -> ExportSet:
    key = dataset.split(":")[0].lower()
    if key not in EXPORTS:
        raise UnknownDatasetError(f"no public export for dataset {dataset!r}; available: "
                                  "hemibrain:v1.2.1 (v1.2 exports), manc:v1.2.1 (v1.0 exports)",
                                  available=["hemibrain:v1.2.1", "manc:v1.2.1"])
    return EXPORTS[key]


# --------------------------------------------------------------------------------------------
# streamed, resumable, checked download of one file
# --------------------------------------------------------------------------------------------

def _goog_md5(headers) -> str | None:
    for part in headers.get("x-goog-hash", "").split(","):
        k, _, v = part.strip().partition("=")
        if k == "md5" and v:
            return v
    return None


def download_file(url: str, dest: Path, *, spec: ExportFile | None = None, timeout: float = 60.0,
                  retries: int = 4, backoff: float = 0.5, progress: bool = True,
                  chunk: int | None = None) -> dict:
    """Download ``url`` to ``dest``: streamed, resumed by HTTP Range, size- and checksum-checked.

    The bytes go to ``dest.part``; a dropped connection is retried (with backoff) from where it
    stopped. Once complete the size must equal the server's length, the MD5 the server's
    ``x-goog-hash`` (when sent) and the SHA-256 ``spec.sha256`` (when known); then ``dest.part``
    is renamed to ``dest`` and ``dest.ok.json`` records size and SHA-256, so a rerun skips it.

    Returns:
        ``{"file", "size", "sha256"}``.

    Raises:
        ExportIntegrityError: wrong size or checksum (the partial file is deleted).
        ServerUnreachableError, DownloadTimeoutError, ServerError: after the retries.
    """
    chunk = chunk or CHUNK
    ok = dest.with_name(dest.name + ".ok.json")
    if dest.exists() and ok.exists():
        rec = json.loads(ok.read_text())
        if rec.get("size") == dest.stat().st_size:
            return rec
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    total = None
    md5_expected = None
    bar = tqdm(total=None, unit="B", unit_scale=True, desc=dest.name, disable=not progress, leave=False)
    last_err: Exception | None = None
    with bar:
        for attempt in range(retries + 1):
            have = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                with requests.get(url, headers=headers, stream=True, timeout=timeout) as r:
                    if r.status_code == 416 and total is not None and have == total:
                        break
                    if r.status_code in (500, 502, 503, 504) and attempt < retries:
                        last_err = ServerError(f"{url} answered HTTP {r.status_code}")
                        time.sleep(backoff * 2 ** attempt)
                        continue
                    if r.status_code >= 400:
                        raise ServerError(f"{url} answered HTTP {r.status_code}")
                    if r.status_code == 200 and have:
                        have = 0  # the server ignored Range: start again
                    md5_expected = _goog_md5(r.headers) or md5_expected
                    if r.status_code == 206 and "/" in r.headers.get("Content-Range", ""):
                        total = int(r.headers["Content-Range"].rsplit("/", 1)[1])
                    elif "Content-Length" in r.headers:
                        total = have + int(r.headers["Content-Length"])
                    bar.total, bar.n = total, have
                    bar.refresh()
                    with disk_full_guard(str(part)), open(part, "ab" if have else "wb") as f:
                        for data in r.iter_content(chunk):
                            f.write(data)
                            bar.update(len(data))
                size = part.stat().st_size
                if total is None or size >= total:
                    break
                last_err = requests.exceptions.ChunkedEncodingError("short read")
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as e:
                last_err = e
            if attempt < retries:
                time.sleep(min(30.0, backoff * 2 ** attempt))
        else:
            if isinstance(last_err, requests.Timeout):
                raise DownloadTimeoutError(f"downloading {url} timed out ({timeout:g} s) {retries + 1} "
                                           "times; rerun to resume") from None
            if isinstance(last_err, ServerError):
                raise last_err from None
            raise ServerUnreachableError(f"downloading {url} failed {retries + 1} times "
                                         f"({type(last_err).__name__}); rerun to resume from "
                                         f"{part.stat().st_size if part.exists() else 0:,} bytes") from None
    size = part.stat().st_size
    if total is not None and size != total:
        part.unlink()
        raise ExportIntegrityError(f"{dest.name}: got {size:,} bytes, the server announced {total:,}; "
                                   "the file was removed, rerun to download it again")
    if spec is not None and spec.size is not None and size != spec.size:
        part.unlink()
        raise ExportIntegrityError(f"{dest.name}: size {size:,} bytes, expected {spec.size:,}; removed")
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(part, "rb") as f:
        while b := f.read(1 << 22):
            md5.update(b)
            sha.update(b)
    if md5_expected and base64.b64encode(md5.digest()).decode() != md5_expected:
        part.unlink()
        raise ExportIntegrityError(f"{dest.name}: MD5 checksum does not match the server's "
                                   "x-goog-hash; the corrupt file was removed, rerun to download it again")
    if spec is not None and spec.sha256 and sha.hexdigest() != spec.sha256:
        part.unlink()
        raise ExportIntegrityError(f"{dest.name}: SHA-256 {sha.hexdigest()[:12]}... differs from the "
                                   f"expected {spec.sha256[:12]}...; removed")
    os.replace(part, dest)
    rec = {"file": dest.name, "size": size, "sha256": sha.hexdigest()}
    write_json(ok, rec)
    return rec


# --------------------------------------------------------------------------------------------
# conversion
# --------------------------------------------------------------------------------------------

def _pick(df: pd.DataFrame, *names: str) -> str:
    for n in names:
        if n in df.columns:
            return n
    raise DownloadError(f"export table lacks all of the columns {list(names)} (has {list(df.columns)[:12]})")


def _with_not_primary(roi: pd.DataFrame, total: pd.DataFrame) -> pd.DataFrame:
    """Add ``NotPrimary`` rows so per-ROI weights sum to each pair's total weight."""
    s = roi.groupby(["bodyId_pre", "bodyId_post"], as_index=False)["weight"].sum()
    m = total.merge(s, on=["bodyId_pre", "bodyId_post"], how="left", suffixes=("", "_roi")).fillna({"weight_roi": 0})
    m["weight"] = (m["weight"] - m["weight_roi"]).astype(np.int64)
    extra = m.loc[m["weight"] > 0, ["bodyId_pre", "bodyId_post"]].assign(roi="NotPrimary",
                                                                        weight=m.loc[m["weight"] > 0, "weight"])
    out = pd.concat([roi[["bodyId_pre", "bodyId_post", "roi", "weight"]], extra], ignore_index=True)
    return out.astype({"bodyId_pre": "int64", "bodyId_post": "int64", "weight": "int64"})


def _hemibrain_tables(files: dict[str, Path]):
    tar_path = files["exported-traced-adjacencies-v1.2.tar.gz"]
    members = {}
    with tarfile.open(tar_path, "r:gz") as tar:
        for m in tar.getmembers():
            base = m.name.rsplit("/", 1)[-1]
            if base in ("traced-neurons.csv", "traced-total-connections.csv", "traced-roi-connections.csv"):
                members[base] = pd.read_csv(io.BytesIO(tar.extractfile(m).read()))
    missing = {"traced-neurons.csv", "traced-total-connections.csv", "traced-roi-connections.csv"} - set(members)
    if missing:
        raise DownloadError(f"{tar_path.name} lacks {sorted(missing)}")
    neurons = members["traced-neurons.csv"]
    neurons["status"] = "Traced"
    conn = _with_not_primary(members["traced-roi-connections.csv"], members["traced-total-connections.csv"])
    return neurons, conn


def _hemibrain_synapses(files: dict[str, Path], bodies: np.ndarray) -> pd.DataFrame:
    """Join partners to points; keep pairs whose both bodies are in ``bodies``."""
    pts = feather.read_table(files["hemibrain-v1.2-synapse-points-with-body-roi-type-status.feather"]).to_pandas()
    body = _pick(pts, "body", "bodyId")
    pid = _pick(pts, "point_id", "id", "index")
    conf = _pick(pts, "conf", "confidence")
    pts = pts[pts[body].isin(bodies)].sort_values(pid)
    ids = pts[pid].to_numpy(np.int64)
    partners = feather.read_table(files["hemibrain-v1.2-synapse-partners.feather"]).to_pandas()
    pre_c, post_c = _pick(partners, "pre_id", "pre"), _pick(partners, "post_id", "post")
    out = {}
    for side, col in (("pre", pre_c), ("post", post_c)):
        v = partners[col].to_numpy(np.int64)
        pos = np.searchsorted(ids, v).clip(0, max(len(ids) - 1, 0))
        found = (ids[pos] == v) if len(ids) else np.zeros(len(v), bool)
        out[side] = (pos, found)
    keep = out["pre"][1] & out["post"][1]
    res = {}
    for side in ("pre", "post"):
        rows = pts.iloc[out[side][0][keep]]
        res[f"bodyId_{side}"] = rows[body].to_numpy(np.int64)
        res[f"roi_{side}"] = rows["roi"].astype(object).where(rows["roi"].notna(), None).to_numpy() \
            if "roi" in rows.columns else None
        for a in "xyz":
            res[f"{a}_{side}"] = rows[a].to_numpy(np.int32)
        res[f"confidence_{side}"] = rows[conf].to_numpy(np.float32)
    cols = ["bodyId_pre", "bodyId_post", "roi_pre", "roi_post", "x_pre", "y_pre", "z_pre",
            "x_post", "y_post", "z_post", "confidence_pre", "confidence_post"]
    return pd.DataFrame({c: res[c] for c in cols})


def _manc_tables(files: dict[str, Path]):
    d = "manc-traced-adjacencies-v1.0/"
    neurons = pd.read_csv(files[d + "traced-neurons.csv"])
    neurons["status"] = "Traced"
    props = feather.read_table(files["manc-v1.0-neuron-properties.feather"]).to_pandas()
    props = props.rename(columns={_pick(props, "bodyId", "body"): "bodyId"})
    extra = ["bodyId"] + [c for c in props.columns if c not in neurons.columns]
    neurons = neurons.merge(props[extra].drop_duplicates("bodyId"), on="bodyId", how="left")
    roi = pd.read_csv(files[d + "traced-connections-per-roi.csv"])
    total = pd.read_csv(files[d + "traced-connections.csv"])
    return neurons, _with_not_primary(roi, total)


def download_exports(dataset: str, out: Path, *, criteria=None, synapses: bool = True,
                     base_url: str | None = None, batch_size: int = 500, timeout: float = 60.0,
                     retries: int = 4, backoff: float = 0.5, progress: bool = True,
                     store_factory) -> dict:
    """Download and convert the public exports (see :func:`synhelpers.tables.download.fetch_dataset`)."""
    es = _export_set(dataset)
    if criteria is not None and not isinstance(criteria, list | tuple | np.ndarray | pd.Series):
        raise DownloadError("with source='exports' criteria must be a list of bodyIds "
                            "(a NeuronCriteria needs the neuPrint server)")
    base = base_url or es.base_url
    base = base if base.endswith("/") else base + "/"
    do_syn = synapses and bool(es.synapse_files)
    specs = list(es.adjacency) + ([es.properties] if es.properties else []) + (list(es.synapse_files) if do_syn else [])
    dl = out / ".downloads"
    recs, paths = [], {}
    for spec in specs:
        dest = dl / spec.name
        recs.append(download_file(base + spec.name, dest, spec=spec, timeout=timeout, retries=retries,
                                  backoff=backoff, progress=progress))
        paths[spec.name] = dest

    body_list = None if criteria is None else sorted({int(b) for b in criteria})
    plan = {"source": "exports", "dataset": dataset, "export_version": es.version, "base_url": base,
            "synapses": do_syn, "batch_size": int(batch_size),
            "files": {r["file"]: r["sha256"] for r in recs},
            "bodies_sha": None if body_list is None else hashlib.sha256(str(body_list).encode()).hexdigest()}
    store = store_factory(plan)
    neurons, conn = (_hemibrain_tables if es.key == "hemibrain" else _manc_tables)(paths)
    neurons["bodyId"] = neurons["bodyId"].astype(np.int64)
    if body_list is not None:
        neurons = neurons[neurons["bodyId"].isin(body_list)]
    ids = store.bodies(lambda: np.sort(neurons["bodyId"].to_numpy(np.int64)))
    conn = conn[conn["bodyId_pre"].isin(ids) & conn["bodyId_post"].isin(ids)]
    tables = ["neurons", "connections"] + (["synapses"] if do_syn else [])
    syn = None
    if do_syn and not all(store.has("synapses", i) for i in range(-(-len(ids) // batch_size))):
        syn = _hemibrain_synapses(paths, ids)
    batches = [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]
    for i, batch in enumerate(tqdm(batches, unit="batch", desc=f"{dataset} (exports)", disable=not progress)):
        if not store.has("neurons", i):
            store.write("neurons", i, neurons[neurons["bodyId"].isin(batch)].sort_values("bodyId"))
        if not store.has("connections", i):
            c = conn[conn["bodyId_pre"].isin(batch)].sort_values(["bodyId_pre", "bodyId_post", "roi"], kind="stable")
            store.write("connections", i, c)
        if do_syn and not store.has("synapses", i):
            s = syn[syn["bodyId_pre"].isin(batch)]
            s = s.sort_values([c for c in s.columns if not c.startswith("roi")], kind="stable")
            store.write("synapses", i, s)
    import neuprint

    manifest = {
        "dataset": dataset, "source": "exports", "export_version": es.version, "server": base,
        "server_version": None,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "neuprint_python_version": neuprint.__version__,
        "criteria": "all traced neurons" if body_list is None else f"bodyId list ({len(body_list)} bodies)",
        "batch_size": int(batch_size), "n_batches": len(batches),
        "export_files": recs,
        "synapses_note": None if do_syn else ("no synapse export for this dataset" if synapses else "not requested"),
    }
    return {"store": store, "n_batches": len(batches), "tables": tables, "manifest": manifest}


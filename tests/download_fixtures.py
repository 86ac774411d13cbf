"""Small, deterministic tables and servers for the download tests (not a conftest)."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile

import numpy as np
import pandas as pd

from synhelpers.testing import ExportFileServer, FakeDataset, FakeNeuprintServer

MARKED_TOKEN = "MARKED-TOKEN-5f1d9c7e-do-not-leak"
ROIS = ["AL(R)", "MB(R)", "LH(R)"]


def small_tables(n: int = 40, seed: int = 0, n_edges: int = 150, manc: bool = False):
    """``(neurons, connections per ROI, synapses)`` with synapse rows == weights."""
    rng = np.random.default_rng(seed)
    body = (np.arange(1, n + 1) * 1000 + rng.integers(0, 999, n)).astype(np.int64)
    neurons = pd.DataFrame({
        "bodyId": body,
        "type": [f"T{i % 5}" for i in range(n)],
        "instance": [f"T{i % 5}_R" for i in range(n)],
        "status": ["Traced"] * (n - 4) + ["Orphan"] * 4,
        "pre": rng.integers(10, 100, n),
        "post": rng.integers(10, 100, n),
        "somaLocation": [[int(x) for x in rng.integers(0, 30000, 3)] for _ in range(n)],
    })
    if manc:
        neurons["class"] = [["intrinsic neuron", "descending neuron"][i % 2] for i in range(n)]
        neurons["subclass"] = [f"sub{i % 3}" for i in range(n)]
        neurons["predictedNt"] = [["acetylcholine", "gaba", "glutamate"][i % 3] for i in range(n)]
        neurons["predictedNtProb"] = np.round(rng.uniform(0.4, 1.0, n), 3)
    pairs: set = set()
    rows, syn = [], []
    while len(pairs) < n_edges:
        a, b = rng.choice(body, 2, replace=False)
        if (a, b) in pairs:
            continue
        pairs.add((a, b))
        for roi in rng.choice(ROIS, int(rng.integers(1, 3)), replace=False):
            w = int(rng.integers(1, 4))
            rows.append((a, b, roi, w))
            for _ in range(w):
                xyz = rng.integers(0, 30000, 3)
                syn.append((a, b, roi, roi, *xyz, *(xyz + rng.integers(-20, 20, 3)),
                            round(float(rng.uniform(0.5, 1)), 3), round(float(rng.uniform(0.5, 1)), 3)))
    conn = pd.DataFrame(rows, columns=["bodyId_pre", "bodyId_post", "roi", "weight"])
    syn = pd.DataFrame(syn, columns=["bodyId_pre", "bodyId_post", "roi_pre", "roi_post", "x_pre", "y_pre",
                                     "z_pre", "x_post", "y_post", "z_post", "confidence_pre", "confidence_post"])
    return neurons, conn, syn


def small_datasets(**kw) -> list[FakeDataset]:
    hb = small_tables(seed=1)
    mc = small_tables(seed=2, manc=True)
    return [FakeDataset("hemibrain:v1.2.1", *hb, **kw), FakeDataset("manc:v1.2.1", *mc, **kw)]


@contextlib.contextmanager
def fake_server(**kw):
    datasets = kw.pop("datasets", None) or small_datasets()
    kw.setdefault("token", MARKED_TOKEN)
    with FakeNeuprintServer(datasets, **kw) as srv, srv.env():
        yield srv


def fast(**kw) -> dict:
    """fetch_dataset options for tests: small batches, short timeouts, tiny backoff."""
    return {"batch_size": 8, "timeout": 2.0, "retries": 2, "backoff": 0.01, "progress": False} | kw


def expected_traced(neurons, conn, syn):
    traced = set(neurons.loc[neurons.status == "Traced", "bodyId"])
    c = conn[conn.bodyId_pre.isin(traced) & conn.bodyId_post.isin(traced)]
    s = syn[syn.bodyId_pre.isin(traced) & syn.bodyId_post.isin(traced)]
    return traced, c, s


# ---- export files ---------------------------------------------------------------------------

def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def _feather(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.reset_index(drop=True).to_feather(buf)
    return buf.getvalue()


def _tar(members: dict[str, bytes | tuple[bytes, str]]) -> bytes:
    """A tar.gz of regular files (``bytes``) and special members (``(tar type, link name)``)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(data, tuple):
                info.type, info.linkname = data
                tar.addfile(info)
                continue
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


feather_bytes = _feather

#: What a captive portal (or a proxy's error page) answers with ``200 OK`` for any URL.
HTML_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Sign in to Guest Wi-Fi</title></head>"
             b"<body><form action='/login'>Accept the terms to continue</form></body></html>\n")

HB_TAR = "exported-traced-adjacencies-v1.2.tar.gz"
HB_TAR_DIR = "exported-traced-adjacencies-v1.2"


def hemibrain_tar_with(replace: dict[str, bytes | tuple[bytes, str]], seed: int = 1) -> bytes:
    """The hemibrain adjacency tarball of :func:`hemibrain_export_files` with some members
    replaced (by base name), e.g. ``{"traced-neurons.csv": (tarfile.SYMTYPE, "/etc/passwd")}``."""
    with tarfile.open(fileobj=io.BytesIO(hemibrain_export_files(seed)[0][HB_TAR]), mode="r:gz") as t:
        members = {m.name: t.extractfile(m).read() for m in t.getmembers()}
    for base, data in replace.items():
        members[f"{HB_TAR_DIR}/{base}"] = data
    return _tar(members)


def manifest_with(changes: dict[str, dict], member_changes: dict[str, dict] | None = None) -> dict:
    """The packaged export manifest (a copy) with some file entries changed, by file name, and
    some tar members changed, by member name: ``manifest_with({NAME: {"size": 3}})``."""
    from synhelpers.tables.download.manifest import read_manifest

    m = read_manifest()
    for ds in m["datasets"].values():
        for f in ds["files"]:
            f.update(changes.get(f["name"], {}))
            for mem in f.get("members") or ():
                mem.update((member_changes or {}).get(mem["name"], {}))
    return m


def hemibrain_export_files(seed: int = 1) -> tuple[dict[str, bytes], tuple]:
    """Files in the hemibrain v1.2 export formats, from :func:`small_tables`."""
    neurons, conn, syn = small_tables(seed=seed)
    traced, c, s = expected_traced(neurons, conn, syn)
    tn = neurons[neurons.bodyId.isin(traced)][["bodyId", "type", "instance"]]
    total = c.groupby(["bodyId_pre", "bodyId_post"], as_index=False)["weight"].sum()
    d = "exported-traced-adjacencies-v1.2"
    tarball = _tar({f"{d}/README": b"hemibrain v1.2 traced adjacencies\n",
                    f"{d}/traced-neurons.csv": _csv(tn),
                    f"{d}/traced-total-connections.csv": _csv(total),
                    f"{d}/traced-roi-connections.csv": _csv(c)})
    # synapse points: one row per point (pre T-bars are shared by several partners in real
    # data; here each pair has its own), partners: pre/post point ids
    n = len(syn)
    pre_pts = pd.DataFrame({"point_id": np.arange(n, dtype=np.int64) * 2,
                            "x": syn.x_pre, "y": syn.y_pre, "z": syn.z_pre, "kind": "PreSyn",
                            "conf": syn.confidence_pre.astype("float32"), "body": syn.bodyId_pre,
                            "roi": syn.roi_pre, "status": "Traced"})
    post_pts = pd.DataFrame({"point_id": np.arange(n, dtype=np.int64) * 2 + 1,
                             "x": syn.x_post, "y": syn.y_post, "z": syn.z_post, "kind": "PostSyn",
                             "conf": syn.confidence_post.astype("float32"), "body": syn.bodyId_post,
                             "roi": syn.roi_post, "status": "Traced"})
    points = pd.concat([pre_pts, post_pts]).sample(frac=1, random_state=0)
    partners = pd.DataFrame({"pre_id": pre_pts.point_id.to_numpy(), "post_id": post_pts.point_id.to_numpy()})
    files = {
        "exported-traced-adjacencies-v1.2.tar.gz": tarball,
        "hemibrain-v1.2-synapse-points-with-body-roi-type-status.feather": _feather(points),
        "hemibrain-v1.2-synapse-partners.feather": _feather(partners),
    }
    return files, (neurons, conn, syn)


def manc_export_files(seed: int = 2) -> tuple[dict[str, bytes], tuple]:
    neurons, conn, syn = small_tables(seed=seed, manc=True)
    traced, c, s = expected_traced(neurons, conn, syn)
    tn = neurons[neurons.bodyId.isin(traced)][["bodyId", "type", "instance"]]
    total = c.groupby(["bodyId_pre", "bodyId_post"], as_index=False)["weight"].sum()
    props = neurons[neurons.bodyId.isin(traced)][["bodyId", "class", "subclass", "predictedNt",
                                                  "predictedNtProb"]].rename(columns={"bodyId": "bodyId"})
    d = "manc-traced-adjacencies-v1.0"
    files = {
        f"{d}/traced-neurons.csv": _csv(tn),
        f"{d}/traced-connections.csv": _csv(total),
        f"{d}/traced-connections-per-roi.csv": _csv(c),
        "manc-v1.0-neuron-properties.feather": _feather(props),
    }
    return files, (neurons, conn, syn)


@contextlib.contextmanager
def export_server(files, **kw):
    with ExportFileServer(files, **kw) as srv:
        yield srv


def all_text_under(folder) -> str:
    """Every byte under ``folder`` (files of any kind), decoded leniently."""
    chunks = []
    for root, _dirs, files in os.walk(folder):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                chunks.append(fh.read().decode("latin-1"))
    return "\n".join(chunks)

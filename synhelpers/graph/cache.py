"""The graph cache: ``graph.pt`` + ``split.parquet`` + ``graph.json`` in a folder, keyed by the
content of the tables and the builder settings, and the fingerprint of a built graph."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from ..io import atomic_path, read_json, sha256_file, write_json, write_parquet
from ..tables.contract import TABLE_FILES, load_tables
from .build import build_graph
from .config import BUILDER_VERSION, SPLITS, GraphConfig
from .labels import codes_of
from .split import set_split, split_frame

__all__ = ["graph_fingerprint", "save_graph", "load_graph", "build_cached"]


def graph_fingerprint(data: Data) -> str:
    """SHA-256 (hex, 16 chars) of the tensors a model sees: nodes, edges, features, labels,
    split and synapse sets. Two graphs with the same fingerprint train identically; saved runs
    are reused only for the graph they were trained on."""
    h = hashlib.sha256(str(int(data.num_nodes)).encode())
    keys = ["edge_index", "edge_weight", "edge_roi", "x", "train_mask", "val_mask", "test_mask",
            "syn_ptr", "syn_pos", "syn_roi", "syn_conf", "site_ptr", "site_pos", "site_is_post",
            "connectome", "roi_center", "pos_unit_um"]
    keys += [f"y_{c}" for c in getattr(data, "label_columns", [])]
    for k in keys:
        if k in data:
            t = data[k].detach().cpu().contiguous()
            h.update(k.encode() + str(tuple(t.shape)).encode() + t.numpy().tobytes())
    return h.hexdigest()[:16]


def _cache_key(tables_dir: Path, cfg: GraphConfig) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"builder": BUILDER_VERSION, "config": asdict(cfg)}, sort_keys=True).encode())
    for fname in TABLE_FILES.values():
        f = tables_dir / fname
        if f.exists() and (fname != TABLE_FILES["synapses"] or cfg.synapses):
            h.update(fname.encode() + sha256_file(f).encode())
    return h.hexdigest()


def save_graph(data: Data, out_dir: str | Path, meta: dict | None = None) -> Path:
    """Write ``graph.pt`` (tensors and plain lists, loadable with ``weights_only=True``),
    ``split.parquet`` and ``graph.json``, each atomically; ``graph.json`` last."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "graph.pt") as tmp:
        torch.save(data.to_dict(), tmp)
    write_parquet(split_frame(data), out_dir / "split.parquet")
    summary = {
        "dataset": data.dataset_name,
        "num_nodes": int(data.num_nodes),
        "num_edges": int(data.edge_index.shape[1]),
        "num_synapses": int(data.syn_pos.shape[0]) if "syn_pos" in data else 0,
        "num_node_features": int(data.x.shape[1]),
        "labels": {c: data.label_names[c] for c in data.label_columns},
        "label_info": data.label_info,
        "split_counts": {s: int(data[f"{s}_mask"].sum()) for s in SPLITS},
    }
    write_json(out_dir / "graph.json", {**(meta or {}), **summary})
    return out_dir


def load_graph(out_dir: str | Path) -> Data:
    """Load a graph written by :func:`build_cached` or :func:`save_graph`.

    The split is read from ``split.parquet`` (so an edited or shared split file is honoured).
    """
    out_dir = Path(out_dir)
    f = out_dir / "graph.pt"
    if not f.exists():
        raise FileNotFoundError(f"{f} not found; build it with "
                                f"`python -m synhelpers build --tables DIR --out {out_dir}`")
    data = Data.from_dict(torch.load(f, weights_only=True))
    split_file = out_dir / "split.parquet"
    if split_file.exists():
        sf = pd.read_parquet(split_file)
        if len(sf) != data.num_nodes or not np.array_equal(sf["bodyId"].to_numpy(), data.body_id.numpy()):
            raise ValueError(f"{split_file}: bodyIds do not match the graph in {f}; rebuild the graph")
        code = codes_of(sf["split"], SPLITS)
        if (code < 0).any():
            bad = np.flatnonzero(code < 0)[:5].tolist()
            raise ValueError(f"{split_file}, column 'split': values must be train/val/test; rows {bad}")
        set_split(data, code.astype(np.int8))
    return data


def build_cached(
    tables_dir: str | Path, out_dir: str | Path, cfg: GraphConfig = GraphConfig(),
    *, progress: bool = False, force: bool = False,
) -> Data:
    """Load the graph from ``out_dir`` if it was built from the same tables and settings,
    else build it from ``tables_dir`` and save it there.

    The cache key is a SHA-256 of the table files' contents, the config and
    :data:`BUILDER_VERSION`; it is stored in ``graph.json``.
    """
    tables_dir, out_dir = Path(tables_dir), Path(out_dir)
    key = _cache_key(tables_dir, cfg)
    meta_file = out_dir / "graph.json"
    if not force and meta_file.exists() and (out_dir / "graph.pt").exists():
        if read_json(meta_file).get("cache_key") == key:
            if progress:
                print(f"[build] cache hit: {out_dir}", flush=True)
            return load_graph(out_dir)
    con = load_tables(tables_dir, synapses=cfg.synapses)
    data = build_graph(con, cfg, progress=progress)
    save_graph(data, out_dir, {"cache_key": key, "tables": str(tables_dir), "config": asdict(cfg),
                               "builder_version": BUILDER_VERSION})
    return data

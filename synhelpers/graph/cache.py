"""The graph cache: ``graph.pt`` + ``split.parquet`` + ``graph.json`` in a folder, keyed by the
content of the tables and the builder settings, and the fingerprint of a built graph.

The cache cannot lie: ``graph.json`` is written last and holds the cache key and the SHA-256 of
``graph.pt``; a folder whose ``graph.json`` is missing, whose key differs, or whose
``graph.pt`` is missing, truncated or changed is rebuilt (with a one-line message), never
served. Temporary files left by a killed build are removed by the next one. Every way of
loading a graph from tables (``build``, ``train --data TABLES``, the notebooks) goes through
:func:`build_cached`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from ..errors import ConfigError, GraphError
from ..io import atomic_path, read_json, sha256_file, write_json, write_parquet
from ..tables.contract import TABLE_FILES, load_tables
from .build import build_graph
from .config import BUILDER_VERSION, SPLITS, GraphConfig
from .labels import codes_of
from .split import set_split, split_frame
from .union import build_union, read_label_map

__all__ = ["graph_fingerprint", "save_graph", "load_graph", "build_cached", "cache_state",
           "load_data"]

#: Tensors a model can read: the fingerprint of a graph hashes all of them.
FINGERPRINT_KEYS = ("edge_index", "edge_weight", "edge_roi", "x", "train_mask", "val_mask",
                    "test_mask", "syn_ptr", "syn_pos", "syn_roi", "syn_conf", "site_ptr",
                    "site_pos", "site_is_post", "connectome", "roi_center", "pos_unit_um",
                    "gap_index", "gap_weight")


def graph_fingerprint(data: Data) -> str:
    """SHA-256 (hex, 16 chars) of the tensors a model sees: nodes, edges, features, labels,
    split and synapse sets. Two graphs with the same fingerprint train identically; saved runs
    are reused only for the graph they were trained on."""
    h = hashlib.sha256(str(int(data.num_nodes)).encode())
    keys = [*FINGERPRINT_KEYS, *(f"y_{c}" for c in getattr(data, "label_columns", []))]
    for k in keys:
        if k in data:
            t = data[k].detach().cpu().contiguous()
            h.update(k.encode() + str(tuple(t.shape)).encode() + t.numpy().tobytes())
    return h.hexdigest()[:16]


def _tables_list(tables) -> list[Path]:
    return [Path(t) for t in (tables if isinstance(tables, (list, tuple)) else [tables])]


def _cache_key(tables: list[Path], cfg: GraphConfig) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"builder": BUILDER_VERSION, "config": asdict(cfg)}, sort_keys=True).encode())
    for d in tables:
        h.update(str(len(tables)).encode())
        for table, fname in TABLE_FILES.items():
            f = d / fname
            if f.exists() and (cfg.synapses or table not in ("synapses", "sites")):
                h.update(fname.encode() + sha256_file(f).encode())
    if cfg.label_map:
        h.update(sha256_file(cfg.label_map).encode())
    return h.hexdigest()


def save_graph(data: Data, out_dir: str | Path, meta: dict | None = None) -> Path:
    """Write ``graph.pt`` (tensors and plain lists, loadable with ``weights_only=True``),
    ``split.parquet`` and, last, ``graph.json`` with the digest of ``graph.pt``; each atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "graph.pt") as tmp, open(tmp, "wb") as f:
        # through a file object: torch.save names the archive inside after a path it is given
        # (here a random temporary name), so two builds of one graph would differ in bytes
        torch.save(data.to_dict(), f)
    write_parquet(split_frame(data), out_dir / "split.parquet")
    scored = {c: {s: int((data[f"{s}_mask"] & (data[f"y_{c}"] >= 0)).sum()) for s in SPLITS}
              for c in data.label_columns}
    summary = {
        "dataset": data.dataset_name,
        "connectomes": list(getattr(data, "connectome_names", [data.dataset_name])),
        "num_nodes": int(data.num_nodes),
        "num_edges": int(data.edge_index.shape[1]),
        "num_synapses": int(data.syn_pos.shape[0]) if "syn_pos" in data else 0,
        "num_node_features": int(data.x.shape[1]),
        "labels": {c: data.label_names[c] for c in data.label_columns},
        "label_info": data.label_info,
        "split_counts": {s: int(data[f"{s}_mask"].sum()) for s in SPLITS},
        "scored_per_split": scored,
        "graph_sha256": sha256_file(out_dir / "graph.pt"),
    }
    write_json(out_dir / "graph.json", {**(meta or {}), **summary})
    return out_dir


def cache_state(out_dir: str | Path, key: str | None = None) -> str:
    """``"ok"``, or why the folder's graph cannot be served: ``"missing"``, ``"incomplete"``
    (no graph.json), ``"stale"`` (another key), ``"corrupt"`` (graph.pt truncated or changed)."""
    out_dir = Path(out_dir)
    meta_file, graph_file = out_dir / "graph.json", out_dir / "graph.pt"
    if not graph_file.exists():
        return "missing"
    if not meta_file.exists():
        return "incomplete"
    try:
        meta = read_json(meta_file)
    except (OSError, ValueError):
        return "incomplete"
    if not isinstance(meta, dict):
        return "incomplete"
    if key is not None and meta.get("cache_key") != key:
        return "stale"
    if meta.get("graph_sha256") != sha256_file(graph_file):
        return "corrupt"
    return "ok"


def _read_split(data: Data, split_file: Path, graph_file: Path) -> None:
    sf = pd.read_parquet(split_file)
    if len(sf) != data.num_nodes or not np.array_equal(sf["bodyId"].to_numpy(), data.body_id.numpy()):
        raise GraphError(f"{split_file}: bodyIds do not match the graph in {graph_file}; rebuild the graph")
    code = codes_of(sf["split"], SPLITS)
    if (code < 0).any():
        bad = np.flatnonzero(code < 0)[:5].tolist()
        raise GraphError(f"{split_file}, column 'split': values must be train/val/test; rows {bad}")
    set_split(data, code.astype(np.int8))
    if "labelled" in sf.columns:  # a label budget (split.label_budget): only these train labels
        labelled = torch.from_numpy(sf["labelled"].to_numpy(bool))
        data.labelled_mask = labelled
        data.train_mask = data.train_mask & labelled


def load_graph(out_dir: str | Path) -> Data:
    """Load a graph written by :func:`build_cached` or :func:`save_graph`, after checking that
    ``graph.pt`` is the one ``graph.json`` describes.

    The split is read from ``split.parquet`` (so an edited or shared split file is honoured);
    its optional bool column ``labelled`` is a label budget: the training split is then only
    the neurons marked True (see :func:`synhelpers.graph.split.label_budget`).
    """
    out_dir = Path(out_dir)
    f = out_dir / "graph.pt"
    state = cache_state(out_dir)
    if state != "ok":
        raise GraphError(f"{out_dir}: graph cache is {state} (graph.pt without a matching graph.json); "
                         f"rebuild it with `python -m synhelpers build --tables DIR --out {out_dir}`")
    data = Data.from_dict(torch.load(f, weights_only=True))
    if (out_dir / "split.parquet").exists():
        _read_split(data, out_dir / "split.parquet", f)
    return data


def _remove_orphans(out_dir: Path) -> None:
    """Temporary files of a killed build (``.graph.pt.<random>.tmp`` ...)."""
    for tmp in out_dir.glob(".*.tmp"):
        if tmp.name.split(".")[1] in ("graph", "split"):
            tmp.unlink(missing_ok=True)


def _build(tables: list[Path], cfg: GraphConfig, progress: bool) -> Data:
    cons = [load_tables(d, synapses=cfg.synapses) for d in tables]
    if len(cons) == 1 and cfg.test_connectome is None:
        return build_graph(cons[0], cfg, progress=progress)
    if len(cons) == 1:
        raise ConfigError("--test-connectome needs several connectomes (build --tables A B ...)")
    label_map = read_label_map(cfg.label_map) if cfg.label_map else None
    return build_union(cons, cfg, label_map=label_map, progress=progress)


def build_cached(tables, out_dir: str | Path, cfg: GraphConfig = GraphConfig(), *,
                 progress: bool = False, force: bool = False) -> Data:
    """Load the graph from ``out_dir`` if it was built from the same tables and settings,
    else build it from ``tables`` (one folder, or a list for several connectomes) and save it.

    The cache key is a SHA-256 of the table files' contents, the config, the label map's
    content and :data:`BUILDER_VERSION`; it is stored in ``graph.json``.
    """
    tables, out_dir = _tables_list(tables), Path(out_dir)
    key = _cache_key(tables, cfg)
    if out_dir.exists():
        _remove_orphans(out_dir)
    state = "forced" if force else cache_state(out_dir, key)
    if state == "ok":
        if progress:
            print(f"[build] cache hit: {out_dir}", flush=True)
        return load_graph(out_dir)
    if state in ("incomplete", "corrupt", "stale") and progress:
        print(f"[build] {out_dir}: cached graph is {state}; rebuilding", flush=True)
    data = _build(tables, cfg, progress)
    meta = {"cache_key": key, "tables": [str(t) for t in tables], "config": asdict(cfg),
            "builder_version": BUILDER_VERSION}
    save_graph(data, out_dir, meta)
    return data


def load_data(path) -> Data:
    """A graph from a tables folder (built and cached in ``path/graph``) or a graph folder.

    A graph folder whose ``graph.json`` names tables that still exist goes through the same
    cache-key check as ``build``, so a graph built from tables that changed since is rebuilt,
    never served stale.
    """
    p = Path(path)
    if (p / "neurons.parquet").exists():
        return build_cached(p, p / "graph")
    if not (p / "graph.pt").exists():
        raise ConfigError(f"{p}: neither a tables folder (neurons.parquet) nor a graph folder (graph.pt)")
    try:
        meta = read_json(p / "graph.json") if (p / "graph.json").exists() else {}
    except (OSError, ValueError):  # unreadable: load_graph below says the cache is broken
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    tables = meta.get("tables")
    if isinstance(tables, str):
        tables = [tables]
    if tables and all((Path(t) / "neurons.parquet").exists() for t in tables) and "config" in meta:
        return build_cached(tables, p, GraphConfig(**meta["config"]))
    return load_graph(p)

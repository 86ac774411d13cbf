"""The graph cache: ``graph.pt`` + ``split.parquet`` + ``graph.json`` in a folder, keyed by the
content of the tables and the builder settings, and the fingerprint of a built graph.

The cache cannot lie: ``graph.json`` is written last and holds the cache key and the SHA-256 of
``graph.pt``; a folder whose ``graph.json`` is missing, whose key differs, or whose
``graph.pt`` is missing, truncated or changed is rebuilt (with a one-line message), never
served. Temporary files left by a killed build are removed by the next one. Every way of
loading a graph from tables (``build``, ``train --data TABLES``, the notebooks) goes through
:func:`build_cached`.

A graph knows its sources (:mod:`.sources`): ``graph.json`` holds the resolved paths and
digests of every input file. :func:`load_graph` refuses a graph whose inputs changed since, in
one line naming the file and the command that rebuilds it; :func:`load_data` on a tables
folder never rebuilds ``TABLES/graph`` made with other settings (it refuses, naming the
command). A graph folder is marked as one (:mod:`synhelpers.outputs`): ``build --out`` a
folder holding anything else is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from ..errors import ConfigError, GraphError
from ..io import atomic_path, read_json, sha256_file, write_json, write_parquet
from ..outputs import claim_folder, writing
from ..tables.contract import load_tables
from .build import build_graph
from .config import BUILDER_VERSION, SPLITS, GraphConfig, build_command
from .labels import codes_of
from .sources import cache_key, changed_sources, config_of, digest_sources
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
    """The tables folders, resolved (a graph is checked against the same files from any
    working folder)."""
    return [Path(t).resolve() for t in (tables if isinstance(tables, (list, tuple)) else [tables])]


def save_graph(data: Data, out_dir: str | Path, meta: dict | None = None) -> Path:
    """Write ``graph.pt`` (tensors and plain lists, loadable with ``weights_only=True``),
    ``split.parquet`` and, last, ``graph.json`` with the digest of ``graph.pt``; each atomically."""
    out_dir = claim_folder(out_dir, "graph")
    with writing(out_dir, "graph") as rec:
        _save_files(data, out_dir, meta)
        rec.add("graph.pt"), rec.add("split.parquet"), rec.add("graph.json")
    return out_dir


def _save_files(data: Data, out_dir: Path, meta: dict | None) -> None:
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
    try:
        sf = pd.read_parquet(split_file)
    except (OSError, ValueError) as e:  # truncated, not Parquet (pyarrow's errors)
        raise GraphError(f"{split_file}: not a readable Parquet table ({' '.join(str(e).split())[:80]}); "
                         "rebuild the graph") from None
    if not {"bodyId", "split"} <= set(sf.columns):
        raise GraphError(f"{split_file}: needs the columns bodyId and split; rebuild the graph")
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


def _read_meta(out_dir: Path) -> dict:
    """``graph.json`` as a dict; ``{}`` when missing or unreadable."""
    try:
        meta = read_json(out_dir / "graph.json")
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _rebuild_hint(out_dir: Path, meta: dict) -> str:
    cfg, tables = config_of(meta), meta.get("tables")
    if cfg is None or not tables:
        return f"`python -m synhelpers build --tables DIR --out {out_dir} --force`"
    return f"`{build_command(tables if isinstance(tables, list) else [tables], out_dir, cfg)}`"


def load_graph(out_dir: str | Path, *, check_sources: bool = True) -> Data:
    """Load a graph written by :func:`build_cached` or :func:`save_graph`, after checking that
    ``graph.pt`` is the one ``graph.json`` describes and (``check_sources``) that no input it
    was built from changed since (:func:`.sources.changed_sources`).

    The split is read from ``split.parquet`` (so an edited or shared split file is honoured);
    its optional bool column ``labelled`` is a label budget: the training split is then only
    the neurons marked True (see :func:`synhelpers.graph.split.label_budget`).

    Raises:
        GraphError: the cache is broken, or an input changed (one line naming the file and
            the command that rebuilds the graph).
    """
    out_dir = Path(out_dir)
    f = out_dir / "graph.pt"
    state = cache_state(out_dir)
    if state != "ok":
        raise GraphError(f"{out_dir}: graph cache is {state} (graph.pt without a matching graph.json); "
                         f"rebuild it with {_rebuild_hint(out_dir, _read_meta(out_dir))}")
    if check_sources:
        meta = _read_meta(out_dir)
        changed = changed_sources(meta)
        if changed:
            more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
            raise GraphError(f"{out_dir}: {changed[0]}{more} since this graph was built from it; "
                             f"rebuild the graph with {_rebuild_hint(out_dir, meta)}, or restore "
                             "the tables it was built from")
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
                 progress: bool = False, force: bool = False,
                 refuse_other_settings: bool = False) -> Data:
    """Load the graph from ``out_dir`` if it was built from the same tables and settings,
    else build it from ``tables`` (one folder, or a list for several connectomes) and save it.

    The cache key (:func:`.sources.cache_key`) hashes the input files' contents (tables,
    ``synthetic.json``/``manifest.json``, the label map), the config and
    :data:`BUILDER_VERSION`; it is stored in ``graph.json`` with the inputs' resolved paths
    and digests. A rebuild of a stale graph prints one line saying why (the settings, or which
    file changed).

    Args:
        refuse_other_settings: a graph in ``out_dir`` made with other settings is refused
            (:class:`GraphError` naming the command that rebuilds it), never rebuilt: what
            :func:`load_data` uses, where the settings are the defaults and not the user's.

    Raises:
        OutputError: ``out_dir`` holds something other than a graph (the user's files, tables).
    """
    tables, out_dir = _tables_list(tables), Path(out_dir)
    if cfg.label_map:
        cfg = replace(cfg, label_map=str(Path(cfg.label_map).resolve()))
    claim_folder(out_dir, "graph")
    _remove_orphans(out_dir)
    digests = digest_sources(tables, cfg)
    key = cache_key(tables, cfg, digests)
    state = "forced" if force else cache_state(out_dir, key)
    if state == "ok":
        if progress:
            print(f"[build] cache hit: {out_dir}", flush=True)
        return load_graph(out_dir, check_sources=False)
    if state == "stale":
        _report_stale(out_dir, tables, cfg, digests, refuse_other_settings)
    elif state in ("incomplete", "corrupt") and progress:
        print(f"[build] {out_dir}: cached graph is {state}; rebuilding", flush=True)
    data = _build(tables, cfg, progress)
    meta = {"cache_key": key, "tables": [str(t) for t in tables], "sources": digests,
            "config": asdict(cfg), "builder_version": BUILDER_VERSION}
    save_graph(data, out_dir, meta)
    return data


def _report_stale(out_dir: Path, tables: list[Path], cfg: GraphConfig, digests: dict,
                  refuse_other_settings: bool) -> None:
    """Say in one line why a cached graph is rebuilt; or refuse (other settings, when asked)."""
    old = _read_meta(out_dir)
    old_cfg = config_of(old)
    if old_cfg is not None and old_cfg != cfg:
        if refuse_other_settings:
            diff = ", ".join(f"{k}={v!r}" for k, v in asdict(old_cfg).items()
                             if getattr(cfg, k) != v)
            raise GraphError(f"{out_dir}: built with other settings ({diff}); use it as it is "
                             f"with --data {out_dir}, or rebuild it with these settings: "
                             f"`{build_command(tables, out_dir, cfg)}`")
        why = "built with other settings"
    else:
        recorded = old.get("sources") if isinstance(old.get("sources"), dict) else {}
        changed = [p for p in digests if recorded.get(p) != digests[p]]
        changed += [p for p in recorded if p not in digests]
        why = (f"{changed[0]} changed since it was built" if recorded and changed
               else "its inputs or the builder changed since it was built")
    print(f"[build] {out_dir}: {why}; rebuilding", flush=True)


def load_data(path) -> Data:
    """A graph from a tables folder (built and cached in ``path/graph``) or a graph folder.

    A tables folder's ``graph`` sub-folder is rebuilt when its tables changed, but never when
    it was made with other settings than the defaults (refused: use that folder as
    ``--data``, or rebuild it with the command named). A graph folder is loaded as it is,
    after checking its sources (:func:`load_graph`).
    """
    p = Path(path)
    if (p / "neurons.parquet").exists():
        return build_cached(p, p / "graph", refuse_other_settings=True)
    if not (p / "graph.pt").exists():
        raise ConfigError(f"{p}: neither a tables folder (neurons.parquet) nor a graph folder (graph.pt)")
    return load_graph(p)

"""Graph builder: connectome tables in, a ``torch_geometric.data.Data`` out (cached on disk).

Nodes are neurons; edges are directed pre -> post, one per neuron pair, sorted by
(pre, post). Synapse point sets are stored in CSR form, per edge and per neuron.

Attributes of the returned ``Data`` (N neurons, E edges, S synaptic pairs, M sites, R ROIs):

=================  ==========  =============================================================
name               shape       meaning
=================  ==========  =============================================================
``body_id``        (N,) int64  neuPrint bodyId of each node
``x``              (N, F) f32  wiring-only node features, see :func:`node_features`
``edge_index``     (2, E) i64  pre -> post node indices
``edge_weight``    (E,) f32    synapse count of the pair (summed over ROIs)
``edge_roi``       (E, R) f32  fraction of the pair's synapses in each ROI (zero rows: no ROI)
``roi_names``      list[R]     ROI of each ``edge_roi`` column / ``syn_roi`` value
``syn_ptr``        (E+1,) i64  CSR pointer: edge e owns synapses ``syn_ptr[e]:syn_ptr[e+1]``
``syn_pos``        (S, 6) f32  pre xyz, post xyz, normalised (below)
``syn_roi``        (S,) i64    ROI index of the postsynaptic site, -1 unknown
``syn_conf``       (S, 2) f32  pre and post detection confidence (1.0 when absent)
``site_ptr``       (N+1,) i64  CSR pointer into the neuron's own sites
``site_pos``       (M, 3) f32  the neuron's unique T-bars and postsynaptic densities, normalised
``site_is_post``   (M,) bool   True for a postsynaptic site, False for a T-bar
``pos_center``     (3,) f32    voxels; ``pos_scale`` float, voxels; ``voxel_nm`` float
``y_<label>``      (N,) i64    class id, -1 = masked (unlabelled, or class below min count)
``label_names``    dict        label column -> list of class names (index = class id)
``train_mask`` ... (N,) bool   the split (also saved as ``split.parquet`` beside the graph)
=================  ==========  =============================================================

Coordinate transform: ``normalised = (voxel - pos_center) / pos_scale``, with
``pos_center`` the centre of the bounding box of all synapse coordinates and ``pos_scale``
half of its largest side, so the whole volume lies in [-1, 1]. Multiply by
``pos_scale * voxel_nm / 1000`` to get micrometres relative to the centre.

Everything is vectorised numpy/torch; there is no per-row or per-edge Python loop.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from ..io import atomic_path, read_json, sha256_file, write_json, write_parquet
from ..tables.contract import TABLE_FILES, Connectome, load_tables

__all__ = [
    "GraphConfig",
    "build_graph",
    "build_cached",
    "load_graph",
    "node_features",
    "make_split",
    "subgraph",
    "inductive_train_graph",
    "graph_fingerprint",
    "BUILDER_VERSION",
    "save_graph",
    "split_frame",
    "SPLITS",
]

#: Bumped whenever the graph layout or its computation changes (invalidates caches).
BUILDER_VERSION = 1
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class GraphConfig:
    """Settings of the graph builder.

    Attributes:
        labels: neuron columns that become integer labels ``y_<column>``.
        min_class_count: classes with fewer labelled neurons are masked (-1), never merged.
        split: train/val/test fractions.
        split_seed: seed of the stratified split.
        stratify_by: label column the split is stratified on (default: the first label).
        synapses: attach the synapse point sets (needs ``synapses.parquet``).
    """

    labels: tuple[str, ...] = ("cell_class", "predictedNt")
    min_class_count: int = 10
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    split_seed: int = 0
    stratify_by: str | None = None
    synapses: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "split", tuple(float(f) for f in self.split))
        if len(self.split) != 3 or abs(sum(self.split) - 1) > 1e-6 or min(self.split) < 0:
            raise ValueError(f"split must be three fractions summing to 1, got {self.split}")


@dataclass
class _Timer:
    progress: bool
    t0: float = field(default_factory=time.perf_counter)

    def __call__(self, what: str) -> None:
        if self.progress:
            print(f"[build] {what} ({time.perf_counter() - self.t0:.1f}s)", flush=True)


# --------------------------------------------------------------------------- pieces


def _codes(values, categories) -> np.ndarray:
    """Position of each value in ``categories``; -1 for missing or unknown values."""
    return pd.Index(list(categories)).get_indexer(pd.Series(values).astype(object)).astype(np.int64)


def _index_of(body_sorted: np.ndarray, order: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Node index of each bodyId in ``values`` (all known: the tables were validated)."""
    return order[np.searchsorted(body_sorted, values)]


def node_features(
    edge_index: torch.Tensor, edge_weight: torch.Tensor, edge_roi: torch.Tensor, num_nodes: int
) -> torch.Tensor:
    """Wiring-only node features; they use no label.

    Columns: ``log1p`` of in-degree, out-degree, total input weight, total output weight,
    then the fraction of input synapses in each ROI (R columns) and of output synapses (R).

    Args:
        edge_index: (2, E) pre -> post.
        edge_weight: (E,) synapse counts.
        edge_roi: (E, R) per-ROI fractions of each edge's synapses.
        num_nodes: N.

    Returns:
        (N, 4 + 2R) float32.
    """
    pre, post = edge_index
    n, r = num_nodes, edge_roi.shape[1]
    ones = torch.ones_like(edge_weight)
    in_deg = torch.zeros(n).index_add_(0, post, ones)
    out_deg = torch.zeros(n).index_add_(0, pre, ones)
    in_w = torch.zeros(n).index_add_(0, post, edge_weight)
    out_w = torch.zeros(n).index_add_(0, pre, edge_weight)
    roi_w = edge_roi * edge_weight[:, None]
    in_roi = torch.zeros(n, r).index_add_(0, post, roi_w)
    out_roi = torch.zeros(n, r).index_add_(0, pre, roi_w)
    in_roi = in_roi / in_roi.sum(1, keepdim=True).clamp_min(1e-12)
    out_roi = out_roi / out_roi.sum(1, keepdim=True).clamp_min(1e-12)
    deg = torch.stack([in_deg, out_deg, in_w, out_w], 1).log1p()
    return torch.cat([deg, in_roi, out_roi], 1).float()


def _encode_labels(values: pd.Series, min_count: int) -> tuple[np.ndarray, list[str], dict]:
    """Integer ids (-1 masked) and class names; classes below ``min_count`` are masked."""
    s = values.astype("string")  # missing stays <NA>
    s = s.str.strip().replace("", pd.NA)
    counts = s.value_counts(dropna=True)
    keep = counts[counts >= min_count]
    names = sorted(str(k) for k in keep.index)
    codes = _codes(s, names).astype(np.int64)  # -1 if missing/dropped
    info = {
        "n_labelled": int(s.notna().sum()),
        "n_unlabelled": int(s.isna().sum()),
        "dropped_classes": {str(k): int(v) for k, v in counts[counts < min_count].items()},
        "n_masked_small_class": int(counts[counts < min_count].sum()),
    }
    return codes, names, info


def make_split(
    strata: np.ndarray, fractions=(0.7, 0.15, 0.15), seed: int = 0
) -> np.ndarray:
    """Stratified, seeded split. Returns (N,) int8: 0 train, 1 val, 2 test.

    Within each stratum (e.g. a class id, -1 for unlabelled) neurons are ranked in a
    random order and cut at the cumulative fractions, so every class is spread over the
    three splits in proportion. Vectorised: one lexsort, no loop over rows.

    Example:
        >>> s = make_split(np.repeat(np.arange(3), 100), seed=0)
        >>> np.bincount(s).tolist()
        [210, 45, 45]
    """
    strata = np.asarray(strata)
    n = len(strata)
    key = np.random.default_rng(seed).random(n)
    order = np.lexsort((key, strata))
    sorted_strata = strata[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_strata)) + 1]
    counts = np.diff(np.r_[starts, n])
    stratum_of = np.repeat(np.arange(len(starts)), counts)
    rank = np.arange(n) - starts[stratum_of]
    frac = (rank + 0.5) / counts[stratum_of]
    cut = np.cumsum(fractions)[:2]
    split_sorted = (frac >= cut[0]).astype(np.int8) + (frac >= cut[1]).astype(np.int8)
    out = np.empty(n, np.int8)
    out[order] = split_sorted
    return out


def _csr(owner: np.ndarray, n_owners: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable order that groups rows by ``owner``, and the CSR pointer (n_owners+1)."""
    order = np.argsort(owner, kind="stable")
    ptr = np.zeros(n_owners + 1, np.int64)
    np.cumsum(np.bincount(owner, minlength=n_owners), out=ptr[1:])
    return order, ptr


# --------------------------------------------------------------------------- build


def build_graph(con: Connectome, cfg: GraphConfig = GraphConfig(), *, progress: bool = False) -> Data:
    """Build the neuron graph of ``con`` (see the module docstring for the attributes).

    Args:
        con: validated tables (:func:`synhelpers.load_tables` or :func:`synhelpers.from_frames`).
        cfg: builder settings.
        progress: print stage timings.

    Raises:
        KeyError: a label column is not in the neurons table.

    Example:
        >>> from synhelpers.tables.synthetic import generate, SyntheticConfig
        >>> g = build_graph(generate(SyntheticConfig(n_neurons=200)))
        >>> g.edge_index.shape[0], g.syn_pos.shape[1], int(g.syn_ptr[-1]) == g.syn_pos.shape[0]
        (2, 6, True)
    """
    tick = _Timer(progress)
    neurons, conns = con.neurons, con.connections
    for col in cfg.labels:
        if col not in neurons.columns:
            raise KeyError(f"label column {col!r} not in the neurons table; "
                           f"columns are {list(neurons.columns)}")
    body = neurons["bodyId"].to_numpy(np.int64, copy=True)
    n = len(body)
    order = np.argsort(body)
    body_sorted = body[order]

    # ---- edges: one per (pre, post) pair, weights summed over ROI rows
    pre = _index_of(body_sorted, order, conns["bodyId_pre"].to_numpy(np.int64))
    post = _index_of(body_sorted, order, conns["bodyId_post"].to_numpy(np.int64))
    w = conns["weight"].to_numpy(np.float64)
    pair_key = pre.astype(np.int64) * n + post
    edge_key, inv = np.unique(pair_key, return_inverse=True)
    e = len(edge_key)
    edge_weight = np.bincount(inv, weights=w, minlength=e)

    roi_names: list[str] = []
    roi_source = None
    if "roi" in conns.columns:
        roi_source = conns["roi"]
    elif con.synapses is not None and "roi_post" in con.synapses.columns and cfg.synapses:
        roi_source = None  # filled from synapses below
    if roi_source is not None:
        roi_str = roi_source.astype("string")
        roi_names = sorted(str(r) for r in roi_str.dropna().unique())
        code = _codes(roi_str, roi_names).astype(np.int64)
        ok = code >= 0
        edge_roi = np.zeros((e, len(roi_names)), np.float32)
        np.add.at(edge_roi, (inv[ok], code[ok]), w[ok].astype(np.float32))
    tick(f"{e:,} edges from {len(conns):,} connection rows")

    data = Data(num_nodes=n)
    data.body_id = torch.from_numpy(body)
    data.edge_index = torch.from_numpy(np.stack([edge_key // n, edge_key % n]))
    data.edge_weight = torch.from_numpy(edge_weight.astype(np.float32))

    # ---- synapses: CSR per edge and per neuron
    syn = con.synapses if cfg.synapses else None
    if syn is not None:
        s_pre = _index_of(body_sorted, order, syn["bodyId_pre"].to_numpy(np.int64))
        s_post = _index_of(body_sorted, order, syn["bodyId_post"].to_numpy(np.int64))
        s_key = s_pre.astype(np.int64) * n + s_post
        s_edge = np.searchsorted(edge_key, s_key).clip(0, e - 1)
        known = edge_key[s_edge] == s_key
        if not known.all():
            import warnings

            warnings.warn(f"{(~known).sum():,} synapse rows belong to pairs absent from the "
                          "connections table and were dropped", stacklevel=2)
        idx = np.flatnonzero(known)
        s_edge = s_edge[idx]
        perm, syn_ptr = _csr(s_edge, e)
        rows = idx[perm]
        xyz = syn[["x_pre", "y_pre", "z_pre", "x_post", "y_post", "z_post"]].to_numpy(np.float64)[rows]
        lo = np.minimum(xyz[:, :3].min(0), xyz[:, 3:].min(0))
        hi = np.maximum(xyz[:, :3].max(0), xyz[:, 3:].max(0))
        center = (lo + hi) / 2
        scale = float(max((hi - lo).max() / 2, 1.0))
        syn_pos = ((xyz - np.tile(center, 2)) / scale).astype(np.float32)
        del xyz
        if "roi_post" in syn.columns:
            # via the categorical codes: one small lookup instead of millions of string compares
            cat = syn["roi_post"].astype("category").cat
            if not roi_names:
                roi_names = sorted(str(r) for r in cat.categories)
            lookup = np.r_[_codes(cat.categories, roi_names), -1]  # code -1 (missing) -> -1
            syn_roi = lookup[cat.codes.to_numpy()[rows]]
        else:
            syn_roi = np.full(len(rows), -1, np.int64)
        conf = np.ones((len(rows), 2), np.float32)
        for j, c in enumerate(("confidence_pre", "confidence_post")):
            if c in syn.columns:
                conf[:, j] = syn[c].to_numpy(np.float32, na_value=1.0)[rows]
        tick(f"{len(rows):,} synapses in CSR")

        # per-neuron sites: the neuron's T-bars (one T-bar serves several partners, so they are
        # de-duplicated on exact voxel coordinates) and its postsynaptic densities (one per row)
        tbar = pd.DataFrame({"node": s_pre[rows].astype(np.int32)})
        for a in "xyz":
            tbar[a] = syn[f"{a}_pre"].to_numpy()[rows]
        first = ~tbar.duplicated().to_numpy()
        del tbar
        site_node = np.r_[s_pre[rows][first], s_post[rows]]
        site_perm, site_ptr = _csr(site_node, n)
        site_pos = np.concatenate([syn_pos[first, :3], syn_pos[:, 3:]])[site_perm]
        site_is_post = np.r_[np.zeros(int(first.sum()), bool), np.ones(len(rows), bool)][site_perm]
        del site_node, first
        if roi_source is None:  # connections had no roi column: derive fractions from synapses
            edge_roi = np.zeros((e, len(roi_names)), np.float32)
            ok = syn_roi >= 0
            np.add.at(edge_roi, (np.repeat(np.arange(e), np.diff(syn_ptr))[ok], syn_roi[ok]), 1.0)
        data.syn_ptr = torch.from_numpy(syn_ptr)
        data.syn_pos = torch.from_numpy(syn_pos)
        data.syn_roi = torch.from_numpy(syn_roi)
        data.syn_conf = torch.from_numpy(conf)
        data.site_ptr = torch.from_numpy(site_ptr)
        data.site_pos = torch.from_numpy(site_pos)
        data.site_is_post = torch.from_numpy(site_is_post)
        data.pos_center = torch.from_numpy(center.astype(np.float32))
        data.pos_scale = scale
        data.voxel_nm = float(con.meta.get("voxel_nm", 8.0))
        tick(f"{len(site_pos):,} neuron sites in CSR")
    elif roi_source is None:
        edge_roi = np.zeros((e, 0), np.float32)

    edge_roi /= np.maximum(edge_roi.sum(1, keepdims=True), 1e-12)
    data.edge_roi = torch.from_numpy(edge_roi)
    data.roi_names = list(roi_names)
    data.x = node_features(data.edge_index, data.edge_weight, data.edge_roi, n)

    # ---- labels and split
    data.label_columns = list(cfg.labels)
    data.label_names = {}
    label_info = {}
    for col in cfg.labels:
        codes, names, info = _encode_labels(neurons[col], cfg.min_class_count)
        data[f"y_{col}"] = torch.from_numpy(codes)
        data.label_names[col] = names
        label_info[col] = info
    data.label_info = label_info
    strat_col = cfg.stratify_by or (cfg.labels[0] if cfg.labels else None)
    strata = data[f"y_{strat_col}"].numpy() if strat_col else np.zeros(n, np.int64)
    if strat_col and strat_col not in cfg.labels:
        strata = _encode_labels(neurons[strat_col], cfg.min_class_count)[0]
    split = make_split(strata, cfg.split, cfg.split_seed)
    _set_split(data, split)
    data.dataset_name = con.name
    tick("features, labels and split")
    return data


def _set_split(data: Data, split: np.ndarray) -> None:
    split_t = torch.from_numpy(np.asarray(split))
    for i, name in enumerate(SPLITS):
        data[f"{name}_mask"] = split_t == i


def split_frame(data: Data) -> pd.DataFrame:
    """The split as a table: ``bodyId``, ``split`` ('train' | 'val' | 'test')."""
    split = np.full(data.num_nodes, "", dtype=object)
    for name in SPLITS:
        split[data[f"{name}_mask"].numpy()] = name
    return pd.DataFrame({"bodyId": data.body_id.numpy(), "split": split})


# --------------------------------------------------------------------------- views


def _slice_csr(ptr: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of a CSR structure owned by the kept owners: (row mask, new pointer)."""
    lengths = ptr[1:] - ptr[:-1]
    row_keep = torch.repeat_interleave(keep, lengths)
    new_ptr = torch.zeros(int(keep.sum()) + 1, dtype=torch.long)
    torch.cumsum(lengths[keep], 0, out=new_ptr[1:])
    return row_keep, new_ptr


def subgraph(data: Data, keep: torch.Tensor) -> Data:
    """The graph induced by the kept neurons: their edges, synapse sets, sites and labels.

    Node features are recomputed from the remaining edges, so nothing about the removed
    neurons (not even their degree contribution) is visible.

    Args:
        data: a graph from :func:`build_graph`.
        keep: (N,) bool.

    Returns:
        A new ``Data`` with N' = keep.sum() nodes and ``node_map`` (N',) holding the
        original node index of each new node.
    """
    keep = keep.bool()
    n = data.num_nodes
    new_index = torch.full((n,), -1, dtype=torch.long)
    node_map = keep.nonzero().flatten()
    new_index[node_map] = torch.arange(len(node_map))
    src, dst = data.edge_index
    ekeep = keep[src] & keep[dst]
    out = Data(num_nodes=len(node_map))
    out.node_map = node_map
    out.edge_index = new_index[data.edge_index[:, ekeep]]
    out.edge_weight = data.edge_weight[ekeep]
    out.edge_roi = data.edge_roi[ekeep]
    if "syn_ptr" in data:
        rows, out.syn_ptr = _slice_csr(data.syn_ptr, ekeep)
        for k in ("syn_pos", "syn_roi", "syn_conf"):
            out[k] = data[k][rows]
        rows, out.site_ptr = _slice_csr(data.site_ptr, keep)
        out.site_pos = data.site_pos[rows]
        out.site_is_post = data.site_is_post[rows]
    for k, v in data.items():
        if k in out or k == "num_nodes":
            continue
        if torch.is_tensor(v) and v.dim() >= 1 and v.shape[0] == n and k not in ("pos_center",):
            out[k] = v[keep]
        else:
            out[k] = v
    out.x = node_features(out.edge_index, out.edge_weight, out.edge_roi, out.num_nodes)
    return out


def inductive_train_graph(data: Data) -> Data:
    """The training view of the inductive mode: test neurons and all their connections removed.

    Train and validation neurons stay (validation labels are used for model selection only).
    At inference the full ``data`` is used. ``node_map`` maps back to ``data``'s nodes.
    """
    return subgraph(data, ~data.test_mask)


def graph_fingerprint(data: Data) -> str:
    """SHA-256 (hex, 16 chars) of the tensors a model sees: nodes, edges, features, labels,
    split and synapse sets. Two graphs with the same fingerprint train identically; saved runs
    are reused only for the graph they were trained on."""
    h = hashlib.sha256(str(int(data.num_nodes)).encode())
    keys = ["edge_index", "edge_weight", "edge_roi", "x", "train_mask", "val_mask", "test_mask",
            "syn_ptr", "syn_pos", "syn_roi", "syn_conf", "site_ptr", "site_pos", "site_is_post"]
    keys += [f"y_{c}" for c in getattr(data, "label_columns", [])]
    for k in keys:
        if k in data:
            t = data[k].detach().cpu().contiguous()
            h.update(k.encode() + str(tuple(t.shape)).encode() + t.numpy().tobytes())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- cache


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
        code = _codes(sf["split"], SPLITS)
        if (code < 0).any():
            bad = np.flatnonzero(code < 0)[:5].tolist()
            raise ValueError(f"{split_file}, column 'split': values must be train/val/test; rows {bad}")
        _set_split(data, code.astype(np.int8))
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


# --------------------------------------------------------------------------- CLI


def register(subparsers) -> None:
    p = subparsers.add_parser("build", help="build the cached neuron graph from tables",
                              description=build_cached.__doc__)
    p.add_argument("--tables", required=True, help="folder with neurons/connections/synapses.parquet")
    p.add_argument("--out", required=True, help="output folder for graph.pt, split.parquet, graph.json")
    p.add_argument("--label", action="append", default=None,
                   help="neuron column to use as a label (repeatable; default cell_class and predictedNt)")
    p.add_argument("--min-class-count", type=int, default=GraphConfig.min_class_count)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--no-synapses", action="store_true", help="skip the synapse point sets")
    p.add_argument("--force", action="store_true", help="rebuild even if the cache is valid")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    cfg = GraphConfig(
        labels=tuple(args.label) if args.label else GraphConfig.labels,
        min_class_count=args.min_class_count,
        split_seed=args.split_seed,
        synapses=not args.no_synapses,
    )
    data = build_cached(args.tables, args.out, cfg, progress=True, force=args.force)
    print(f"graph: {data.num_nodes:,} neurons, {data.edge_index.shape[1]:,} edges, "
          f"{data.x.shape[1]} node features -> {args.out}")
    return 0

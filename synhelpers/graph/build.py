"""Graph builder: connectome tables in, a ``torch_geometric.data.Data`` out.

Nodes are neurons; edges are directed pre -> post, one per neuron pair, sorted by
(pre, post). Synapse point sets are stored in CSR form, per edge and per neuron.

Attributes of the returned ``Data`` (N neurons, E edges, S synaptic pairs, M sites, R ROIs):

=================  ==========  =============================================================
name               shape       meaning
=================  ==========  =============================================================
``body_id``        (N,) int64  neuPrint bodyId of each node (never given to a model)
``connectome``     (N,) int64  index into ``connectome_names`` (one connectome: all 0)
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
``site_is_post``   (M,) bool   True for a postsynaptic site, False for a T-bar (from the
                               ``sites`` table when there is one, else from the synapses)
``gap_index``      (2, 2G) i64 electrical synapses, both directions (``gap_junctions`` table)
``gap_weight``     (2G,) f32   their weights
``roi_center``     (R, 3) f32  mean normalised T-bar position of each ROI (label-free)
``pos_center``     (3,) f32    voxels; ``pos_scale`` float, voxels; ``voxel_nm`` float
``pos_unit_um``    (C,) f32    micrometres per normalised unit, per connectome
``y_<label>``      (N,) i64    class id, -1 = masked (unlabelled, or class below min count)
``label_names``    dict        label column -> list of class names (index = class id)
``train_mask`` ... (N,) bool   the split (also saved as ``split.parquet`` beside the graph)
=================  ==========  =============================================================

Coordinate transform: ``normalised = (voxel - pos_center) / pos_scale``, with
``pos_center`` the centre of the bounding box of all synapse coordinates and
``pos_scale`` half of its largest side, so the whole volume lies in [-1, 1]. Multiply by
``pos_unit_um`` (``pos_scale * voxel_nm / 1000``) to get micrometres from the centre.

Everything is vectorised numpy/torch; there is no per-row or per-edge Python loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from ..errors import ConfigError, GraphError
from ..tables.contract import Connectome
from .config import GraphConfig
from .features import wiring_features
from .labels import codes_of, encode_labels
from .split import set_split, split_with_test
from .synapses import attach_frame, attach_sites, attach_synapses, coordinate_frame

__all__ = ["build_graph", "check_finite", "resolve_labels", "check_labels", "THIN_SITES"]

#: A sites table covering fewer than this fraction of the neurons is reported at build time.
THIN_SITES = 0.10


@dataclass
class _Timer:
    progress: bool
    t0: float = field(default_factory=time.perf_counter)

    def __call__(self, what: str) -> None:
        if self.progress:
            print(f"[build] {what} ({time.perf_counter() - self.t0:.1f}s)", flush=True)


class _NodeIndex:
    """bodyId -> node index lookups (all bodyIds are known: the tables were validated)."""

    def __init__(self, body: np.ndarray):
        self.order = np.argsort(body)
        self.body_sorted = body[self.order]

    def __call__(self, values) -> np.ndarray:
        return self.order[np.searchsorted(self.body_sorted, np.asarray(values, np.int64))]


def _edges(conns: pd.DataFrame, nodes: _NodeIndex, n: int):
    """One edge per (pre, post) pair with weights summed over ROI rows.

    Returns ``(edge_key (E,), edge_weight (E,), inv (rows,), w (rows,))``; ``edge_key = pre*N+post``.
    """
    pre = nodes(conns["bodyId_pre"].to_numpy(np.int64))
    post = nodes(conns["bodyId_post"].to_numpy(np.int64))
    w = conns["weight"].to_numpy(np.float64)
    edge_key, inv = np.unique(pre.astype(np.int64) * n + post, return_inverse=True)
    return edge_key, np.bincount(inv, weights=w, minlength=len(edge_key)), inv, w


def _connection_rois(conns: pd.DataFrame, inv, w, e: int):
    """ROI names and per-edge synapse counts per ROI from the connections' ``roi`` column."""
    roi_str = conns["roi"].astype("string")
    roi_names = sorted(str(r) for r in roi_str.dropna().unique())
    code = codes_of(roi_str, roi_names).astype(np.int64)
    ok = code >= 0
    edge_roi = np.zeros((e, len(roi_names)), np.float32)
    np.add.at(edge_roi, (inv[ok], code[ok]), w[ok].astype(np.float32))
    return roi_names, edge_roi


def _synapse_edge_rois(syn_roi, syn_ptr, e: int, r: int) -> np.ndarray:
    """Per-edge synapse counts per ROI from the synapses (when connections have no ``roi``)."""
    edge_roi = np.zeros((e, r), np.float32)
    ok = syn_roi >= 0
    np.add.at(edge_roi, (np.repeat(np.arange(e), np.diff(syn_ptr))[ok], syn_roi[ok]), 1.0)
    return edge_roi


def _neurons_file(con: Connectome) -> str:
    """The neurons table's file (or the dataset name for in-memory tables), for messages."""
    return str(con.path / "neurons.parquet") if getattr(con, "path", None) else con.name


def resolve_labels(con: Connectome, cfg: GraphConfig) -> tuple[str, ...]:
    """The label columns to encode: ``cfg.labels``, or (``None``) the well-known label columns
    the neurons table has (:func:`synhelpers.tables.labels.label_columns`).

    Raises:
        ConfigError: a named column is not in the neurons table (the message names the table
            and lists its columns).
    """
    from ..tables.labels import label_columns

    if cfg.labels is None:
        return tuple(label_columns(con.neurons))
    for col in cfg.labels:
        if col not in con.neurons.columns:
            where = _neurons_file(con)
            raise ConfigError(f"{where}: label column {col!r} not in the neurons table; "
                              f"columns are {list(con.neurons.columns)} (choose with --label)")
    return tuple(cfg.labels)


def check_labels(data: Data, columns, name: str) -> None:
    """Raise :class:`GraphError` for a label column with fewer than 2 classes after masking
    (all-null included): no classifier can be trained or scored on it."""
    for col in columns:
        names, info = data.label_names[col], getattr(data, "label_info", {}).get(col, {})
        if len(names) < 2:
            small = info.get("dropped_classes", {})
            n_lab = int((data[f"y_{col}"] >= 0).sum())
            raise GraphError(
                f"{name}, label column {col!r}: {len(names)} class(es) left after masking "
                f"({n_lab:,} neurons with a kept class; kept {names or 'none'}; masked below "
                f"the minimum count {small or 'none'}); a label needs at least 2 classes")


def attach_labels_and_split(data: Data, neurons: pd.DataFrame, labels, cfg: GraphConfig,
                            test: torch.Tensor | None = None, where: str = "<neurons frame>") -> None:
    """``y_<label>``, ``label_names``, ``label_info`` and the split masks, stratified on the
    first label. ``test`` (N,) bool: neurons forced into the test split (a held-out
    connectome); the others are split into train and validation only. ``where``: the neurons
    table's file, named in errors about label names."""
    data.label_columns = list(labels)
    data.label_names, data.label_info = {}, {}
    for col in labels:
        codes, names, info = encode_labels(neurons[col], cfg.min_class_count, column=col, file=where)
        data[f"y_{col}"] = torch.from_numpy(codes)
        data.label_names[col] = names
        data.label_info[col] = info
    strat_col = cfg.stratify_by or (labels[0] if labels else None)
    if strat_col is None:
        strata = np.zeros(data.num_nodes, np.int64)
    elif strat_col in labels:
        strata = data[f"y_{strat_col}"].numpy()
    else:
        strata = encode_labels(neurons[strat_col], cfg.min_class_count, column=strat_col,
                               file=where)[0]
    # what `train --splits K` needs to draw further splits the same way
    data.split_strata = torch.from_numpy(np.asarray(strata, np.int64))
    data.split_fractions, data.split_seed = list(cfg.split), int(cfg.split_seed)
    data.split_fixed_test = torch.from_numpy(np.asarray(test, bool)) if test is not None else None
    set_split(data, split_with_test(strata, cfg.split, cfg.split_seed, test))


def check_finite(data: Data, name: str) -> None:
    """Raise :class:`GraphError` if any floating tensor a model reads holds NaN or inf.

    Every float the model sees is checked once, here, at build time.
    """
    for key, value in data.items():
        if torch.is_tensor(value) and value.is_floating_point():
            # in blocks: torch.isfinite makes a full-size |x| copy and two masks (3 GB for a
            # FlyWire-size edge_roi); the full mask is made only to name the rows of an error
            if all(bool(torch.isfinite(part).all()) for part in value.reshape(-1).split(1 << 24)):
                continue
            bad = ~torch.isfinite(value)
            rows = torch.nonzero(bad.reshape(value.shape[0], -1).any(1)).flatten()[:5]
            raise GraphError(f"{name}: graph tensor '{key}' has {int(bad.sum()):,} non-finite "
                             f"values after normalisation (first rows {rows.tolist()})")


def _attach_points(data: Data, con: Connectome, cfg: GraphConfig, nodes, edge_key, roi_names):
    """Frame, synapse sets and per-neuron sites; returns ``(roi_names, syn_roi, syn_ptr)``."""
    syn = con.synapses if cfg.synapses else None
    sites = getattr(con, "sites", None) if cfg.synapses else None
    if syn is None and sites is None:
        return roi_names, None, None
    center, scale = coordinate_frame(syn, sites)
    attach_frame(data, center, scale, con.voxel_nm)
    syn_roi = syn_ptr = None
    if syn is not None:
        roi_names, syn_roi, syn_ptr = attach_synapses(
            data, syn, nodes(syn["bodyId_pre"].to_numpy(np.int64)),
            nodes(syn["bodyId_post"].to_numpy(np.int64)), edge_key, roi_names, center, scale,
            derive_sites=sites is None)
    if sites is not None:
        attach_sites(data, sites, nodes(sites["bodyId"].to_numpy(np.int64)), center, scale)
        _report_thin_sites(data, con)
    return roi_names, syn_roi, syn_ptr


def _report_thin_sites(data: Data, con: Connectome) -> None:
    """A :class:`TableNotice` when the sites table covers under :data:`THIN_SITES` of the
    neurons: the cloud models would then train on almost nothing."""
    from ..tables.normalise import notice

    covered, n = int((data.site_ptr.diff() > 0).sum()), int(data.num_nodes)
    if covered < THIN_SITES * n:
        where = str(con.path / "sites.parquet") if getattr(con, "path", None) else con.name
        notice(f"{where}: the sites table covers {covered:,} of {n:,} neurons "
               f"({100 * covered / max(n, 1):.1f} %, under {100 * THIN_SITES:.0f} %); models that "
               "read per-neuron sites (hybrid_cloud, cloud_only) see no site for the others")


def _attach_gap_junctions(data: Data, gaps: pd.DataFrame, nodes) -> None:
    """Undirected electrical synapses as ``gap_index`` (2, 2G), both directions, and weights."""
    a = nodes(gaps["bodyId_a"].to_numpy(np.int64))
    b = nodes(gaps["bodyId_b"].to_numpy(np.int64))
    w = gaps["weight"].to_numpy(np.float32)
    data.gap_index = torch.from_numpy(np.stack([np.r_[a, b], np.r_[b, a]]).astype(np.int64))
    data.gap_weight = torch.from_numpy(np.r_[w, w])


def _features(data: Data, edge_roi: np.ndarray) -> torch.Tensor:
    """Normalise ``edge_roi`` (E, R) in place to per-edge ROI fractions and return the node
    features ``x`` of :func:`~synhelpers.graph.features.wiring_features`."""
    edge_roi /= np.maximum(edge_roi.sum(1, keepdims=True), 1e-12)
    return wiring_features(data.edge_index, data.edge_weight, torch.from_numpy(edge_roi),
                           int(data.num_nodes), data.connectome)


def build_graph(con: Connectome, cfg: GraphConfig = GraphConfig(), *, progress: bool = False) -> Data:
    """Build the neuron graph of ``con`` (see the module docstring for the attributes).

    Args:
        con: validated tables (:func:`synhelpers.load_tables` or :func:`synhelpers.from_frames`).
        cfg: builder settings (``labels=None``: the well-known label columns the table has).
        progress: print stage timings.

    Raises:
        ConfigError: a label column is not in the neurons table.
        GraphError: a value the model would read is not finite.

    Example:
        >>> from synhelpers.tables.synthetic import generate, SyntheticConfig
        >>> g = build_graph(generate(SyntheticConfig(n_neurons=200)))
        >>> g.edge_index.shape[0], g.syn_pos.shape[1], int(g.syn_ptr[-1]) == g.syn_pos.shape[0]
        (2, 6, True)
    """
    tick = _Timer(progress)
    neurons, conns = con.neurons, con.connections
    labels = resolve_labels(con, cfg)
    body = neurons["bodyId"].to_numpy(np.int64, copy=True)
    n, nodes = len(body), _NodeIndex(body)
    edge_key, edge_weight, inv, w = _edges(conns, nodes, n)
    e = len(edge_key)
    roi_names, edge_roi = _connection_rois(conns, inv, w, e) if "roi" in conns.columns else ([], None)
    del inv, w
    tick(f"{e:,} edges from {len(conns):,} connection rows")
    data = Data(num_nodes=n, body_id=torch.from_numpy(body),
                connectome=torch.zeros(n, dtype=torch.long), connectome_names=[con.name],
                edge_index=torch.from_numpy(np.stack([edge_key // n, edge_key % n])),
                edge_weight=torch.from_numpy(edge_weight.astype(np.float32)))
    # with ROIs from the connections, the features come first: their (E, R) temporaries are
    # then never in memory together with the synapse tables (the values are the same)
    x = None if edge_roi is None else _features(data, edge_roi)
    roi_names, syn_roi, syn_ptr = _attach_points(data, con, cfg, nodes, edge_key, roi_names)
    if edge_roi is None:
        edge_roi = (_synapse_edge_rois(syn_roi, syn_ptr, e, len(roi_names)) if syn_roi is not None
                    else np.zeros((e, 0), np.float32))
        x = _features(data, edge_roi)
    if getattr(con, "gap_junctions", None) is not None:
        _attach_gap_junctions(data, con.gap_junctions, nodes)
    tick("synapse sets, sites and gap junctions")
    data.edge_roi = torch.from_numpy(edge_roi)
    data.roi_names = list(roi_names)
    data.x = x
    attach_labels_and_split(data, neurons, labels, cfg, where=_neurons_file(con))
    data.dataset_name = con.name
    check_finite(data, con.name)
    tick("features, labels and split")
    return data

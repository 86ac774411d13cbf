"""Synapse point sets of the graph: CSR per edge (synaptic pairs) and per neuron (sites).

Coordinate frame: ``normalised = (voxel - pos_center) / pos_scale`` with ``pos_center`` the
centre of the bounding box of all synapse coordinates and ``pos_scale`` half its largest side
(voxels), so the volume lies in [-1, 1]. ``pos_unit_um`` (micrometres per normalised unit,
``pos_scale * voxel_nm / 1000``) lets models work in physical units.

Memory: at FlyWire scale (~54M synaptic pairs) a float64 copy of all six coordinate columns
is 2.6 GB, so coordinates are read column by column and gathered and normalised in blocks of
:data:`BLOCK_ROWS` rows, straight into the float32 tables (the same arithmetic as one
whole-table expression, so the values are bit for bit the same).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from .labels import codes_of

__all__ = ["csr_order", "coordinate_frame", "attach_frame", "attach_synapses", "attach_sites",
           "roi_centers", "normalised_columns", "numeric_column"]

XYZ = ["x_pre", "y_pre", "z_pre", "x_post", "y_post", "z_post"]
#: Rows per block of the blockwise gathers (8M rows: 64 MB of float64 per column).
BLOCK_ROWS = 1 << 23


def _blocks(n: int):
    """Consecutive ``slice`` objects covering ``range(n)``, :data:`BLOCK_ROWS` rows each."""
    size = BLOCK_ROWS
    return (slice(start, min(start + size, n)) for start in range(0, n, size))


def numeric_column(df: pd.DataFrame, col: str) -> np.ndarray:
    """``df[col]`` as a numpy array of its own numeric dtype (no copy for a numpy-backed integer
    or float column); other columns (nullable, Arrow-backed) as float64 (NaN for missing)."""
    values = df[col].to_numpy()
    if values.dtype.kind in "iuf":
        return values
    return df[col].to_numpy(np.float64, na_value=np.nan)


def csr_order(owner: np.ndarray, n_owners: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable order that groups rows by ``owner``, and the CSR pointer ``(n_owners + 1,)``.

    Example:
        >>> order, ptr = csr_order(np.array([1, 0, 1]), 3)
        >>> order.tolist(), ptr.tolist()
        ([1, 0, 2], [0, 1, 3, 3])
    """
    order = np.argsort(owner, kind="stable")
    ptr = np.zeros(n_owners + 1, np.int64)
    np.cumsum(np.bincount(owner, minlength=n_owners), out=ptr[1:])
    return order, ptr


def _edge_of_synapses(s_pre, s_post, edge_key, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Edge of each kept synapse row, and the rows kept (pairs absent from connections are
    dropped), or ``None`` when every row is kept."""
    e = len(edge_key)
    s_key = s_pre.astype(np.int64) * n + s_post
    s_edge = np.searchsorted(edge_key, s_key)
    np.clip(s_edge, 0, e - 1, out=s_edge)
    known = edge_key[s_edge] == s_key
    del s_key
    if known.all():
        return s_edge, None
    warnings.warn(f"{(~known).sum():,} synapse rows belong to pairs absent from the "
                  "connections table and were dropped", stacklevel=3)
    idx = np.flatnonzero(known)
    return s_edge[idx], idx


def coordinate_frame(synapses: pd.DataFrame | None, sites: pd.DataFrame | None):
    """``(center (3,), scale)`` in the connectome's units: the bounding box of every synapse
    and site coordinate; ``scale`` is half its largest side (at least 1)."""
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    columns = []
    if synapses is not None:
        columns += [(synapses, XYZ[:3]), (synapses, XYZ[3:])]
    if sites is not None:
        columns.append((sites, ["x", "y", "z"]))
    for df, cols in columns:  # column by column: no float64 copy of the table
        if len(df):
            for axis, col in enumerate(cols):
                values = numeric_column(df, col)
                lo[axis] = min(lo[axis], float(values.min()))
                hi[axis] = max(hi[axis], float(values.max()))
    return (lo + hi) / 2, float(max((hi - lo).max() / 2, 1.0))


def attach_frame(data: Data, center, scale: float, voxel_nm: float) -> None:
    """``pos_center``, ``pos_scale``, ``voxel_nm`` and ``pos_unit_um`` (one connectome)."""
    data.pos_center = torch.as_tensor(np.asarray(center), dtype=torch.float32)
    data.pos_scale = float(scale)
    data.voxel_nm = float(voxel_nm)
    data.pos_unit_um = torch.tensor([float(scale) * float(voxel_nm) / 1000.0])


def normalised_columns(df: pd.DataFrame, cols, rows: np.ndarray | None, center,
                       scale: float) -> np.ndarray:
    """(len(rows), len(cols)) float32 ``(df[cols][rows] - center) / scale``, computed in
    float64 column by column and block by block (``rows=None``: every row, in order).

    ``center`` holds one value per axis; ``cols`` are xyz triples.
    """
    n = len(df) if rows is None else len(rows)
    out = np.empty((n, len(cols)), np.float32)
    shift = np.tile(np.asarray(center, np.float64), len(cols) // 3)
    for j, col in enumerate(cols):
        values = numeric_column(df, col)
        for b in _blocks(n):
            part = values[b] if rows is None else values[rows[b]]
            out[b, j] = (part.astype(np.float64) - shift[j]) / scale
    return out


def _synapse_rois(syn: pd.DataFrame, rows: np.ndarray, roi_names: list[str]):
    """ROI index of each kept synapse (postsynaptic ROI; -1 unknown) and the ROI names."""
    if "roi_post" not in syn.columns:
        return np.full(len(rows), -1, np.int64), roi_names
    # via the categorical codes: one small lookup instead of millions of string compares
    cat = syn["roi_post"].astype("category").cat
    if not roi_names:
        roi_names = sorted(str(r) for r in cat.categories)
    lookup = np.r_[codes_of(cat.categories, roi_names), -1]  # code -1 (missing) -> -1
    return lookup[cat.codes.to_numpy()[rows]], roi_names


def _confidences(syn: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """(S, 2) pre and post detection confidences, 1.0 where the table has none."""
    conf = np.ones((len(rows), 2), np.float32)
    for j, c in enumerate(("confidence_pre", "confidence_post")):
        if c in syn.columns:
            values = syn[c].to_numpy()  # float32 (the usual dtype): no copy
            if values.dtype != np.float32:
                values = syn[c].to_numpy(np.float32, na_value=1.0)
            for b in _blocks(len(rows)):
                conf[b, j] = values[rows[b]]
            np.copyto(conf[:, j], np.float32(1.0), where=np.isnan(conf[:, j]))  # NaN: unknown
    return conf


def attach_sites(data: Data, sites: pd.DataFrame, site_node: np.ndarray, center, scale: float) -> None:
    """Per-neuron sites from a ``sites`` table (bodyId, kind pre/post, x, y, z) in CSR."""
    perm, site_ptr = csr_order(site_node, int(data.num_nodes))
    data.site_ptr = torch.from_numpy(site_ptr)
    data.site_pos = torch.from_numpy(normalised_columns(sites, ["x", "y", "z"], perm, center, scale))
    data.site_is_post = torch.from_numpy((sites["kind"].astype(str).to_numpy() == "post")[perm])


def _first_tbars(syn: pd.DataFrame, rows: np.ndarray, node_pre: np.ndarray) -> np.ndarray:
    """(S,) bool: the first row of each distinct (presynaptic node, T-bar voxel), rows in order.

    ``node_pre`` (S,) is the presynaptic node of each row of ``rows``. Rows come grouped by
    edge and edges sorted by (pre, post), so ``node_pre`` is non-decreasing and a T-bar's
    repeats share a node: blocks cut between nodes are de-duplicated one at a time (pandas'
    hash-based ``duplicated`` over four columns of every row would need several GB at FlyWire
    scale).
    """
    s = len(rows)
    if s > BLOCK_ROWS and bool((np.diff(node_pre) >= 0).all()):
        cuts = np.unique(np.searchsorted(node_pre, node_pre[::BLOCK_ROWS], side="left"))
        bounds = [*cuts.tolist(), s]
    else:
        bounds = [0, s]
    first = np.empty(s, bool)
    coords = [numeric_column(syn, f"{a}_pre") for a in "xyz"]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        tbar = pd.DataFrame({"node": node_pre[lo:hi].astype(np.int32)})
        for a, values in zip("xyz", coords):
            tbar[a] = values[rows[lo:hi]]
        first[lo:hi] = ~tbar.duplicated().to_numpy()
    return first


def _site_order(syn: pd.DataFrame, rows: np.ndarray, s_pre, s_post, n: int):
    """Order of the per-neuron sites: ``(tbar_rows (T,), site_perm (T+S,), site_ptr (N+1,))``.

    Sites are the neuron's T-bars (one T-bar serves several partners, so they are de-duplicated
    on exact voxel coordinates; ``tbar_rows`` are their positions in ``rows``) and its
    postsynaptic densities (one per row). Site ``i`` of the CSR table is T-bar
    ``tbar_rows[site_perm[i]]`` if ``site_perm[i] < T``, else the PSD of row ``site_perm[i] - T``.
    """
    node_pre = s_pre[rows]
    tbar_rows = np.flatnonzero(_first_tbars(syn, rows, node_pre))
    site_perm, site_ptr = csr_order(np.concatenate([node_pre[tbar_rows], s_post[rows]]), n)
    return tbar_rows, site_perm, site_ptr


def _site_positions(syn_pos: np.ndarray, tbar_rows: np.ndarray, site_perm: np.ndarray) -> np.ndarray:
    """(T+S, 3) float32 site positions in CSR order, gathered block by block (no concatenated
    copy of all T-bars and PSDs)."""
    n_tbar = len(tbar_rows)
    site_pos = np.empty((len(site_perm), 3), np.float32)
    for b in _blocks(len(site_perm)):
        src = site_perm[b]
        is_post = src >= n_tbar
        part = np.empty((len(src), 3), np.float32)
        part[~is_post] = syn_pos[tbar_rows[src[~is_post]], :3]
        part[is_post] = syn_pos[src[is_post] - n_tbar, 3:]
        site_pos[b] = part
    return site_pos


def roi_centers(syn_pos: torch.Tensor, syn_roi: torch.Tensor, num_rois: int) -> torch.Tensor:
    """(R, 3) mean normalised T-bar position of each ROI's synapses (zeros for an empty ROI).

    Label-free; models locate a synapse relative to its ROI's centre.
    """
    sums = torch.zeros(num_rois, 3, dtype=torch.float64)
    counts = torch.zeros(num_rois, dtype=torch.long)
    for b in _blocks(int(syn_roi.shape[0])):  # blocks: no float64 copy of every position
        roi = syn_roi[b]
        ok = roi >= 0
        sums.index_add_(0, roi[ok], syn_pos[b][ok, :3].double())
        counts += torch.bincount(roi[ok], minlength=num_rois)
    return (sums / counts.clamp(min=1).double()[:, None]).float()


def attach_synapses(data: Data, syn: pd.DataFrame, s_pre, s_post, edge_key, roi_names: list[str],
                    center, scale: float, *, derive_sites: bool = True):
    """Add the synapse CSR tables (and, with ``derive_sites``, the per-neuron sites made from
    the synapses' T-bars and PSDs) to ``data`` (see the graph docstring).

    ``s_pre``/``s_post`` are the node indices of each synapse row. Returns ``(roi_names,
    syn_roi, syn_ptr)`` for the edge ROI fractions when connections have no ``roi`` column.
    """
    n, e = int(data.num_nodes), len(edge_key)
    s_edge, idx = _edge_of_synapses(s_pre, s_post, edge_key, n)
    rows, syn_ptr = csr_order(s_edge, e)
    del s_edge
    if idx is not None:
        rows = idx[rows]
        del idx
    if derive_sites:  # the site order needs only node ids: found before the float tables exist
        tbar_rows, site_perm, site_ptr = _site_order(syn, rows, s_pre, s_post, n)
    del s_pre, s_post  # callers pass temporaries: their memory is released here
    syn_pos = normalised_columns(syn, XYZ, rows, center, scale)
    if derive_sites:  # gathered now, so the site order is freed before the other tables exist
        site_pos = _site_positions(syn_pos, tbar_rows, site_perm)
        site_is_post = site_perm >= len(tbar_rows)
        del tbar_rows, site_perm
    syn_roi, roi_names = _synapse_rois(syn, rows, roi_names)
    syn_conf = _confidences(syn, rows)
    del rows
    data.syn_ptr = torch.from_numpy(syn_ptr)
    data.syn_pos = torch.from_numpy(syn_pos)
    data.syn_roi = torch.from_numpy(syn_roi)
    data.syn_conf = torch.from_numpy(syn_conf)
    if derive_sites:
        data.site_ptr = torch.from_numpy(site_ptr)
        data.site_pos = torch.from_numpy(site_pos)
        data.site_is_post = torch.from_numpy(site_is_post)
    data.roi_center = roi_centers(data.syn_pos, data.syn_roi, len(roi_names))
    return roi_names, syn_roi, syn_ptr

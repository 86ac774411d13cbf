"""Synapse point sets of the graph: CSR per edge (synaptic pairs) and per neuron (sites).

Coordinate frame: ``normalised = (voxel - pos_center) / pos_scale`` with ``pos_center`` the
centre of the bounding box of all synapse coordinates and ``pos_scale`` half its largest side
(voxels), so the volume lies in [-1, 1]. ``pos_unit_um`` (micrometres per normalised unit,
``pos_scale * voxel_nm / 1000``) lets models work in physical units.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from .labels import codes_of

__all__ = ["csr_order", "coordinate_frame", "attach_frame", "attach_synapses", "attach_sites",
           "roi_centers"]

XYZ = ["x_pre", "y_pre", "z_pre", "x_post", "y_post", "z_post"]


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


def _edge_of_synapses(s_pre, s_post, edge_key, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Edge of each synapse row, and the rows kept (pairs absent from connections dropped)."""
    e = len(edge_key)
    s_key = s_pre.astype(np.int64) * n + s_post
    s_edge = np.searchsorted(edge_key, s_key).clip(0, e - 1)
    known = edge_key[s_edge] == s_key
    if not known.all():
        warnings.warn(f"{(~known).sum():,} synapse rows belong to pairs absent from the "
                      "connections table and were dropped", stacklevel=3)
    idx = np.flatnonzero(known)
    return s_edge[idx], idx


def coordinate_frame(synapses: pd.DataFrame | None, sites: pd.DataFrame | None):
    """``(center (3,), scale)`` in the connectome's units: the bounding box of every synapse
    and site coordinate; ``scale`` is half its largest side (at least 1)."""
    parts = []
    if synapses is not None:
        parts += [synapses[XYZ[:3]].to_numpy(np.float64), synapses[XYZ[3:]].to_numpy(np.float64)]
    if sites is not None:
        parts.append(sites[["x", "y", "z"]].to_numpy(np.float64))
    lo = np.min([p.min(0) for p in parts if len(p)], axis=0)
    hi = np.max([p.max(0) for p in parts if len(p)], axis=0)
    return (lo + hi) / 2, float(max((hi - lo).max() / 2, 1.0))


def attach_frame(data: Data, center, scale: float, voxel_nm: float) -> None:
    """``pos_center``, ``pos_scale``, ``voxel_nm`` and ``pos_unit_um`` (one connectome)."""
    data.pos_center = torch.as_tensor(np.asarray(center), dtype=torch.float32)
    data.pos_scale = float(scale)
    data.voxel_nm = float(voxel_nm)
    data.pos_unit_um = torch.tensor([float(scale) * float(voxel_nm) / 1000.0])


def _normalise(xyz: np.ndarray, center, scale: float) -> np.ndarray:
    reps = xyz.shape[1] // 3
    return ((xyz - np.tile(center, reps)) / scale).astype(np.float32)


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
            conf[:, j] = syn[c].to_numpy(np.float32, na_value=1.0)[rows]
    return conf


def attach_sites(data: Data, sites: pd.DataFrame, site_node: np.ndarray, center, scale: float) -> None:
    """Per-neuron sites from a ``sites`` table (bodyId, kind pre/post, x, y, z) in CSR."""
    perm, site_ptr = csr_order(site_node, int(data.num_nodes))
    pos = _normalise(sites[["x", "y", "z"]].to_numpy(np.float64), center, scale)
    data.site_ptr = torch.from_numpy(site_ptr)
    data.site_pos = torch.from_numpy(pos[perm])
    data.site_is_post = torch.from_numpy((sites["kind"].astype(str).to_numpy() == "post")[perm])


def _sites(syn: pd.DataFrame, rows, s_pre, s_post, syn_pos, n: int):
    """Per-neuron sites in CSR: the neuron's T-bars (one T-bar serves several partners, so they
    are de-duplicated on exact voxel coordinates) and its postsynaptic densities (one per row)."""
    tbar = pd.DataFrame({"node": s_pre[rows].astype(np.int32)})
    for a in "xyz":
        tbar[a] = syn[f"{a}_pre"].to_numpy()[rows]
    first = ~tbar.duplicated().to_numpy()
    del tbar
    site_node = np.r_[s_pre[rows][first], s_post[rows]]
    site_perm, site_ptr = csr_order(site_node, n)
    site_pos = np.concatenate([syn_pos[first, :3], syn_pos[:, 3:]])[site_perm]
    site_is_post = np.r_[np.zeros(int(first.sum()), bool), np.ones(len(rows), bool)][site_perm]
    return site_ptr, site_pos, site_is_post


def roi_centers(syn_pos: torch.Tensor, syn_roi: torch.Tensor, num_rois: int) -> torch.Tensor:
    """(R, 3) mean normalised T-bar position of each ROI's synapses (zeros for an empty ROI).

    Label-free; models locate a synapse relative to its ROI's centre.
    """
    ok = syn_roi >= 0
    sums = torch.zeros(num_rois, 3, dtype=torch.float64).index_add_(
        0, syn_roi[ok], syn_pos[ok, :3].double())
    counts = torch.bincount(syn_roi[ok], minlength=num_rois).clamp(min=1).double()
    return (sums / counts[:, None]).float()


def attach_synapses(data: Data, syn: pd.DataFrame, s_pre, s_post, edge_key, roi_names: list[str],
                    center, scale: float, *, derive_sites: bool = True):
    """Add the synapse CSR tables (and, with ``derive_sites``, the per-neuron sites made from
    the synapses' T-bars and PSDs) to ``data`` (see the graph docstring).

    ``s_pre``/``s_post`` are the node indices of each synapse row. Returns ``(roi_names,
    syn_roi, syn_ptr)`` for the edge ROI fractions when connections have no ``roi`` column.
    """
    n, e = int(data.num_nodes), len(edge_key)
    s_edge, idx = _edge_of_synapses(s_pre, s_post, edge_key, n)
    perm, syn_ptr = csr_order(s_edge, e)
    rows = idx[perm]
    syn_pos = _normalise(syn[XYZ].to_numpy(np.float64)[rows], center, scale)
    syn_roi, roi_names = _synapse_rois(syn, rows, roi_names)
    data.syn_ptr = torch.from_numpy(syn_ptr)
    data.syn_pos = torch.from_numpy(syn_pos)
    data.syn_roi = torch.from_numpy(syn_roi)
    data.syn_conf = torch.from_numpy(_confidences(syn, rows))
    if derive_sites:
        site_ptr, site_pos, site_is_post = _sites(syn, rows, s_pre, s_post, syn_pos, n)
        data.site_ptr = torch.from_numpy(site_ptr)
        data.site_pos = torch.from_numpy(site_pos)
        data.site_is_post = torch.from_numpy(site_is_post)
    data.roi_center = roi_centers(data.syn_pos, data.syn_roi, len(roi_names))
    return roi_names, syn_roi, syn_ptr

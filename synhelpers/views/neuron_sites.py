"""Where neurons and their synapses are, for viewers: one point per neuron, synapse sites per
chosen neuron (colours: :mod:`synhelpers.figures.colors`).

- :func:`neuron_points`: the soma where known, else the centroid of the neuron's synapse sites.
- :func:`synapse_sites`: every synapse of chosen neurons, seen from that neuron (its T-bars
  and its postsynaptic densities), with the partner's bodyId.

All coordinates are in the dataset's voxels (``Connectome.meta["voxel_nm"]``, 8 nm for the
hemibrain, MANC and the synthetic connectome).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..figures.colors import UNKNOWN_COLOR, class_colors, hex_to_rgb
from ..tables.contract import Connectome

__all__ = ["neuron_points", "synapse_sites", "class_colors", "hex_to_rgb", "UNKNOWN_COLOR", "voxel_nm"]

XYZ = ("x", "y", "z")


def voxel_nm(connectome: Connectome) -> float:
    """Voxel size of ``connectome`` in nm (``meta["voxel_nm"]``, default 8)."""
    return float(connectome.meta.get("voxel_nm", 8.0))


def neuron_points(connectome: Connectome) -> pd.DataFrame:
    """One point per neuron: its soma if known, else the centroid of its synapse sites.

    The synapse sites of a neuron are its T-bars (``x_pre..z_pre`` where it is
    ``bodyId_pre``) and its postsynaptic densities (``x_post..z_post`` where it is
    ``bodyId_post``). Neurons with neither a soma nor a synapse are dropped; their count
    is in ``result.attrs["n_dropped"]`` and their ids in ``result.attrs["dropped_bodyIds"]``.

    Returns:
        DataFrame with ``bodyId`` (int64), ``x``, ``y``, ``z`` (float64, voxels) and ``source``
        (``"soma"`` or ``"synapse_centroid"``), in the order of ``connectome.neurons``.

    Example:
        >>> from synhelpers.tables import from_frames
        >>> n = pd.DataFrame({"bodyId": [1, 2, 3], "somaLocation": [[0, 0, 8], None, None]})
        >>> c = pd.DataFrame({"bodyId_pre": [2], "bodyId_post": [1], "weight": [1]})
        >>> s = pd.DataFrame({"bodyId_pre": [2], "bodyId_post": [1], "x_pre": [10], "y_pre": [0],
        ...                   "z_pre": [0], "x_post": [12], "y_post": [2], "z_post": [0]})
        >>> p = neuron_points(from_frames(n, c, s))
        >>> p.to_dict("list"), p.attrs["n_dropped"]
        ({'bodyId': [1, 2], 'x': [0.0, 10.0], 'y': [0.0, 0.0], 'z': [8.0, 0.0], 'source': ['soma', 'synapse_centroid']}, 1)
    """
    body = connectome.neurons["bodyId"].to_numpy(np.int64)
    xyz = np.full((len(body), 3), np.nan)
    source = np.full(len(body), None, dtype=object)
    if "somaLocation" in connectome.neurons.columns:
        soma = connectome.neurons["somaLocation"]
        known = soma.notna().to_numpy()
        if known.any():
            xyz[known] = _stack_xyz(soma[known], "neurons.somaLocation")
            source[known] = "soma"
    missing = np.flatnonzero(source == None)  # noqa: E711 - elementwise on an object array
    if len(missing) and connectome.synapses is not None:
        ids, centroid = _synapse_centroids(connectome.synapses)
        pos = np.searchsorted(ids, body[missing]).clip(0, max(len(ids) - 1, 0))
        found = (ids[pos] == body[missing]) if len(ids) else np.zeros(len(missing), bool)
        xyz[missing[found]] = centroid[pos[found]]
        source[missing[found]] = "synapse_centroid"
    keep = source != None  # noqa: E711
    out = pd.DataFrame({"bodyId": body[keep], "x": xyz[keep, 0], "y": xyz[keep, 1],
                        "z": xyz[keep, 2], "source": source[keep]})
    out.attrs["n_dropped"] = int((~keep).sum())
    out.attrs["dropped_bodyIds"] = body[~keep].tolist()
    return out


def _stack_xyz(values: pd.Series, where: str) -> np.ndarray:
    """``[x, y, z]`` list cells -> ``(n, 3)`` float array; clear error on a malformed cell."""
    lengths = values.map(len).to_numpy()
    if (lengths != 3).any():
        row = int(np.flatnonzero(lengths != 3)[0])
        raise ValueError(f"{where}: expected [x, y, z] per row, row {values.index[row]} has "
                         f"{values.iloc[row]!r}")
    return np.asarray(np.concatenate(values.to_numpy()), dtype=np.float64).reshape(-1, 3)


def _synapse_centroids(synapses: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique bodyIds with a synapse site and the mean of their sites, ``(m, 3)``."""
    bodies = np.concatenate([synapses["bodyId_pre"].to_numpy(np.int64),
                             synapses["bodyId_post"].to_numpy(np.int64)])
    pre = synapses[[f"{a}_pre" for a in XYZ]].to_numpy(np.float64)
    post = synapses[[f"{a}_post" for a in XYZ]].to_numpy(np.float64)
    sites = np.concatenate([pre, post])
    ids, inv, counts = np.unique(bodies, return_inverse=True, return_counts=True)
    sums = np.stack([np.bincount(inv, weights=sites[:, d], minlength=len(ids)) for d in range(3)], 1)
    return ids, sums / counts[:, None]


def synapse_sites(connectome: Connectome, bodies: Iterable[int]) -> pd.DataFrame:
    """Every synapse of ``bodies``, seen from the chosen neuron.

    A synapse where the chosen neuron is presynaptic gives a ``"pre"`` row at the T-bar
    (``x_pre..z_pre``) with the postsynaptic body as partner; one where it is postsynaptic
    gives a ``"post"`` row at the postsynaptic density. A synapse between two chosen neurons
    appears once from each side.

    Returns:
        DataFrame with ``bodyId``, ``partner_id`` (int64), ``type`` (``"pre"``/``"post"``),
        ``x``, ``y``, ``z`` (voxels), ``synapse_row`` (row of ``connectome.synapses``), and
        ``roi``/``confidence`` where the synapse table has ``roi_pre``/``confidence_pre`` etc.

    Raises:
        ValueError: the connectome has no synapse table.
    """
    if connectome.synapses is None:
        raise ValueError(f"{connectome.name}: no synapse table, so no synapse sites; "
                         "load the tables with synapses=True")
    syn = connectome.synapses
    chosen = np.unique(np.asarray(list(bodies), dtype=np.int64))
    parts = []
    for side, other in (("pre", "post"), ("post", "pre")):
        rows = np.flatnonzero(np.isin(syn[f"bodyId_{side}"].to_numpy(np.int64), chosen))
        part = {
            "bodyId": syn[f"bodyId_{side}"].to_numpy(np.int64)[rows],
            "partner_id": syn[f"bodyId_{other}"].to_numpy(np.int64)[rows],
            "type": side,
            **{a: syn[f"{a}_{side}"].to_numpy(np.float64)[rows] for a in XYZ},
            "synapse_row": rows.astype(np.int64),
        }
        for extra in ("roi", "confidence"):
            if f"{extra}_{side}" in syn.columns:
                part[extra] = syn[f"{extra}_{side}"].to_numpy()[rows]
        parts.append(pd.DataFrame(part))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["bodyId", "type", "synapse_row"], kind="stable", ignore_index=True)

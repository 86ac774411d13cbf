"""Several connectomes in one graph: a disjoint union, each connectome in its own frame.

Every node carries a ``connectome`` index (into ``connectome_names``). Coordinates are
normalised per connectome (its own bounding box, ``pos_unit_um[c]`` micrometres per unit) and
wiring features are standardised per connectome, because frames and sizes differ (8 nm voxels,
nm, um; a fragment or a whole brain). Nothing identifies a neuron across connectomes: models
never read ``body_id`` or a name. Only the views every connectome has are kept (a connectome
without synapses drops the synapse views of the union). Labels can be harmonised with a label
map, and one connectome can be held out as the whole test split.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from ..errors import ConfigError
from ..tables.contract import Connectome
from .build import attach_labels_and_split, build_graph, check_finite, resolve_labels
from .config import GraphConfig
from .features import wiring_features
from .labels import codes_of
from .synapses import roi_centers

__all__ = ["build_union", "concat_graphs", "read_label_map", "apply_label_map", "connectome_index"]

_SYN = ("syn_pos", "syn_roi", "syn_conf")
_SITES = ("site_pos", "site_is_post")


def read_label_map(path) -> dict[tuple[str, str], str]:
    """A two-column CSV (``connectome:label``, shared label) -> ``{(connectome, label): shared}``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "map.csv"
        >>> _ = p.write_text("source,shared\\nhemibrain:KC,Kenyon cell\\nflywire:Kenyon_Cell,Kenyon cell\\n")
        >>> read_label_map(p)[("flywire", "Kenyon_Cell")]
        'Kenyon cell'
    """
    df = pd.read_csv(path, dtype=str)
    if df.shape[1] != 2:
        raise ConfigError(f"{path}: a label map has two columns (connectome:label, shared label), "
                          f"found {df.shape[1]}")
    src = df.iloc[:, 0].str.partition(":")
    bad = np.flatnonzero((src[1] != ":").to_numpy() | df.iloc[:, 1].isna().to_numpy())
    if len(bad):
        raise ConfigError(f"{path}: rows {bad[:5].tolist()} are not 'connectome:label,shared label'")
    return dict(zip(zip(src[0].str.strip(), src[2].str.strip()), df.iloc[:, 1].str.strip()))


def apply_label_map(values: pd.Series, keys: tuple[str, ...], mapping: dict) -> pd.Series:
    """Replace each label by its shared name where ``(key, label)`` is mapped for any ``key`` of
    the connectome (its name, folder name or index)."""
    out = values.astype("string")
    for key in keys:
        sub = {lab: shared for (c, lab), shared in mapping.items() if c == key}
        if sub:
            out = out.map(lambda v, sub=sub: sub.get(v, v) if isinstance(v, str) else v).astype("string")
    return out


def connectome_index(names: list[tuple[str, ...]], wanted: str) -> int:
    """Index of the connectome called ``wanted`` (its name, folder name or index)."""
    for i, keys in enumerate(names):
        if wanted in keys or wanted == str(i):
            return i
    raise ConfigError(f"test connectome {wanted!r} is not one of "
                      f"{', '.join(repr(k[0]) for k in names)} (names, folder names or indices)")


def _offsets(sizes) -> list[int]:
    return np.r_[0, np.cumsum(sizes)[:-1]].astype(int).tolist()


def _cat_csr(data: Data, parts, ptr_key: str, row_keys) -> None:
    """Concatenate CSR pointers (shifted by each part's rows) and their row tensors."""
    total = _offsets([int(p[ptr_key][-1]) for p in parts])
    data[ptr_key] = torch.cat([parts[0][ptr_key][:1]] + [p[ptr_key][1:] + o for p, o in zip(parts, total)])
    for k in row_keys:
        data[k] = torch.cat([p[k] for p in parts])


def _remap_rois(parts, roi_names: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Edge ROI fractions and synapse ROI codes in the union's ROI vocabulary."""
    edge_roi, syn_roi = [], []
    for p in parts:
        cols = torch.from_numpy(codes_of(p.roi_names, roi_names))
        er = torch.zeros(p.edge_roi.shape[0], len(roi_names))
        er[:, cols] = p.edge_roi
        edge_roi.append(er)
        if "syn_roi" in p:
            lut = torch.cat([cols, torch.tensor([-1])])
            syn_roi.append(lut[p.syn_roi])
    return torch.cat(edge_roi), (torch.cat(syn_roi) if len(syn_roi) == len(parts) else None)


def concat_graphs(parts: list[Data], names: list[str]) -> Data:
    """Disjoint union of label-free graphs from :func:`build_graph` (one per connectome)."""
    n_off = _offsets([p.num_nodes for p in parts])
    roi_names = sorted(set().union(*(p.roi_names for p in parts)))
    edge_roi, syn_roi = _remap_rois(parts, roi_names)
    data = Data(num_nodes=sum(p.num_nodes for p in parts), connectome_names=list(names),
                body_id=torch.cat([p.body_id for p in parts]),
                connectome=torch.cat([torch.full((p.num_nodes,), i) for i, p in enumerate(parts)]),
                edge_index=torch.cat([p.edge_index + o for p, o in zip(parts, n_off)], dim=1),
                edge_weight=torch.cat([p.edge_weight for p in parts]), edge_roi=edge_roi,
                roi_names=roi_names)
    if all("syn_ptr" in p for p in parts):
        _cat_csr(data, parts, "syn_ptr", _SYN)
        data.syn_roi = syn_roi
        data.roi_center = roi_centers(data.syn_pos, data.syn_roi, len(roi_names))
    if all("site_ptr" in p for p in parts):
        _cat_csr(data, parts, "site_ptr", _SITES)
    if all("pos_unit_um" in p for p in parts):
        data.pos_unit_um = torch.cat([p.pos_unit_um for p in parts])
        data.pos_center = torch.stack([p.pos_center for p in parts])
        data.voxel_nm = [float(p.voxel_nm) for p in parts]
    if any("gap_index" in p for p in parts):
        data.gap_index = torch.cat([p.gap_index + o for p, o in zip(parts, n_off) if "gap_index" in p], 1)
        data.gap_weight = torch.cat([p.gap_weight for p in parts if "gap_index" in p])
    data.x = wiring_features(data.edge_index, data.edge_weight, data.edge_roi, data.num_nodes,
                             data.connectome)
    return data


def build_union(cons: list[Connectome], cfg: GraphConfig = GraphConfig(), *,
                label_map: dict | None = None, progress: bool = False) -> Data:
    """One graph of several connectomes (see the module docstring).

    Args:
        cons: the connectomes, each validated. cfg: builder settings; ``cfg.test_connectome``
            holds out one connectome as the test split. label_map: from :func:`read_label_map`.

    Raises:
        ConfigError: a named label column is missing from one of the connectomes, or an
            unknown test connectome.
    """
    labels = resolve_labels(cons[0], cfg)
    if cfg.labels is None:  # auto: the label columns every connectome has
        labels = tuple(c for c in labels if all(c in k.neurons.columns for k in cons[1:]))
    for con in cons[1:]:
        resolve_labels(con, replace(cfg, labels=labels))
    keys = [(c.name, c.path.name if c.path else c.name, str(i)) for i, c in enumerate(cons)]
    parts = [build_graph(c, replace(cfg, labels=()), progress=progress) for c in cons]
    data = concat_graphs(parts, [c.name for c in cons])
    neurons = pd.concat([pd.DataFrame({col: apply_label_map(c.neurons[col], k, label_map or {})
                                       for col in labels}) for c, k in zip(cons, keys)],
                        ignore_index=True)
    test = None
    if cfg.test_connectome is not None:
        test = (data.connectome == connectome_index(keys, cfg.test_connectome)).numpy()
    data.dataset_name = " + ".join(c.name for c in cons)
    attach_labels_and_split(data, neurons, labels, cfg, test,
                            where=f"the neurons tables of {data.dataset_name}")
    check_finite(data, data.dataset_name)
    return data

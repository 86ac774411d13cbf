"""Views of a graph: the subgraph induced by a set of neurons, and the inductive training view."""

from __future__ import annotations

import torch
from torch_geometric.data import Data

from .features import wiring_features

__all__ = ["subgraph", "inductive_train_graph"]


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
    out.x = wiring_features(out.edge_index, out.edge_weight, out.edge_roi, out.num_nodes,
                            out.connectome if "connectome" in out else None)
    return out


def inductive_train_graph(data: Data) -> Data:
    """The training view of the inductive mode: test neurons and all their connections removed.

    Train and validation neurons stay (validation labels are used for model selection only).
    At inference the full ``data`` is used. ``node_map`` maps back to ``data``'s nodes.
    """
    return subgraph(data, ~data.test_mask)

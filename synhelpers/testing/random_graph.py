"""A small random graph with exactly the attributes of ``synhelpers.graph`` (for tests and benchmarks).

Node features come from ``synhelpers.graph.node_features`` (wiring only), so subgraphs
(inductive mode) recompute them the same way. The NT label sets the pre->post displacement.
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data

from ..graph.features import wiring_features
from ..graph.synapses import roi_centers

__all__ = ["make_random_graph", "TINY_MODEL"]

#: ``ModelConfig`` overrides for a model small enough to train in a test within seconds.
TINY_MODEL = {"set_size": 8, "cloud_size": 8, "knn": 4, "hidden": 32, "point_dim": 16, "syn_dim": 16,
              "cloud_dim": 16, "table_dim": 32}


def _random_split(n: int, g: torch.Generator):
    """70/15/15 random split masks (N,) bool."""
    perm = torch.randperm(n, generator=g)
    n_tr, n_va = int(0.7 * n), int(0.15 * n)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    masks[0][perm[:n_tr]] = True
    masks[1][perm[n_tr:n_tr + n_va]] = True
    masks[2][perm[n_tr + n_va:]] = True
    return masks


def make_random_graph(num_nodes: int = 40, num_edges: int = 160, mean_synapses: float = 4.0,
                      num_rois: int = 3, num_classes: int = 3, num_nt: int = 3,
                      sites_per_neuron: int = 12, seed: int = 0) -> Data:
    """Random ``Data`` with CSR synapse sets, sites, labels (some masked) and a 70/15/15 split."""
    g = torch.Generator().manual_seed(seed)
    n, r = num_nodes, num_rois
    y_cls = torch.randint(0, num_classes, (n,), generator=g)
    y_nt = torch.randint(0, num_nt, (n,), generator=g)
    y_nt[torch.rand(n, generator=g) < 0.1] = -1
    # unique sorted (pre, post) pairs without self loops
    pre = torch.randint(0, n, (num_edges * 2,), generator=g)
    post = torch.randint(0, n, (num_edges * 2,), generator=g)
    keep = pre != post
    key = torch.unique(pre[keep] * n + post[keep])[:num_edges]
    key = key[torch.randperm(key.numel(), generator=g)][:num_edges].sort().values
    edge_index = torch.stack([key // n, key % n])
    e = edge_index.shape[1]
    counts = 1 + torch.poisson(torch.full((e,), mean_synapses - 1), generator=g).long()
    counts[: max(1, e // 20)] += 40  # a few large sets, to exercise subsampling
    syn_ptr = torch.zeros(e + 1, dtype=torch.long)
    syn_ptr[1:] = torch.cumsum(counts, 0)
    s = int(syn_ptr[-1])
    seg = torch.repeat_interleave(torch.arange(e), counts)
    home = torch.rand(n, 3, generator=g) * 1.6 - 0.8
    pre_xyz = home[edge_index[1]][seg] + 0.02 * torch.randn(s, 3, generator=g)
    shift = (y_nt.clamp(min=0)[edge_index[0]][seg].float() + 1)[:, None] * 0.002
    post_xyz = pre_xyz + shift * torch.randn(s, 3, generator=g).sign()
    syn_pos = torch.cat([pre_xyz, post_xyz], 1).float()
    syn_roi = torch.randint(-1, r, (s,), generator=g)
    syn_conf = torch.rand(s, 2, generator=g)
    edge_weight = counts.float()
    edge_roi = torch.zeros(e, r).index_add_(0, seg[syn_roi >= 0], torch.eye(r)[syn_roi[syn_roi >= 0]])
    edge_roi = edge_roi / edge_roi.sum(1, keepdim=True).clamp(min=1)
    site_counts = torch.randint(0, sites_per_neuron * 2, (n,), generator=g)
    site_counts[0] = 0  # a neuron without sites
    site_ptr = torch.zeros(n + 1, dtype=torch.long)
    site_ptr[1:] = torch.cumsum(site_counts, 0)
    m = int(site_ptr[-1])
    site_seg = torch.repeat_interleave(torch.arange(n), site_counts)
    site_pos = (home[site_seg] + 0.05 * torch.randn(m, 3, generator=g)).float()
    site_is_post = torch.rand(m, generator=g) < 0.5
    x = wiring_features(edge_index, edge_weight, edge_roi.float(), n)
    train_mask, val_mask, test_mask = _random_split(n, g)
    return Data(
        num_nodes=n, body_id=torch.arange(n, dtype=torch.long) + 1000, x=x,
        edge_index=edge_index, edge_weight=edge_weight, edge_roi=edge_roi.float(),
        roi_names=[f"ROI{i}" for i in range(r)],
        syn_ptr=syn_ptr, syn_pos=syn_pos, syn_roi=syn_roi, syn_conf=syn_conf.float(),
        site_ptr=site_ptr, site_pos=site_pos, site_is_post=site_is_post,
        pos_center=torch.zeros(3), pos_scale=20000.0, voxel_nm=8.0,
        pos_unit_um=torch.tensor([20000.0 * 8.0 / 1000.0]), roi_center=roi_centers(syn_pos, syn_roi, r),
        connectome=torch.zeros(n, dtype=torch.long), connectome_names=["random"],
        label_columns=["cell_class", "predictedNt"],
        y_cell_class=y_cls, y_predictedNt=y_nt,
        label_names={"cell_class": [f"c{i}" for i in range(num_classes)],
                     "predictedNt": [f"nt{i}" for i in range(num_nt)]},
        label_info={c: {"n_labelled": int((y >= 0).sum()), "n_unlabelled": int((y < 0).sum()),
                        "dropped_classes": {}} for c, y in (("cell_class", y_cls), ("predictedNt", y_nt))},
        train_mask=train_mask, val_mask=val_mask, test_mask=test_mask,
    )

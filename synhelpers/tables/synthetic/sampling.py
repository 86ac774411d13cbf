"""Sampling steps of the synthetic connectome: neurons, edges, and synapse positions.

Every step is vectorised; the only loops run over the K x K class blocks (<= 256) or over
distinct categorical rows, never over neurons, edges or synapses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import BOX, NT_SYNAPSE_DISTANCE, SyntheticConfig
from .design import Design

__all__ = ["categorical", "sample_neurons", "sample_edges", "sample_synapses", "SynapseSample",
           "neuron_offsets"]


def categorical(rng, cum: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Sample one category per entry of ``rows`` from the cumulative table ``cum[rows]``.

    Groups by row (<= K*K distinct rows) so the memory stays O(len(rows)).

    Example:
        >>> cum = np.array([[1.0, 1.0], [0.0, 1.0]])  # row 0 always 0, row 1 always 1
        >>> categorical(np.random.default_rng(0), cum, np.array([1, 0, 1])).tolist()
        [1, 0, 1]
    """
    out = np.empty(len(rows), dtype=np.int64)
    u = rng.random(len(rows))
    order = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[order], np.arange(cum.shape[0] + 1))
    for g in np.flatnonzero(np.diff(bounds)):
        sel = order[bounds[g]: bounds[g + 1]]
        out[sel] = np.searchsorted(cum[g], u[sel], side="right")
    return np.minimum(out, cum.shape[1] - 1)


def sample_neurons(cfg: SyntheticConfig, rng, d: Design):
    """Class, true NT and log-normal out/in degree propensities of every neuron."""
    cls = rng.permutation(np.repeat(np.arange(cfg.n_classes), d.sizes))
    nt_true = categorical(rng, np.cumsum(d.nt_prob, 1), cls)
    theta_out = rng.lognormal(0.0, 0.95, cfg.n_neurons)
    theta_in = rng.lognormal(0.0, 1.13, cfg.n_neurons)
    return cls, nt_true, theta_out, theta_in


def sample_edges(cfg: SyntheticConfig, rng, d: Design, cls, theta_out, theta_in):
    """Degree-corrected SBM: per block, a Poisson count, endpoints drawn by propensity.

    Returns ``(pre, post)`` node indices, one edge per pair, sorted, without self loops.
    """
    k, n = cfg.n_classes, cfg.n_neurons
    members = [np.flatnonzero(cls == c) for c in range(k)]
    pre_parts, post_parts = [], []
    for c1 in range(k):
        p_out = theta_out[members[c1]] / theta_out[members[c1]].sum()
        for c2 in range(k):
            m = rng.poisson(d.rate[c1, c2] * d.sizes[c1] * d.sizes[c2])
            if m == 0:
                continue
            p_in = theta_in[members[c2]] / theta_in[members[c2]].sum()
            pre_parts.append(members[c1][rng.choice(d.sizes[c1], m, p=p_out)])
            post_parts.append(members[c2][rng.choice(d.sizes[c2], m, p=p_in)])
    key = np.unique(np.concatenate(pre_parts).astype(np.int64) * n + np.concatenate(post_parts))
    pre, post = key // n, key % n
    keep = pre != post
    return pre[keep], post[keep]


@dataclass
class SynapseSample:
    """The synaptic pairs of every edge (S rows), positions in int32 voxels."""

    syn_edge: np.ndarray   # (S,) edge of each synapse, grouped by edge
    syn_roi: np.ndarray    # (S,) ROI index
    pos_pre: np.ndarray    # (S, 3) T-bar, voxels
    pos_post: np.ndarray   # (S, 3) postsynaptic density, voxels
    conf_pre: np.ndarray   # (S,) float32
    conf_post: np.ndarray  # (S,) float32


def _synapse_rois(cfg, rng, d: Design, cls, pre, post, weight):
    """ROI of every synapse: one main ROI per connection, 20 % drawn again (a second ROI)."""
    k, r = cfg.n_classes, cfg.n_rois
    pair_roi = d.out_roi[:, None, :] * d.in_roi[None, :, :] + 0.02 * d.out_roi[:, None, :]
    pair_roi /= pair_roi.sum(-1, keepdims=True)
    cum = np.cumsum(pair_roi.reshape(k * k, r), 1)
    edge_block = cls[pre] * k + cls[post]
    edge_roi_main = categorical(rng, cum, edge_block)
    syn_edge = np.repeat(np.arange(len(pre)), weight)
    syn_roi = edge_roi_main[syn_edge]
    other = rng.random(len(syn_edge)) < 0.2
    syn_roi[other] = categorical(rng, cum, edge_block[syn_edge[other]])
    return syn_edge, syn_roi


def neuron_offsets(cfg, rng) -> np.ndarray:
    """(N, 3) float64 per-neuron offset of its synapses, in ROI radii."""
    return rng.normal(0, 0.08, (cfg.n_neurons, 3))


def _synapse_positions(cfg, rng, d: Design, cls, nt_true, pre, post, syn_edge, syn_roi,
                       neuron_off=None):
    """ROI centre + class zones + neuron and connection offsets + noise; PSD at an NT distance.

    ``neuron_off`` (N, 3): the per-neuron offsets, drawn here from ``rng`` when ``None``.
    """
    n_syn = len(syn_edge)
    c_pre, c_post = cls[pre][syn_edge], cls[post][syn_edge]
    radius = d.roi_radius[syn_roi][:, None]
    if neuron_off is None:
        neuron_off = neuron_offsets(cfg, rng)
    conn_off = rng.normal(0, 0.10, (len(pre), 3)).astype(np.float32)
    pos_pre = (
        d.roi_center[syn_roi]
        + 0.5 * (d.zone_out[c_pre, syn_roi] + d.zone_in[c_post, syn_roi])
        + radius * (neuron_off[pre[syn_edge]] + conn_off[syn_edge]
                    + rng.normal(0, 0.12, (n_syn, 3)))
    )
    del c_post, conn_off
    direction = rng.normal(size=(n_syn, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    dist = np.asarray(NT_SYNAPSE_DISTANCE)[nt_true[pre[syn_edge]]] + rng.normal(0, 3.0, n_syn)
    pos_post = pos_pre + direction * dist[:, None]
    del direction, dist
    lo, hi = np.zeros(3), np.asarray(BOX) - 1
    return (np.clip(np.rint(pos_pre), lo, hi).astype(np.int32),
            np.clip(np.rint(pos_post), lo, hi).astype(np.int32))


def sample_synapses(cfg, rng, d: Design, cls, nt_true, pre, post, weight,
                    neuron_off=None) -> SynapseSample:
    """``weight[e]`` synaptic pairs for every edge ``e`` (see :class:`SynapseSample`).

    ``neuron_off``: (N, 3) per-neuron offsets (:func:`neuron_offsets`), shared by the chunks
    of a chunked draw; ``None`` draws them from ``rng`` (the one-pass draw order).
    """
    syn_edge, syn_roi = _synapse_rois(cfg, rng, d, cls, pre, post, weight)
    pos_pre, pos_post = _synapse_positions(cfg, rng, d, cls, nt_true, pre, post, syn_edge, syn_roi,
                                           neuron_off)
    n_syn = len(syn_edge)
    conf_pre = (0.5 + 0.5 * rng.beta(5.0, 1.5, n_syn)).astype(np.float32)
    conf_post = (0.5 + 0.5 * rng.beta(4.0, 1.5, n_syn)).astype(np.float32)
    return SynapseSample(syn_edge, syn_roi, pos_pre, pos_post, conf_pre, conf_post)

"""Label context: the known types of a neuron's partners, as per-neuron features.

A neuron's strongest evidence is often *whom it talks to, by type* ("it receives from KCs and
sends to MBONs"). These functions turn the labels already known into features, and make sure
that no label is an input where it must not be: a neuron's own label never reaches its own row,
and only the labels a caller marks as ``known`` are read (validation and test labels are not
inputs unless the caller passes them).

The label trick (UniMP; Shi et al. 2021) for a model that passes messages: each training step
splits the labelled training neurons into *inputs*, whose labels build the context, and
*targets*, whose labels are only in the loss (:func:`label_trick_split`,
:func:`label_trick_context`). A target's label is then in nobody's context, so it cannot reach
its own prediction in one hop (its own row) nor in two (``i -> j -> i``: ``j``'s row, aggregated
back into ``i``).
"""

from __future__ import annotations

import torch

__all__ = ["label_context", "label_trick_context", "label_trick_split", "known_mask",
           "context_width", "with_label_context"]


def label_context(edge_index: torch.Tensor, edge_weight: torch.Tensor, y: torch.Tensor,
                  known: torch.Tensor, num_classes: int, *, self_loops: bool = False,
                  fill: torch.Tensor | None = None) -> torch.Tensor:
    """Synapse-weighted class composition of each neuron's input and output partners.

    ``in[v, c] = sum_{u->v, u != v} w_uv [lab(u) = c] / sum_{u->v, u != v} w_uv`` with
    ``lab(u) = y[u]`` if ``known[u]`` and ``y[u] >= 0``, else the extra class ``C`` (unknown);
    ``out`` likewise over ``v -> u``.

    Vectorised (two ``index_add_`` accumulations, float64, then float32). Autapses (``u == v``)
    are skipped unless ``self_loops``: with them a neuron's own label would be in its own row.
    So, by default, row ``v`` depends only on the labels of ``v``'s partners ``u != v``: fitting
    a per-neuron model (no message passing) on rows of known neurons is leave-one-out by
    construction. A model that passes messages needs :func:`label_trick_context` instead.

    Args:
        edge_index: (2, E) int64, pre -> post.
        edge_weight: (E,) synapse counts (any non-negative weight).
        y: (N,) int64 class ids in ``[0, C)``, ``-1`` unknown.
        known: (N,) bool, the neurons whose label may be read; others count as unknown.
        num_classes: C.
        self_loops: count autapses (off by default, see above).
        fill: optional (N, C) class probabilities for the neurons whose label is not read:
            their synapses are shared by these instead of going to "unknown". A fill computed
            from a label must not reach that label's row: cross-fit it (bench_peers.py).

    Returns:
        (N, 2 * (C + 1)) float32: ``[in_0 .. in_{C-1}, in_unknown, out_0 .. out_unknown]``; each
        half sums to 1; a neuron without inputs (outputs) has ``in_unknown = 1`` (``out_unknown``).

    Example:
        >>> ei = torch.tensor([[0, 1, 2], [2, 2, 0]])          # 0 -> 2, 1 -> 2, 2 -> 0
        >>> ctx = label_context(ei, torch.tensor([3.0, 1.0, 2.0]), torch.tensor([0, 1, 1]),
        ...                     torch.tensor([True, True, False]), 2)
        >>> ctx[2].tolist()     # in: 3 synapses from class 0, 1 from class 1; out: all to class 0
        [0.75, 0.25, 0.0, 1.0, 0.0, 0.0]
        >>> ctx[0].tolist()     # in: from neuron 2, whose label is not known
        [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    """
    c = int(num_classes)
    if y.numel() and int(y.max()) >= c:
        raise ValueError(f"label_context: y holds class {int(y.max())} but num_classes is {c}")
    if known.shape != y.shape or known.dtype != torch.bool:
        raise ValueError(f"label_context: known must be (N,) bool like y {tuple(y.shape)}; "
                         f"got {tuple(known.shape)} {known.dtype}")
    pre, post = edge_index
    w = edge_weight.to(torch.float64)
    if not self_loops:
        keep = pre != post
        pre, post, w = pre[keep], post[keep], w[keep]
    share = _shares(y, known, c, fill)
    halves = []
    for me, partner in ((post, pre), (pre, post)):  # inputs of `post`, then outputs of `pre`
        comp = torch.zeros_like(share).index_add_(0, me, w[:, None] * share[partner])
        total = comp.sum(1, keepdim=True)
        comp = torch.where(total > 0, comp / total.clamp_min(1e-300), comp)
        comp[total[:, 0] <= 0, c] = 1.0
        halves.append(comp)
    return torch.cat(halves, 1).float()


def _shares(y: torch.Tensor, known: torch.Tensor, c: int, fill: torch.Tensor | None) -> torch.Tensor:
    """(N, C + 1) float64: how each neuron's synapses count as a partner (one-hot of its read
    label, or of "unknown"; with ``fill``, the fill's probabilities for the unread ones)."""
    n = int(y.shape[0])
    lab = torch.where(known & (y >= 0), y, torch.full_like(y, c))
    share = torch.nn.functional.one_hot(lab, c + 1).to(torch.float64)
    if fill is not None:
        if fill.shape != (n, c):
            raise ValueError(f"label_context: fill must be (N, C) = ({n}, {c}); got {tuple(fill.shape)}")
        soft = lab == c
        share[soft] = torch.cat([fill[soft].to(torch.float64),
                                 torch.zeros(int(soft.sum()), 1, dtype=torch.float64)], 1)
    return share


def known_mask(num_nodes: int, idx: torch.Tensor) -> torch.Tensor:
    """(N,) bool, True at ``idx``."""
    mask = torch.zeros(num_nodes, dtype=torch.bool)
    mask[idx] = True
    return mask


def label_trick_split(train_idx: torch.Tensor, frac: float,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Split the labelled training neurons into label *inputs* and *targets*, at random.

    Args:
        train_idx: (T,) int64, the labelled training neurons.
        frac: fraction of them that become inputs, in ``[0, 1)``; the rest (at least one) are
            targets.
        generator: a seeded ``torch.Generator`` for a reproducible split (one draw per step).

    Returns:
        ``(input_idx, target_idx)``: disjoint, sorted, together ``train_idx``;
        ``len(input_idx) = floor(frac * T)``.

    Example:
        >>> i, t = label_trick_split(torch.arange(10), 0.5, torch.Generator().manual_seed(0))
        >>> len(i), len(t), sorted(torch.cat([i, t]).tolist()) == list(range(10))
        (5, 5, True)
    """
    if not 0.0 <= frac < 1.0:
        raise ValueError(f"label_trick_split: frac must be in [0, 1) so that some targets remain; got {frac}")
    perm = torch.randperm(len(train_idx), generator=generator)
    k = int(frac * len(train_idx))
    return train_idx[perm[:k]].sort().values, train_idx[perm[k:]].sort().values


def label_trick_context(edge_index: torch.Tensor, edge_weight: torch.Tensor, y: torch.Tensor,
                        input_idx: torch.Tensor, num_classes: int,
                        allowed: torch.Tensor | None = None) -> torch.Tensor:
    """The label context of one training step: only the labels of ``input_idx`` are read.

    Targets (labelled training neurons not in ``input_idx``), validation and test neurons all
    count as unknown, so a target's label is in no row at all: not its own (one hop) and not
    a partner's row that a message-passing layer brings back to it (two hops, ``i -> j -> i``).

    Args:
        edge_index, edge_weight, y, num_classes: as in :func:`label_context`.
        input_idx: (K,) int64, the label inputs of this step (from :func:`label_trick_split`).
        allowed: optional (N,) bool, the neurons whose labels may ever be inputs (the labelled
            training neurons); an ``input_idx`` outside it is an error.

    Returns:
        (N, 2 * (C + 1)) float32, as :func:`label_context`.
    """
    known = known_mask(int(y.shape[0]), input_idx)
    if allowed is not None and bool((known & ~allowed).any()):
        bad = torch.nonzero(known & ~allowed).flatten()[:5].tolist()
        raise ValueError(f"label_trick_context: input_idx holds neurons whose labels are not "
                         f"allowed as inputs (validation/test or unlabelled), e.g. rows {bad}")
    return label_context(edge_index, edge_weight, y, known, num_classes)


def context_width(data, columns) -> int:
    """Width of :func:`with_label_context`'s features: ``sum_c 2 (C_c + 1)``."""
    return sum(2 * (len(data.label_names[c]) + 1) for c in columns)


def with_label_context(data, columns, known: torch.Tensor):
    """A shallow copy of ``data`` whose node features ``x`` (N, F) gain the label context of
    every column in ``columns``: (N, F + :func:`context_width`), read from the labels of the
    ``known`` (N,) bool neurons only (e.g. the labelled training neurons; in a training step
    the label trick's inputs). The composition uses ``edge_weight`` (synapse counts)."""
    import copy

    known = known.to(data.edge_index.device)
    parts = [data.x]
    for c in columns:
        y = data[f"y_{c}"]
        parts.append(label_context(data.edge_index, data.edge_weight, y, known & (y >= 0),
                                   len(data.label_names[c])).to(data.x.device, data.x.dtype))
    out = copy.copy(data)
    out.x = torch.cat(parts, dim=1)
    return out

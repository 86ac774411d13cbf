"""Active learning: rank unlabelled neurons for annotation, and the pure pool helpers of a
simulated annotation loop.

Strategies (:data:`STRATEGIES`), all "higher score = ask first":

============  =================  ============================================================
name          input              score
============  =================  ============================================================
``margin``    probs (N, C)       ``1 - (p_top1 - p_top2)``: a near tie between two classes
``entropy``   probs (N, C)       ``-sum_c p_c log p_c`` (nats)
``bald``      mc_probs (T, N, C) BALD (Houlsby et al. 2011): ``H[mean_t p_t] - mean_t H[p_t]``
``coreset``   embeddings (N, D)  greedy k-center (Sener & Savarese, ICLR 2018): Euclidean
                                 distance to the nearest of labelled + already picked neurons
``random``    (seed)             uniform random numbers, reproducible from ``seed``
============  =================  ============================================================

``probs`` are softmax probabilities (e.g. from ``model(data)[column].float().softmax(-1)``);
``mc_probs`` come from :func:`mc_dropout_probs`. Masks are (N,) bool, torch or numpy.

Example:
    >>> import torch
    >>> probs = torch.tensor([[0.9, 0.1], [0.5, 0.5], [0.6, 0.4]])
    >>> labelled = torch.tensor([True, False, False])
    >>> rank_candidates("margin", probs=probs, labelled_mask=labelled,
    ...                 candidate_mask=~labelled, n=2)
       index  score  rank
    0      1    1.0     1
    1      2    0.8     2
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from .config import STRATEGIES

__all__ = [
    "STRATEGIES",
    "rank_candidates",
    "margin_scores",
    "entropy_scores",
    "bald_scores",
    "coreset_select",
    "mc_dropout_probs",
    "initial_labelled",
    "reveal",
]

#: Distances per block in :func:`coreset_select` (2**24 float32 = 64 MiB).
BLOCK_ELEMENTS = 2**24


def margin_scores(probs: Tensor) -> Tensor:
    """``1 - (top1 - top2)`` per row of ``probs`` (N, C) -> (N,) float32 in [0, 1]."""
    top2 = probs.float().topk(2, dim=-1).values
    return 1.0 - (top2[..., 0] - top2[..., 1])


def entropy_scores(probs: Tensor) -> Tensor:
    """Predictive entropy ``-sum_c p log p`` (nats, ``0 log 0 = 0``) over the last axis."""
    p = probs.float()
    return -torch.special.xlogy(p, p).sum(-1)


def bald_scores(mc_probs: Tensor) -> Tensor:
    """BALD mutual information (Houlsby et al. 2011) from (T, N, C) MC samples -> (N,).

    ``I = H[mean_t p_t] - mean_t H[p_t]`` >= 0; exactly 0 (up to rounding, clamped) when
    all T samples agree, large when the samples are confident but disagree.
    """
    if mc_probs.ndim != 3:
        raise ValueError(f"mc_probs must be (T, N, C), got {tuple(mc_probs.shape)}")
    p = mc_probs.float()
    return (entropy_scores(p.mean(0)) - entropy_scores(p).mean(0)).clamp_min(0.0)


def _sq_dists(a: Tensor, a_sq: Tensor, b: Tensor, b_sq: Tensor) -> Tensor:
    """Squared Euclidean distances (len(a), len(b)) via ``|a|^2 + |b|^2 - 2 a.b`` (one matmul)."""
    return (a_sq[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)).clamp_min(0.0)


def _nearest(x: Tensor, ref: Tensor) -> tuple[Tensor, Tensor]:
    """For each row of ``x`` the squared distance to, and position of, its nearest ``ref`` row.

    Blocked over both sets, so memory stays at ``BLOCK_ELEMENTS`` distances, never N x N.
    """
    best = torch.full((len(x),), float("inf"), device=x.device)
    arg = torch.full((len(x),), -1, dtype=torch.long, device=x.device)
    if len(ref) == 0:
        return best, arg
    x_sq, ref_sq = (x * x).sum(1), (ref * ref).sum(1)
    block = max(1, int(BLOCK_ELEMENTS**0.5))
    for i in range(0, len(x), block):  # loops over blocks of rows, not over rows
        for j in range(0, len(ref), block):
            d = _sq_dists(x[i:i + block], x_sq[i:i + block], ref[j:j + block], ref_sq[j:j + block])
            val, pos = d.min(1)
            better = val < best[i:i + block]
            best[i:i + block] = torch.where(better, val, best[i:i + block])
            arg[i:i + block] = torch.where(better, pos + j, arg[i:i + block])
    return best, arg


def coreset_select(embeddings: Tensor, labelled_idx: Tensor, candidate_idx: Tensor, n: int,
                   seed: int = 0) -> pd.DataFrame:
    """Greedy k-center (Sener & Savarese, ICLR 2018) over ``candidate_idx``.

    Each of the ``n`` steps picks the candidate farthest from labelled + already picked
    neurons (ties: lowest index), then lowers every candidate's distance to include the pick
    (one vectorised (n_candidates,) update per step). With no labelled neuron the first pick
    is a seeded random candidate, with score ``inf``.

    Args:
        embeddings: (N, D) float; distances are Euclidean, in embedding units.
        labelled_idx / candidate_idx: (L,) and (K,) int64 node indices, disjoint.
        n: number of picks (at most K).

    Returns:
        columns ``index``, ``score`` (distance to labelled + earlier picks at pick time,
        non-increasing), ``nearest_labelled`` (node index of the nearest *labelled* neuron,
        -1 if none) and ``distance`` (to it; NaN if none).
    """
    emb = embeddings.detach().float()
    emb = emb - emb.mean(0)  # translation-invariant; centring reduces float32 cancellation
    cand, lab = emb[candidate_idx], emb[labelled_idx]
    to_lab, near_pos = _nearest(cand, lab)
    min_sq = to_lab.clone()
    cand_sq = (cand * cand).sum(1)
    picks = torch.empty(n, dtype=torch.long, device=emb.device)
    scores = torch.empty(n, device=emb.device)
    start = None  # with nothing labelled every distance is inf: start at a seeded random one
    if n > 0 and len(labelled_idx) == 0:
        start = int(torch.randint(len(cand), (1,), generator=torch.Generator().manual_seed(seed)))
    for k in range(n):  # greedy: each step depends on the previous picks
        best = start if k == 0 and start is not None else int(torch.argmax(min_sq))
        picks[k], scores[k] = best, min_sq[best]
        pick_sq = _sq_dists(cand, cand_sq, cand[best:best + 1], cand_sq[best:best + 1])[:, 0]
        min_sq = torch.minimum(min_sq, pick_sq)
        min_sq[best] = -1.0  # never picked again (distances are >= 0, minimum keeps the -1)
    has_lab = len(labelled_idx) > 0
    near = labelled_idx.to(emb.device)[near_pos[picks]] if has_lab else torch.full_like(picks, -1)
    return pd.DataFrame({
        "index": candidate_idx.to(emb.device)[picks].cpu().numpy(),
        "score": scores.sqrt().double().cpu().numpy(),
        "nearest_labelled": near.cpu().numpy(),
        "distance": to_lab[picks].sqrt().double().cpu().numpy() if has_lab else np.nan,
    })


def _as_bool(mask, name: str, n_nodes: int | None) -> Tensor:
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, Tensor) else mask)
    if m.dtype != torch.bool or m.ndim != 1 or (n_nodes is not None and len(m) != n_nodes):
        raise ValueError(f"{name} must be an (N,) bool mask with N={n_nodes}, "
                         f"got dtype {m.dtype} and shape {tuple(m.shape)}")
    return m.cpu()


def _scores(strategy: str, idx: Tensor, probs, mc_probs, seed: int) -> Tensor:
    """Scores (K,) of the candidate nodes ``idx`` for a score-based strategy."""
    if strategy == "random":
        rng = np.random.default_rng(seed)
        return torch.from_numpy(rng.random(len(idx)))
    if strategy == "bald":
        return bald_scores(mc_probs[:, idx.to(mc_probs.device)]).cpu()
    p = probs if probs is not None else mc_probs.float().mean(0)
    p = p[idx.to(p.device)]
    return (margin_scores(p) if strategy == "margin" else entropy_scores(p)).cpu()


def _check_inputs(strategy, probs, mc_probs, embeddings) -> int | None:
    """Validate the strategy and its input; return N (None for ``random``)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; allowed values: {list(STRATEGIES)}")
    if strategy == "random":
        return None
    if strategy == "coreset":
        name, x, ndim = "embeddings (N, D)", embeddings, 2
    elif strategy == "bald" or probs is None:
        name, x, ndim = "mc_probs (T, N, C)", mc_probs, 3
        name = name if strategy == "bald" else f"probs (N, C) or {name}"
    else:
        name, x, ndim = "probs (N, C)", probs, 2
    if x is None or x.ndim != ndim:
        raise ValueError(f"strategy {strategy!r} needs {name}, got "
                         f"{None if x is None else tuple(x.shape)}")
    return x.shape[-2] if ndim == 3 else x.shape[0]


def rank_candidates(strategy: str, *, probs: Tensor | None = None,
                    mc_probs: Tensor | None = None, embeddings: Tensor | None = None,
                    labelled_mask, candidate_mask, n: int, seed: int = 0) -> pd.DataFrame:
    """The ``n`` candidates to annotate first, best first.

    Args:
        strategy: one of :data:`STRATEGIES`.
        probs: (N, C) softmax probabilities, for ``margin``/``entropy`` (if None, the mean of
            ``mc_probs`` is used).
        mc_probs: (T, N, C) MC-dropout probabilities (:func:`mc_dropout_probs`), for ``bald``.
        embeddings: (N, D) node embeddings, for ``coreset``.
        labelled_mask: (N,) bool, neurons whose label the model may use; never returned.
        candidate_mask: (N,) bool, neurons that may be asked (e.g. unlabelled, not val/test).
        n: how many to return (fewer if fewer candidates).
        seed: for ``random`` (and ``coreset`` with no labelled neuron).

    Returns:
        DataFrame with ``index`` (node index), ``score`` (higher = ask first), ``rank``
        (1 = ask first); ``coreset`` adds ``nearest_labelled`` (node index) and ``distance``.
        Ties in score go to the lower node index.
    """
    n_nodes = _check_inputs(strategy, probs, mc_probs, embeddings)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    labelled = _as_bool(labelled_mask, "labelled_mask", n_nodes)
    candidates = _as_bool(candidate_mask, "candidate_mask", len(labelled)) & ~labelled
    idx = torch.nonzero(candidates).squeeze(1)
    n = min(n, len(idx))
    if strategy == "coreset":
        lab_idx = torch.nonzero(labelled).squeeze(1)
        dev = embeddings.device
        out = coreset_select(embeddings, lab_idx.to(dev), idx.to(dev), n, seed)
    else:
        scores = _scores(strategy, idx, probs, mc_probs, seed).double()
        order = torch.sort(-scores, stable=True).indices[:n]  # idx ascending: ties -> low index
        out = pd.DataFrame({"index": idx[order].numpy(), "score": scores[order].numpy()})
    out.insert(2, "rank", np.arange(1, len(out) + 1))
    return out


def mc_dropout_probs(model_fn: Callable[[], Tensor], module: nn.Module, T: int, seed: int = 0,
                     out_device: str | torch.device | None = "cpu") -> Tensor:
    """T stochastic forward passes with only dropout active -> softmax probs (T, N, C) float32.

    ``module`` is the ``nn.Module`` whose dropout layers (every ``nn.Dropout*`` submodule) are
    switched to train mode; everything else in it (LayerNorm, BatchNorm, mode-dependent
    branches) stays in eval mode. ``model_fn()`` runs the forward pass and returns (N, C)
    logits, e.g. ``lambda: model(data)["cell_class"]`` with ``module=model``. Runs under
    ``torch.no_grad()`` with the global RNG seeded by ``seed`` (and restored afterwards), so
    the samples are reproducible; all modes are restored on exit. Result on ``out_device``
    (None: where the logits are). Dropout written as ``F.dropout(x, training=...)`` or inside
    other layers (e.g. GATConv's attention dropout) is not switched on.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 2))
        >>> x = torch.randn(5, 3)
        >>> mc_dropout_probs(lambda: net(x), net, T=4).shape
        torch.Size([4, 5, 2])
    """
    dropouts = [m for m in module.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    if not any(m.p > 0 for m in dropouts):
        raise ValueError(f"{type(module).__name__} has no nn.Dropout layer with p > 0, so "
                         "MC-dropout samples would all agree (BALD = 0)")
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    modes = {m: m.training for m in module.modules()}
    samples = []
    try:
        module.eval()
        for m in dropouts:
            m.train()
        with torch.random.fork_rng(), torch.no_grad():
            torch.manual_seed(seed)
            for _ in range(T):  # T forward passes of the whole model, not a per-row loop
                logits = model_fn()
                if not isinstance(logits, Tensor) or logits.ndim != 2:
                    raise TypeError("model_fn must return an (N, C) logits tensor (pick one "
                                    f"column from a dict of heads), got {type(logits).__name__}")
                p = logits.float().softmax(-1)
                samples.append(p.to(out_device) if out_device is not None else p)
    finally:
        for m, training in modes.items():
            m.training = training
    return torch.stack(samples)


def _to_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def initial_labelled(y, per_class: int, seed: int = 0, *, pool):
    """Stratified seeded start of a simulation: ``per_class`` random neurons of each class.

    Only nodes in ``pool`` (e.g. ``train_mask``) with a label ``y >= 0`` can be chosen; a
    class with fewer than ``per_class`` of them contributes all it has.

    Args:
        y: (N,) int class ids, -1 = masked.  pool: (N,) bool.  per_class: >= 0.

    Returns:
        (N,) bool mask, torch if ``y`` is a tensor, else numpy.

    Example:
        >>> y = np.array([0, 0, 0, 1, 1, 2, -1])
        >>> int(initial_labelled(y, 2, seed=0, pool=np.array([1, 1, 1, 1, 1, 0, 1], bool)).sum())
        4
    """
    y_np, pool_np = _to_numpy(y).astype(np.int64), _to_numpy(pool).astype(bool)
    if per_class < 0 or y_np.ndim != 1 or pool_np.shape != y_np.shape:
        raise ValueError(f"need per_class >= 0 and y, pool both (N,); got per_class={per_class}, "
                         f"y {y_np.shape}, pool {pool_np.shape}")
    idx = np.flatnonzero(pool_np & (y_np >= 0))
    idx = idx[np.random.default_rng(seed).permutation(len(idx))]
    idx = idx[np.argsort(y_np[idx], kind="stable")]  # grouped by class, random within a class
    cls = y_np[idx]
    first = np.searchsorted(cls, cls, side="left")  # start of each node's class group
    chosen = idx[np.arange(len(idx)) - first < per_class]
    out = np.zeros(len(y_np), dtype=bool)
    out[chosen] = True
    return torch.from_numpy(out).to(y.device) if isinstance(y, Tensor) else out


def reveal(labelled_mask, picked: Sequence[int] | np.ndarray | Tensor):
    """A new mask: ``labelled_mask`` plus the node indices ``picked`` (input left unchanged).

    Example:
        >>> reveal(np.array([True, False, False]), [2]).tolist()
        [True, False, True]
    """
    picked_np = _to_numpy(picked).astype(np.int64).ravel()
    n_nodes = len(labelled_mask)
    if picked_np.size and (picked_np.min() < 0 or picked_np.max() >= n_nodes):
        bad = picked_np[(picked_np < 0) | (picked_np >= n_nodes)]
        raise IndexError(f"picked node indices out of range [0, {n_nodes}): {bad[:10].tolist()}")
    if isinstance(labelled_mask, Tensor):
        out = labelled_mask.clone()
        out[torch.from_numpy(picked_np).to(out.device)] = True
        return out
    out = np.array(labelled_mask, dtype=bool, copy=True)
    out[picked_np] = True
    return out

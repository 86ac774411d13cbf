"""Losses for node classification with masked labels, selectable by name.

Every loss is a small ``nn.Module`` called as ``loss(logits, target, class_counts)``:

=================  ==========  ==============================================================
argument           shape       meaning
=================  ==========  ==============================================================
``logits``         (n, C)      raw class scores, any float dtype (bf16 is computed in float32)
``target``         (n,) int64  class id, ``-1`` (any negative value) = masked, ignored
``class_counts``   (C,)        labelled nodes per class in the TRAINING split (never val/test)
returns            ()          float32 scalar: mean over the unmasked nodes (0.0 if none)
=================  ==========  ==============================================================

Names (:func:`list_losses`): ``ce`` (default), ``weighted_ce``, ``focal``, ``logit_adjusted``.
A class absent from training (count 0) is treated as if it had one example wherever a count
is divided by or logged (:func:`class_weights`, ``logit_adjusted``), so nothing becomes
inf/nan, e.g. in a validation loss whose targets include that class.

:func:`class_balanced_sampler_weights` gives per-node weights for
``torch.utils.data.WeightedRandomSampler`` (mini-batch training with balanced classes).

Example:
    >>> import torch
    >>> loss = get_loss("focal", gamma=0.0)
    >>> logits, target = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, -1])
    >>> round(float(loss(logits, target, torch.tensor([5, 1]))), 4)
    0.1269
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "register_loss",
    "get_loss",
    "list_losses",
    "DEFAULT_LOSS",
    "class_weights",
    "class_balanced_sampler_weights",
    "CrossEntropy",
    "WeightedCrossEntropy",
    "FocalLoss",
    "LogitAdjustedCrossEntropy",
]

DEFAULT_LOSS = "ce"
_LOSSES: dict[str, Callable[..., nn.Module]] = {}


def register_loss(name: str) -> Callable:
    """Class decorator: make a loss constructible as ``get_loss(name, **params)``."""

    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _LOSSES:
            raise ValueError(f"loss {name!r} is already registered ({_LOSSES[name].__name__})")
        _LOSSES[name] = factory
        return factory

    return wrap


def list_losses() -> list[str]:
    """Registered loss names, sorted.

    Example:
        >>> list_losses()
        ['ce', 'focal', 'logit_adjusted', 'weighted_ce']
    """
    return sorted(_LOSSES)


def get_loss(name: str = DEFAULT_LOSS, **params) -> nn.Module:
    """Build the loss registered as ``name`` with its keyword ``params`` (see each class).

    Example:
        >>> get_loss("weighted_ce", beta=0.99)
        WeightedCrossEntropy(beta=0.99)
    """
    if name not in _LOSSES:
        raise ValueError(f"unknown loss {name!r}; allowed values: {list_losses()}")
    try:
        return _LOSSES[name](**params)
    except TypeError as err:
        raise TypeError(f"loss {name!r}: bad parameters {sorted(params)}: {err}") from err


def class_weights(class_counts: Tensor, beta: float | None = None) -> Tensor:
    """Per-class weights (C,) float32 from training class counts, mean 1 over training samples.

    ``beta=None``: inverse frequency, ``w_c ∝ 1 / n_c``. ``beta`` in [0, 1): the "effective
    number of samples" of Cui et al., CVPR 2019, ``w_c ∝ (1 - beta) / (1 - beta ** n_c)``
    (``beta=0`` gives uniform weights, ``beta -> 1`` tends to inverse frequency). Both are
    scaled so that ``sum_c n_c w_c = sum_c n_c``. Counts of 0 are treated as 1 (finite weight).

    Example:
        >>> [round(w, 3) for w in class_weights(torch.tensor([30, 10, 0])).tolist()]
        [0.667, 2.0, 20.0]
    """
    counts = torch.as_tensor(class_counts).float()
    if counts.ndim != 1 or (counts < 0).any():
        raise ValueError(f"class_counts must be a 1-D tensor of counts >= 0, got {counts.tolist()}")
    clamped = counts.clamp_min(1.0)
    if beta is None:
        raw = 1.0 / clamped
    elif 0.0 <= beta < 1.0:
        raw = (1.0 - beta) / (1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64),
                                              clamped.double())).float()
    else:
        raise ValueError(f"beta must be None (inverse frequency) or in [0, 1), got {beta}")
    total = counts.sum()
    scale = total / (counts * raw).sum() if total > 0 else torch.tensor(1.0)
    return raw * scale


def _check(logits: Tensor, target: Tensor, class_counts: Tensor | None,
           needs_counts: bool = False) -> None:
    if needs_counts and class_counts is None:
        raise ValueError("this loss needs class_counts (C,): labelled nodes per training class")
    if logits.ndim != 2 or target.shape != logits.shape[:1]:
        raise ValueError(f"logits must be (n, C) and target (n,), got {tuple(logits.shape)} "
                         f"and {tuple(target.shape)}")
    if class_counts is not None and tuple(class_counts.shape) != tuple(logits.shape[1:]):
        raise ValueError(f"class_counts must be (C,) = ({logits.shape[1]},), "
                         f"got {tuple(class_counts.shape)}")


def _masked_mean(per_node: Tensor, keep: Tensor) -> Tensor:
    """Mean of ``per_node[keep]``; 0.0 (still attached to the graph) when nothing is kept."""
    return (per_node * keep).sum() / keep.sum().clamp_min(1)


def _nll(log_probs: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``-log p_y`` per node (0 on masked nodes), the keep mask and the safe target."""
    keep = target >= 0
    safe = target.clamp_min(0)
    logp_y = log_probs.gather(1, safe[:, None]).squeeze(1)
    return -logp_y * keep, keep, safe


@register_loss("ce")
class CrossEntropy(nn.Module):
    """Plain cross-entropy: ``L = -mean_i log softmax(z_i)[y_i]`` (``class_counts`` unused)."""

    def forward(self, logits: Tensor, target: Tensor, class_counts: Tensor | None = None) -> Tensor:
        _check(logits, target, class_counts)
        nll, keep, _ = _nll(F.log_softmax(logits.float(), dim=-1), target)
        return _masked_mean(nll, keep)


@register_loss("weighted_ce")
class WeightedCrossEntropy(nn.Module):
    """Class-weighted cross-entropy: ``L = -mean_i w_{y_i} log softmax(z_i)[y_i]``.

    ``w`` = :func:`class_weights` (``beta=None``: inverse frequency; else Cui et al., CVPR 2019
    effective number of samples), mean 1 over training samples, so on the full training split
    the loss has the scale of plain CE. The mean is over nodes (not ``sum w``), as in Cui et al.
    """

    def __init__(self, beta: float | None = None):
        super().__init__()
        class_weights(torch.ones(1), beta)  # validate beta now, not at the first step
        self.beta = beta

    def extra_repr(self) -> str:
        return f"beta={self.beta}"

    def forward(self, logits: Tensor, target: Tensor, class_counts: Tensor) -> Tensor:
        _check(logits, target, class_counts, needs_counts=True)
        nll, keep, safe = _nll(F.log_softmax(logits.float(), dim=-1), target)
        w = class_weights(class_counts, self.beta).to(logits.device)
        return _masked_mean(nll * w[safe], keep)


@register_loss("focal")
class FocalLoss(nn.Module):
    """Focal loss (Lin et al., ICCV 2017): ``L = -mean_i a_{y_i} (1 - p_{i,y_i})^gamma log p_{i,y_i}``.

    Args:
        gamma: focusing parameter >= 0 (2 in the paper); ``gamma=0`` without alpha is CE.
        alpha: ``None`` (all 1), ``"balanced"`` (:func:`class_weights` of the training
            counts with ``beta``), or a sequence of C per-class weights.
        beta: passed to :func:`class_weights` when ``alpha="balanced"``.
    """

    def __init__(self, gamma: float = 2.0, alpha: str | Sequence[float] | None = None,
                 beta: float | None = None):
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if isinstance(alpha, str) and alpha != "balanced":
            raise ValueError(f"alpha must be None, 'balanced' or C weights, got {alpha!r}")
        self.gamma, self.alpha, self.beta = float(gamma), alpha, beta

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, alpha={self.alpha}"

    def _alpha(self, class_counts: Tensor | None, n_classes: int, device) -> Tensor | None:
        if self.alpha is None:
            return None
        if isinstance(self.alpha, str):
            if class_counts is None:
                raise ValueError("focal with alpha='balanced' needs class_counts")
            return class_weights(class_counts, self.beta).to(device)
        a = torch.as_tensor(self.alpha, dtype=torch.float32, device=device)
        if a.shape != (n_classes,):
            raise ValueError(f"alpha must have C={n_classes} weights, got {tuple(a.shape)}")
        return a

    def forward(self, logits: Tensor, target: Tensor, class_counts: Tensor | None = None) -> Tensor:
        _check(logits, target, class_counts)
        nll, keep, safe = _nll(F.log_softmax(logits.float(), dim=-1), target)
        # 1 - p_y = -expm1(log p_y) is exact near p_y = 1; the tiny floor keeps the gradient of
        # (1 - p)^gamma finite for gamma < 1 when p_y rounds to 1.
        one_minus_p = (-torch.expm1(-nll)).clamp_min(1e-12)
        per_node = one_minus_p.pow(self.gamma) * nll
        alpha = self._alpha(class_counts, logits.shape[1], logits.device)
        if alpha is not None:
            per_node = per_node * alpha[safe]
        return _masked_mean(per_node, keep)


@register_loss("logit_adjusted")
class LogitAdjustedCrossEntropy(nn.Module):
    """Logit-adjusted CE (Menon et al., ICLR 2021): ``L = CE(z_i + tau * log pi, y_i)``.

    ``pi`` is the training class prior ``n_c / sum n`` (counts of 0 taken as 1). The shift is
    applied inside the loss only: predict with the raw logits (``argmax z``), which then
    estimate the balanced-error-optimal classifier. ``tau=0`` is plain CE; the paper uses 1.
    """

    def __init__(self, tau: float = 1.0):
        super().__init__()
        self.tau = float(tau)

    def extra_repr(self) -> str:
        return f"tau={self.tau}"

    def forward(self, logits: Tensor, target: Tensor, class_counts: Tensor) -> Tensor:
        _check(logits, target, class_counts, needs_counts=True)
        counts = torch.as_tensor(class_counts, device=logits.device).float().clamp_min(1.0)
        adjusted = logits.float() + self.tau * torch.log(counts / counts.sum())
        nll, keep, _ = _nll(F.log_softmax(adjusted, dim=-1), target)
        return _masked_mean(nll, keep)


def class_balanced_sampler_weights(y: Tensor, mask: Tensor) -> Tensor:
    """Per-node sampling weights (N,) float64 that draw every class equally often.

    Node i in ``mask`` with label ``y_i >= 0`` gets ``1 / (K * n_{y_i})`` (K = classes present
    among those nodes, n = their count), all other nodes 0, so the weights sum to 1 and can go
    straight into ``WeightedRandomSampler(weights, num_samples, replacement=True)``.

    Example:
        >>> y, mask = torch.tensor([0, 0, 0, 1, 1, -1]), torch.tensor([1, 1, 1, 1, 0, 1]).bool()
        >>> class_balanced_sampler_weights(y, mask).tolist()
        [0.16666666666666666, 0.16666666666666666, 0.16666666666666666, 0.5, 0.0, 0.0]
    """
    y, mask = torch.as_tensor(y), torch.as_tensor(mask, dtype=torch.bool)
    if y.shape != mask.shape or y.ndim != 1:
        raise ValueError(f"y and mask must both be (N,), got {tuple(y.shape)} and {tuple(mask.shape)}")
    keep = mask & (y >= 0)
    counts = torch.bincount(y[keep], minlength=int(y.max().clamp_min(0)) + 1).double()
    n_present = int((counts > 0).sum())
    weights = torch.zeros(y.shape, dtype=torch.float64, device=y.device)
    if n_present:
        weights[keep] = 1.0 / (n_present * counts[y[keep]])
    return weights

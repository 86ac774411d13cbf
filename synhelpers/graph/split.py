"""The train / validation / test split: stratified, seeded, saved as ``split.parquet``."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from .config import SPLITS

__all__ = ["apply_label_budget", "budgeted_split", "label_budget", "make_split", "set_split",
           "split_frame", "split_with_test", "with_split"]


def make_split(
    strata: np.ndarray, fractions=(0.7, 0.15, 0.15), seed: int = 0
) -> np.ndarray:
    """Stratified, seeded split. Returns (N,) int8: 0 train, 1 val, 2 test.

    Within each stratum (e.g. a class id, -1 for unlabelled) neurons are ranked in a
    random order and cut at the cumulative fractions, so every class is spread over the
    three splits in proportion. Vectorised: one lexsort, no loop over rows.

    Example:
        >>> s = make_split(np.repeat(np.arange(3), 100), seed=0)
        >>> np.bincount(s).tolist()
        [210, 45, 45]
    """
    strata = np.asarray(strata)
    n = len(strata)
    key = np.random.default_rng(seed).random(n)
    order = np.lexsort((key, strata))
    sorted_strata = strata[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_strata)) + 1]
    counts = np.diff(np.r_[starts, n])
    stratum_of = np.repeat(np.arange(len(starts)), counts)
    rank = np.arange(n) - starts[stratum_of]
    frac = (rank + 0.5) / counts[stratum_of]
    cut = np.cumsum(fractions)[:2]
    split_sorted = (frac >= cut[0]).astype(np.int8) + (frac >= cut[1]).astype(np.int8)
    out = np.empty(n, np.int8)
    out[order] = split_sorted
    return out


def set_split(data: Data, split: np.ndarray) -> None:
    """Set ``train_mask``, ``val_mask``, ``test_mask`` (N,) bool from split codes 0, 1, 2."""
    split_t = torch.from_numpy(np.asarray(split))
    for i, name in enumerate(SPLITS):
        data[f"{name}_mask"] = split_t == i


def split_frame(data: Data) -> pd.DataFrame:
    """The split as a table: ``bodyId``, ``split`` ('train' | 'val' | 'test'), and, after
    :func:`apply_label_budget`, ``labelled`` (bool: the training neurons whose label is used)."""
    split = np.full(data.num_nodes, "", dtype=object)
    for name in SPLITS:
        split[data[f"{name}_mask"].numpy()] = name
    if "labelled_mask" in data:  # the training neurons left out of the budget are in no mask
        split[split == ""] = "train"
    out = pd.DataFrame({"bodyId": data.body_id.numpy(), "split": split})
    if "labelled_mask" in data:
        out["labelled"] = data.labelled_mask.numpy()
    return out


def label_budget(y: np.ndarray, train_mask: np.ndarray, fraction: float | None = None,
                 per_class: int | None = None, seed: int = 0) -> np.ndarray:
    """The few labels a user has: a stratified, seeded subset of the labelled training neurons.

    Exactly one of ``fraction`` (of each class's labelled training neurons, rounded, at least
    one per class so every class is seen) or ``per_class`` (that many per class, or all a class
    has if fewer). Within each class neurons are taken in a random order drawn from ``seed``,
    so a smaller budget with the same seed is a subset of a larger one. Vectorised (one lexsort).

    Honest model selection with few labels: the budget applies to the training split only; the
    validation split is left whole and is what every choice (C, epochs, steps) is made on, and
    the test split is scored once. That measures what few *training* labels cost, not what a
    user with as few labels in total could select; such a user applies this function to the
    validation mask as well (same seed), and then expects a noisier choice.

    Args:
        y: (N,) int class ids, -1 unlabelled.
        train_mask: (N,) bool, the training split.
        fraction: in (0, 1]; 1 keeps every labelled training neuron.
        per_class: >= 1.
        seed: the draw.

    Returns:
        (N,) bool: True for the training neurons whose label is used (a subset of
        ``train_mask & (y >= 0)``).

    Example:
        >>> y = np.repeat([0, 1, 2], [100, 50, 3])
        >>> np.bincount(y[label_budget(y, np.ones(153, bool), fraction=0.1)]).tolist()
        [10, 5, 1]
        >>> np.bincount(y[label_budget(y, np.ones(153, bool), per_class=4)]).tolist()
        [4, 4, 3]
    """
    if (fraction is None) == (per_class is None):
        raise ValueError("label_budget: give exactly one of fraction or per_class")
    if fraction is not None and not 0.0 < fraction <= 1.0:
        raise ValueError(f"label_budget: fraction must be in (0, 1]; got {fraction}")
    if per_class is not None and per_class < 1:
        raise ValueError(f"label_budget: per_class must be >= 1; got {per_class}")
    y = np.asarray(y)
    pool = np.flatnonzero(np.asarray(train_mask, bool) & (y >= 0))
    cls = y[pool]
    order = np.lexsort((np.random.default_rng(seed).random(len(pool)), cls))
    cls_sorted = cls[order]
    starts = np.r_[0, np.flatnonzero(np.diff(cls_sorted)) + 1] if len(pool) else np.zeros(0, int)
    counts = np.diff(np.r_[starts, len(pool)])
    group = np.repeat(np.arange(len(starts)), counts)
    rank = np.arange(len(pool)) - starts[group]
    if fraction is not None:
        take = np.maximum(1, np.floor(fraction * counts + 0.5)).astype(int)
    else:
        take = np.minimum(per_class, counts)
    out = np.zeros(len(y), bool)
    out[pool[order[rank < take[group]]]] = True
    return out


def apply_label_budget(data: Data, labelled: np.ndarray) -> Data:
    """A shallow copy of ``data`` whose training split is only the ``labelled`` neurons.

    ``train_mask`` becomes ``train_mask & labelled`` (the other training neurons stay in the
    graph, unlabelled, in no split); ``labelled_mask`` (N,) bool is kept so that
    :func:`split_frame` saves it as the ``labelled`` column of ``split.parquet``. Validation
    and test are unchanged.
    """
    out = copy.copy(data)
    lab = torch.as_tensor(np.asarray(labelled, bool))
    out.labelled_mask = lab
    out.train_mask = data.train_mask & lab
    return out


def split_with_test(strata, fractions, seed: int, test=None) -> np.ndarray:
    """:func:`make_split`, or with ``test`` (N,) bool: those neurons are the test split and the
    rest is split train/validation in the ratio of the first two fractions."""
    if test is None or not bool(np.asarray(test).any()):
        return make_split(strata, fractions, seed)
    test = np.asarray(test, bool)
    tr, va = fractions[0], fractions[1]
    out = np.full(len(strata), 2, np.int8)
    out[~test] = make_split(np.asarray(strata)[~test], (tr / (tr + va), va / (tr + va), 0.0), seed)
    return out


def with_split(data, k: int):
    """``data`` with its ``k``-th split: 0 is the graph's own, ``k >= 1`` is drawn like it (same
    strata and fractions, a held-out connectome stays the test split) with split seed + k."""
    if k == 0:
        return data
    out = copy.copy(data)
    fractions = getattr(data, "split_fractions", (0.7, 0.15, 0.15))
    fixed = getattr(data, "split_fixed_test", None)
    split = split_with_test(data.split_strata.numpy(), fractions,
                            int(getattr(data, "split_seed", 0)) + k,
                            None if fixed is None else fixed.numpy())
    set_split(out, split)
    return out


def budgeted_split(data, k: int, column: str, fraction: float | None = None,
                   per_class: int | None = None):
    """Split ``k`` of ``data`` (:func:`with_split`) with a label budget on its training split,
    stratified on ``column`` and drawn with seed ``k`` (:func:`label_budget`), so that every
    command given the same budget (``train``, ``baseline``, the benchmarks) uses the same
    labelled neurons; without a budget (both None), split ``k`` as it is."""
    data = with_split(data, k)
    if fraction is None and per_class is None:
        return data
    y = data[f"y_{column}"].numpy()
    return apply_label_budget(data, label_budget(y, data.train_mask.numpy(), fraction, per_class,
                                                 seed=k))

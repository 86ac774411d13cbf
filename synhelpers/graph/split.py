"""The train / validation / test split: stratified, seeded, saved as ``split.parquet``."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from .config import SPLITS

__all__ = ["make_split", "set_split", "split_frame", "split_with_test", "with_split"]


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
    """The split as a table: ``bodyId``, ``split`` ('train' | 'val' | 'test')."""
    split = np.full(data.num_nodes, "", dtype=object)
    for name in SPLITS:
        split[data[f"{name}_mask"].numpy()] = name
    return pd.DataFrame({"bodyId": data.body_id.numpy(), "split": split})


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

"""Harmless quirks of real tables, fixed with a one-line report instead of refused.

:func:`synhelpers.from_frames` and :func:`synhelpers.load_tables` apply these (after the
column checks, before the value checks); :func:`synhelpers.tables.contract.validate_tables`
alone does not change anything. Each fix is reported as a :class:`TableNotice` (a
``UserWarning``: the command line prints it as one ``warning:`` line; in Python,
``warnings.simplefilter("ignore", TableNotice)`` silences it):

- **duplicate connection rows**, the same ``(bodyId_pre, bodyId_post)`` (or ``(bodyId_pre,
  bodyId_post, roi)`` when the table has ``roi``) on several rows, are merged into one row
  whose ``weight`` is their sum (the first row's other columns are kept), as the graph builder
  always summed them; the notice gives the count. Rows of one pair in *different* ROIs are
  not duplicates: they are the per-ROI split of one connection.
- **self-coupled gap junctions** (``bodyId_a == bodyId_b``, listed by real C. elegans tables)
  are dropped, with their count: a gap junction joins two neurons, and a self-loop carries no
  information for a GNN. A table left empty counts as no gap-junction table.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = ["TableNotice", "merge_duplicate_connections", "drop_self_gap_junctions", "notice"]


class TableNotice(UserWarning):
    """Input was normalised (rows merged or dropped, names normalised) or looks thin; the
    message says what, how many and in which file."""


def notice(message: str) -> None:
    """Report a :class:`TableNotice` (pointing at the caller's caller)."""
    warnings.warn(message, TableNotice, stacklevel=3)


def merge_duplicate_connections(connections: pd.DataFrame, file: str) -> pd.DataFrame:
    """``connections`` with rows of one ``(pre, post[, roi])`` merged (weights summed).

    Example:
        >>> import warnings
        >>> c = pd.DataFrame({"bodyId_pre": [1, 1, 2], "bodyId_post": [2, 2, 1], "weight": [3, 4, 1]})
        >>> with warnings.catch_warnings(record=True) as w:
        ...     warnings.simplefilter("always")
        ...     merged = merge_duplicate_connections(c, "c.parquet")
        >>> merged["weight"].tolist(), str(w[0].message).split(";")[0]
        ([7, 1], 'c.parquet: 1 duplicate connection row(s) merged into 1 row(s) by summing their weights')
    """
    cols = ["bodyId_pre", "bodyId_post"] + (["roi"] if "roi" in connections.columns else [])
    keys = connections[cols]
    try:
        dup = keys.duplicated().to_numpy()
    except TypeError:  # unhashable ROI values (lists ...): compare their text
        keys = keys.assign(roi=keys["roi"].astype(str))
        dup = keys.duplicated().to_numpy()
    if not dup.any():
        return connections
    # group number of each row, in order of first appearance (= the order of the kept rows)
    key = keys.groupby(cols, sort=False, dropna=False).ngroup().to_numpy()
    weight = connections["weight"]
    summed = np.bincount(key, weights=weight.to_numpy(np.float64))
    if summed.max() >= 2.0**53:
        summed = pd.Series(weight.to_numpy(np.int64)).groupby(key).sum().to_numpy()
    out = connections.loc[~dup].copy()
    out["weight"] = summed.astype(weight.dtype)
    n_pairs = len(np.unique(key[dup]))
    notice(f"{file}: {int(dup.sum()):,} duplicate connection row(s) merged into {n_pairs:,} "
           f"row(s) by summing their weights; same {', '.join(cols)} (if they are copies of "
           "one another, drop them with .drop_duplicates() first)")
    return out.reset_index(drop=True)


def drop_self_gap_junctions(gaps: pd.DataFrame, file: str) -> pd.DataFrame | None:
    """``gaps`` without the rows coupling a neuron to itself (``None`` if nothing is left).

    Example:
        >>> import warnings
        >>> g = pd.DataFrame({"bodyId_a": [1, 2], "bodyId_b": [1, 3], "weight": [2, 5]})
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     drop_self_gap_junctions(g, "g.parquet")["bodyId_a"].tolist()
        [2]
    """
    same = (gaps["bodyId_a"].to_numpy(np.int64) == gaps["bodyId_b"].to_numpy(np.int64))
    if not same.any():
        return gaps
    kept = gaps.loc[~same].reset_index(drop=True)
    notice(f"{file}: {int(same.sum()):,} self-coupled gap junction row(s) (bodyId_a == bodyId_b) "
           f"dropped, {len(kept):,} kept; a gap junction joins two neurons")
    return kept if len(kept) else None

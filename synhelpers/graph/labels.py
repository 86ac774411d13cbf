"""Label columns -> integer class ids; classes below a minimum count are masked, never merged."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["codes_of", "encode_labels"]


def codes_of(values, categories) -> np.ndarray:
    """Position of each value in ``categories``; -1 for missing or unknown values."""
    return pd.Index(list(categories)).get_indexer(pd.Series(values).astype(object)).astype(np.int64)


def encode_labels(values: pd.Series, min_count: int, *, column: str = "label",
                  file: str = "<neurons frame>") -> tuple[np.ndarray, list[str], dict]:
    """Integer ids (-1 masked) and class names; classes below ``min_count`` are masked.

    Names are normalised first (:func:`synhelpers.tables.labels.normalise_labels`: stripped,
    Unicode NFC; names differing only in case are a ``TableError`` naming ``file`` and
    ``column``)."""
    from ..tables.labels import normalise_labels

    s = normalise_labels(values, column, file)  # missing stays <NA>
    counts = s.value_counts(dropna=True)
    keep = counts[counts >= min_count]
    names = sorted(str(k) for k in keep.index)
    codes = codes_of(s, names).astype(np.int64)  # -1 if missing/dropped
    info = {
        "n_labelled": int(s.notna().sum()),
        "n_unlabelled": int(s.isna().sum()),
        "dropped_classes": {str(k): int(v) for k, v in counts[counts < min_count].items()},
        "n_masked_small_class": int(counts[counts < min_count].sum()),
    }
    return codes, names, info

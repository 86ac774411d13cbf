"""Label columns of the neurons table: which ones to propose, and whether a named one is usable.

A label column is any column of ``neurons`` whose values are class names (``cell_class``,
``predictedNt``, ...). A missing value or a blank string means "unlabelled", as in the graph
builder, which masks such neurons out of the loss.
"""

from __future__ import annotations

import pandas as pd

from .checks import TableError

__all__ = ["LABEL_COLUMNS", "label_columns", "check_label_column"]

#: Well-known label columns, in the order :func:`label_columns` proposes them: cell-class
#: labels from coarse to fine (hemibrain annotations and this project's ``cell_class``,
#: MANC's ``class``, FlyWire's ``super_class``, MANC's ``subclass``), then cell types
#: (FlyWire's ``cell_type``, neuPrint's ``type``), then neurotransmitters (neuPrint's
#: ``predictedNt``, FlyWire's ``top_nt``, then the generic ``nt`` and ``neurotransmitter``).
LABEL_COLUMNS = (
    "cell_class", "class", "super_class", "subclass",
    "cell_type", "type",
    "predictedNt", "top_nt", "nt", "neurotransmitter",
)


def _n_labelled(values: pd.Series) -> int:
    """Number of non-missing, non-blank values."""
    s = values.astype("string").str.strip()
    return int((s.notna() & (s != "")).sum())


def label_columns(neurons: pd.DataFrame) -> list[str]:
    """The well-known label columns (:data:`LABEL_COLUMNS`, in that order) that ``neurons`` has
    and that label at least one neuron; what to use when the user names no label column.

    Example:
        >>> n = pd.DataFrame({"bodyId": [1, 2], "type": ["KC", None],
        ...                   "predictedNt": ["ACh", "GABA"], "class": [None, " "]})
        >>> label_columns(n)
        ['type', 'predictedNt']
    """
    return [c for c in LABEL_COLUMNS if c in neurons.columns and _n_labelled(neurons[c]) > 0]


def check_label_column(neurons: pd.DataFrame, col: str, file: str = "<neurons frame>") -> None:
    """Raise a :class:`TableError` unless ``col`` is a column of ``neurons`` labelling a neuron.

    Args:
        neurons: the neurons table.
        col: the label column the user asked for.
        file: the table's file (or frame label) for the message.

    Raises:
        TableError: the column is missing (the message lists the columns that exist and the
            well-known label columns among them), or every value is missing or blank.

    Example:
        >>> n = pd.DataFrame({"bodyId": [1, 2], "cell_class": [None, ""]})
        >>> check_label_column(n, "cell_class")
        Traceback (most recent call last):
        ...
        synhelpers.tables.checks.TableError: <neurons frame>, column 'cell_class': label column 'cell_class' labels no neuron: all 2 values are missing or blank
    """
    if col not in neurons.columns:
        raise TableError(
            f"label column {col!r} is not in the neurons table; its columns are "
            f"{list(neurons.columns)} (well-known label columns among them: "
            f"{label_columns(neurons)})", file=file, column=col)
    if _n_labelled(neurons[col]) == 0:
        raise TableError(f"label column {col!r} labels no neuron: all {len(neurons):,} values "
                         "are missing or blank", file=file, column=col)

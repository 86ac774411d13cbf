"""Label columns of the neurons table: which ones to propose, and whether a named one is usable.

A label column is any column of ``neurons`` whose values are class names (``cell_class``,
``predictedNt``, ...). A missing value or a blank string means "unlabelled", as in the graph
builder, which masks such neurons out of the loss.

Class names are compared after :func:`normalise_labels`: surrounding blanks stripped and
Unicode NFC normalisation (one name typed in two Unicode forms, e.g. a precomposed ``é`` and
``e`` + a combining accent, is one class; the count of values changed is reported). Names
that differ only in case (``KC`` and ``kc``) are refused in one line naming both: they may be
one class mistyped or two real classes, and only the user can tell.
"""

from __future__ import annotations

import unicodedata

import pandas as pd

from .checks import TableError

__all__ = ["LABEL_COLUMNS", "label_columns", "check_label_column", "normalise_labels"]

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


def normalise_labels(values: pd.Series, column: str, file: str = "<neurons frame>") -> pd.Series:
    """Class names as a ``string`` Series: stripped, Unicode NFC; blank -> missing.

    Reports (:class:`~synhelpers.tables.normalise.TableNotice`) how many values NFC changed.

    Raises:
        TableError: two class names differ only in case (one line naming the column, the
            variants and their counts).

    Example:
        >>> normalise_labels(pd.Series([" KC", "MBON", None, ""]), "type").tolist()
        ['KC', 'MBON', <NA>, <NA>]
        >>> normalise_labels(pd.Series(["KC", "kc", "KC"]), "type")
        Traceback (most recent call last):
        ...
        synhelpers.tables.checks.TableError: <neurons frame>, column 'type': class names differ only in case: 'KC' (2) vs 'kc' (1); make them one name in the neurons table (or keep them apart by more than case); with several connectomes, build --label-map harmonises names
    """
    from .normalise import notice

    s = values.astype("string").str.strip().replace("", pd.NA)
    names = pd.Series(s.dropna().unique(), dtype="string")
    nfc = names.map(lambda v: unicodedata.normalize("NFC", v)).astype("string")
    changed = names[names != nfc]
    if len(changed):
        mapping = dict(zip(changed, nfc[names != nfc]))
        n_changed = int(s.isin(list(mapping)).sum())
        s = s.replace(mapping)
        notice(f"{file}, column {column!r}: {n_changed:,} label value(s) written in another "
               f"Unicode form normalised to NFC (e.g. {next(iter(mapping))!r})")
        names = pd.Series(pd.unique(nfc), dtype="string")
    folded = names.str.casefold()
    clash = folded[folded.duplicated(keep=False)]
    if len(clash):
        counts = s.value_counts()
        group = names[folded == clash.iloc[0]]
        shown = " vs ".join(f"{v!r} ({int(counts[v])})" for v in group)
        raise TableError(f"class names differ only in case: {shown}; make them one name in the "
                         "neurons table (or keep them apart by more than case); with several "
                         "connectomes, build --label-map harmonises names", file=file, column=column)
    return s

"""The per-neuron predictions table that ``predict`` writes, as the viewers read it.

``predictions.parquet`` has one row per neuron:

=========================  ==========  =====================================================
column                     dtype       meaning
=========================  ==========  =====================================================
``bodyId``                 int64       the neuron
``connectome``             str         dataset name (e.g. ``"hemibrain:v1.2.1"``)
``split``                  str         one of ``train``, ``val``, ``test``, ``unlabelled``
``L__true``                str / null  published label of label column ``L``, if any
``L__pred``                str         predicted class
``L__prob``                float32     probability of the predicted class
``L__top3_classes``        list<str>   the three most probable classes
``L__top3_probs``          list<f32>   their probabilities
``L__entropy``             float32     entropy of the predicted distribution (nats)
``L__p__<class>``          float32     probability of each class of ``L`` (one column per
                                       class, the run's class order; a row sums to 1)
``L__set``                 list<str>   with ``predict --coverage``: the conformal prediction
                                       set (:mod:`synhelpers.answers.conformal`)
``L__set_size``            int32       its size
``L__answer``              str         its one class, or ``"unknown"``
=========================  ==========  =====================================================

for each label column ``L`` (``cell_class``, ``predictedNt``, ...). The Parquet schema
metadata key ``synhelpers`` holds JSON with ``model``, ``seeds``, ``combine``,
``label_columns``, ``label_names`` and, with ``--coverage``, ``conformal``: per label column
the target, the threshold, the calibration neurons and the empirical coverage per split and
class.

- :func:`read_predictions`: read the file and its metadata.
- :func:`check_predictions`: check the columns one label needs (clear errors).
- :func:`fake_predictions`: a small table in this schema made from a connectome's own labels,
  for tests and demonstrations before a model exists.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["SPLITS", "SUFFIXES", "read_predictions", "write_predictions", "check_predictions",
           "fake_predictions"]

#: Allowed values of the ``split`` column.
SPLITS = ("train", "val", "test", "unlabelled")
#: Column suffixes written for each label column.
SUFFIXES = ("true", "pred", "prob", "top3_classes", "top3_probs", "entropy")
#: Parquet schema-metadata key holding the run description.
META_KEY = b"synhelpers"


def read_predictions(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """Read ``predictions.parquet``; return the table and the ``synhelpers`` metadata dict.

    Returns:
        ``(df, meta)``: the table (module docstring; ``pandas.read_parquet`` gives the same)
        and the run description (``model``, ``seeds``, ``combine``, ``label_columns`` ...;
        ``{}`` for a file without it).

    Raises:
        FileNotFoundError: ``path`` does not exist.

    Example:
        >>> import tempfile
        >>> p = fake_predictions(pd.DataFrame({"bodyId": [1, 2], "cell_class": ["A", "B"]}),
        ...                      ["cell_class"])
        >>> with tempfile.TemporaryDirectory() as d:
        ...     df, meta = read_predictions(write_predictions(p, Path(d) / "predictions.parquet"))
        >>> df["bodyId"].tolist(), meta["label_columns"]
        ([1, 2], ['cell_class'])
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(META_KEY)
    meta = json.loads(raw) if raw else {}
    return table.to_pandas(), meta


def write_predictions(df: pd.DataFrame, path: str | Path, meta: dict | None = None) -> Path:
    """Write ``df`` to ``path`` as Parquet with ``meta`` (default ``df.attrs["synhelpers"]``)
    under the schema-metadata key ``synhelpers``, atomically. Returns the path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..io import atomic_path

    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = meta if meta is not None else df.attrs.get("synhelpers", {})
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           META_KEY: json.dumps(meta).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def check_predictions(df: pd.DataFrame, label: str, *, source: str = "<predictions>") -> None:
    """Raise ``ValueError`` unless ``df`` has what a view of label column ``label`` needs.

    Needs ``bodyId`` (unique integers), ``split`` with values in :data:`SPLITS`, and
    ``{label}__pred`` / ``{label}__prob``; ``{label}__true`` is optional.

    Example:
        >>> df = pd.DataFrame({"bodyId": [1], "split": ["test"]})
        >>> try:
        ...     check_predictions(df, "cell_class")
        ... except ValueError as e:
        ...     print(e)
        <predictions>: missing column(s) ['cell_class__pred', 'cell_class__prob']; label ...
    """
    need = ["bodyId", "split", f"{label}__pred", f"{label}__prob"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        labels = sorted({c.split("__")[0] for c in df.columns if c.endswith("__pred")})
        raise ValueError(f"{source}: missing column(s) {missing}; label columns present: "
                         f"{labels} (pass one of them as label=)")
    if not pd.api.types.is_integer_dtype(df["bodyId"]):
        raise ValueError(f"{source}: column 'bodyId' has dtype {df['bodyId'].dtype}, expected int64")
    dup = df["bodyId"].duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)[:5].tolist()
        raise ValueError(f"{source}: column 'bodyId' has {int(dup.sum())} duplicated row(s), "
                         f"first rows {rows}")
    bad = ~df["split"].isin(SPLITS).to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(f"{source}: column 'split' has values outside {list(SPLITS)} in rows "
                         f"{rows} (e.g. {df['split'].iloc[rows[0]]!r})")
    if df[f"{label}__pred"].isna().any():
        rows = np.flatnonzero(df[f"{label}__pred"].isna().to_numpy())[:5].tolist()
        raise ValueError(f"{source}: column '{label}__pred' has missing values in rows {rows}")


def fake_predictions(neurons: pd.DataFrame, label_columns=("cell_class", "predictedNt"), *,
                     accuracy: float = 0.8, connectome: str = "synthetic", seed: int = 0
                     ) -> pd.DataFrame:
    """A predictions table in the agreed schema, made from ``neurons``' own labels.

    Each neuron's predicted class is its published label with probability ``accuracy``
    (otherwise another class; the most frequent class where the label is missing); the class
    probabilities are a Dirichlet draw sharpened towards the prediction. Splits are 60/20/20
    among labelled neurons (of the first label column) and ``unlabelled`` elsewhere.
    Metadata for the Parquet file is in ``df.attrs["synhelpers"]``.

    Example:
        >>> n = pd.DataFrame({"bodyId": [1, 2, 3], "cell_class": ["A", "B", None]})
        >>> p = fake_predictions(n, ["cell_class"])
        >>> p[["bodyId", "split"]].to_dict("list")
        {'bodyId': [1, 2, 3], 'split': ['train', 'test', 'unlabelled']}
        >>> p["cell_class__pred"].isin(["A", "B"]).all(), p["cell_class__prob"].dtype
        (np.True_, dtype('float32'))
    """
    rng = np.random.default_rng(seed)
    n = len(neurons)
    out = {"bodyId": neurons["bodyId"].to_numpy(np.int64), "connectome": connectome}
    labelled = neurons[label_columns[0]].notna().to_numpy()
    split = np.full(n, "unlabelled", dtype=object)
    order = np.flatnonzero(labelled)
    cut = np.cumsum(np.round(np.array([0.6, 0.2]) * len(order)).astype(int))
    for name, idx in zip(("train", "val", "test"), np.split(order, cut)):
        split[idx] = name
    out["split"] = split
    for col in label_columns:
        out.update(_fake_label(neurons[col], col, accuracy, rng))
    df = pd.DataFrame(out)
    df.attrs["synhelpers"] = {"model": "fake", "seeds": [seed], "combine": "none",
                              "label_columns": list(label_columns)}
    return df


def _fake_label(true: pd.Series, col: str, accuracy: float, rng) -> dict:
    """The six columns of one label: vectorised over neurons."""
    classes = np.array(sorted(true.dropna().astype(str).unique()), dtype=object)
    k, n = len(classes), len(true)
    known = true.notna().to_numpy()
    code = np.full(n, int(np.argmax(true.value_counts().reindex(classes).to_numpy())))
    code[known] = np.searchsorted(classes, true[known].astype(str).to_numpy())
    wrong = rng.random(n) >= accuracy
    pred = np.where(wrong, (code + rng.integers(1, max(k, 2), n)) % k, code)
    probs = rng.dirichlet(np.ones(k), n)
    probs[np.arange(n), pred] += 2.0 + rng.random(n) * 4.0  # make the prediction the argmax
    probs /= probs.sum(1, keepdims=True)
    top3 = np.argsort(-probs, axis=1)[:, :3]
    top3_p = np.take_along_axis(probs, top3, axis=1).astype(np.float32)
    entropy = -(probs * np.log(np.clip(probs, 1e-12, None))).sum(1)
    return {
        f"{col}__true": true.astype(object).where(known, None).to_numpy(),
        f"{col}__pred": classes[pred],
        f"{col}__prob": probs[np.arange(n), pred].astype(np.float32),
        f"{col}__top3_classes": list(classes[top3]),
        f"{col}__top3_probs": list(top3_p),
        f"{col}__entropy": entropy.astype(np.float32),
    }

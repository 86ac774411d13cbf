"""``predict``: one row per neuron with every label column's answer, as ``predictions.parquet``.

The table follows the schema of :mod:`synhelpers.answers.prediction_table` (the viewers read
it): ``bodyId``, ``connectome``, ``split`` (``train``/``val``/``test``/``unlabelled``) and per
label column ``L``: ``L__true`` (published label, where known), ``L__pred``, ``L__prob``,
``L__top3_classes``, ``L__top3_probs``, ``L__entropy`` (nats). Every neuron is there,
unlabelled ones included.

Seeds: ``combine="mean"`` (default) averages the softmax probabilities of the seeds trained on
the graph's own split (split 0). Seeds of the other splits (``train --splits K``) are left out:
they were trained on neurons that split 0 tests, so averaging them in would leak test labels
into the ``test`` rows. ``combine="none"`` uses the first seed alone, so its ``test`` rows
reproduce that seed's ``test_macro_f1`` in ``metrics.json`` exactly (``tests/test_answers.py``).

The Parquet metadata (key ``synhelpers``) holds the model, run, seeds, how they were combined,
the label columns and their classes, both fingerprints and what aligning a new connectome did.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import ConfigError
from ..train.metrics import macro_f1
from .conformal import conformal_threshold, coverage_report, prediction_sets, set_columns
from .load import LoadedRun, PreparedGraph, load_run, prepare_graph

__all__ = ["predict", "seed_probabilities", "label_answer", "test_scores", "COMBINE",
           "write_predictions"]

#: How the seeds' probabilities are combined.
COMBINE = ("mean", "none")


def seed_probabilities(run: LoadedRun, graph) -> dict[str, np.ndarray]:
    """``{label column: (S, N, C) float64}``: every seed's softmax probabilities on ``graph``
    (eval mode, no dropout, on the models' device)."""
    device = next(run.model.parameters()).device
    graph = graph.to(device)
    out: dict[str, list] = {c: [] for c in run.label_columns}
    with torch.no_grad():
        for model in run.models:
            logits = model.eval()(graph)
            for c in run.label_columns:
                out[c].append(torch.softmax(logits[c].double(), dim=-1).cpu().numpy())
    return {c: np.stack(v) for c, v in out.items()}


def label_answer(col: str, probs: np.ndarray, classes, true: np.ndarray) -> dict:
    """The columns of label column ``col`` from probabilities ``probs`` (N, C): the six of
    :mod:`~synhelpers.answers.prediction_table` and one probability per class,
    ``{col}__p__{class}`` (float32, in the run's class order; each row sums to 1).

    Example:
        >>> a = label_answer("c", np.array([[0.7, 0.2, 0.1]]), ["x", "y", "z"], np.array([None]))
        >>> a["c__pred"].tolist(), a["c__top3_classes"][0].tolist(), round(float(a["c__entropy"][0]), 3)
        (['x'], ['x', 'y', 'z'], 0.802)
    """
    classes = np.asarray(classes, dtype=object)
    n, k = probs.shape[0], min(3, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]  # ties: the lower class id first
    top_p = np.take_along_axis(probs, top, axis=1)
    entropy = -(probs * np.log(np.clip(probs, 1e-300, None))).sum(1)
    return {
        f"{col}__true": np.where(pd.notna(true), true, None).astype(object),
        f"{col}__pred": classes[top[:, 0]],
        f"{col}__prob": top_p[:, 0].astype(np.float32),
        f"{col}__top3_classes": list(classes[top]) if n else [],
        f"{col}__top3_probs": list(top_p.astype(np.float32)) if n else [],
        f"{col}__entropy": entropy.astype(np.float32),
        **{f"{col}__p__{name}": probs[:, i].astype(np.float32) for i, name in enumerate(classes)},
    }


def _combine(probs: np.ndarray, combine: str) -> np.ndarray:
    """(S, N, C) -> (N, C): the mean over seeds, or the first seed."""
    return probs.mean(0) if combine == "mean" else probs[0]


def _metadata(run: LoadedRun, prep: PreparedGraph, combine: str) -> dict:
    return {
        "model": run.model_name, "run": run.path.name, "mode": run.mode, "split": run.split,
        "seeds": run.seeds if combine == "mean" else run.seeds[:1], "combine": combine,
        "label_columns": run.label_columns,
        "label_names": {c: list(prep.graph.label_names[c]) for c in run.label_columns},
        "run_fingerprint": run.fingerprint, "data_fingerprint": prep.fingerprint,
        "new_connectome": prep.new_connectome,
        "alignment": prep.alignment.summary() if prep.alignment else None,
        "label_context": (None if not run.train_config.label_context else
                          "none (a connectome the run never saw)" if prep.new_connectome else
                          "the labelled training neurons of the run's graph"),
    }


def predict(run, data, *, combine: str = "mean", new_connectome: bool = False,
            coverage: float | None = None) -> pd.DataFrame:
    """Answer every label column of ``run`` for every neuron of ``data``.

    Args:
        run: a :class:`~synhelpers.answers.load.LoadedRun` or a run folder.
        data: the graph the run was trained on (a ``Data``, graph or tables folder) or, with
            ``new_connectome=True``, a connectome it never saw (inductive models only).
        combine: ``"mean"`` of the split-0 seeds' probabilities, or ``"none"`` (first seed).
        coverage: None, or a target in (0, 1) for split-conformal prediction sets calibrated on
            the run's validation split (:mod:`~synhelpers.answers.conformal`): adds
            ``L__set``, ``L__set_size`` and ``L__answer`` (``"unknown"`` unless the set holds
            one class), and the empirical coverage per split and class to the metadata.

    Returns:
        A DataFrame with one row per neuron of ``data`` (unlabelled ones included):
        ``bodyId``, ``connectome``, ``split`` and, per label column ``L``, ``L__true``,
        ``L__pred``, ``L__prob``, ``L__top3_classes``, ``L__top3_probs``, ``L__entropy``
        (module docstring) and ``L__p__<class>`` for every class; the run's description in
        ``df.attrs["synhelpers"]``.

    Raises:
        RunError: another graph without ``new_connectome``, or a model that cannot answer there.

    Example:
        Needs a trained run, e.g. from the README's ``train`` command.

        >>> df = predict("runs/hybrid", "data/synthetic/graph")  # doctest: +SKIP
        >>> df.columns[:5].tolist()  # doctest: +SKIP
        ['bodyId', 'connectome', 'split', 'cell_class__true', 'cell_class__pred']
        >>> write_predictions(df, "runs/hybrid/predictions.parquet")  # doctest: +SKIP
        PosixPath('runs/hybrid/predictions.parquet')
    """
    if combine not in COMBINE:
        raise ConfigError(f"combine={combine!r}; choose one of {', '.join(COMBINE)}")
    run = run if isinstance(run, LoadedRun) else load_run(run)
    prep = prepare_graph(run, data, new_connectome=new_connectome)
    probs = seed_probabilities(run, prep.graph)
    out = {"bodyId": prep.graph.body_id.numpy().astype(np.int64), "connectome": prep.connectome,
           "split": prep.split}
    if coverage is not None and prep.new_connectome:
        raise ConfigError("--coverage calibrates on the run's own validation split; it is not "
                          "valid on a connectome the run never saw (drop --coverage)")
    meta = _metadata(run, prep, combine)
    for c in run.label_columns:
        p, classes = _combine(probs[c], combine), list(prep.graph.label_names[c])
        out.update(label_answer(c, p, classes, prep.true_labels[c]))
        if coverage is not None:
            cols, report = _conformal(c, p, classes, prep, coverage)
            out.update(cols)
            meta.setdefault("conformal", {})[c] = report
    df = pd.DataFrame(out)
    df.attrs["synhelpers"] = meta
    return df


def _conformal(col: str, probs: np.ndarray, classes: list[str], prep: PreparedGraph,
               coverage: float) -> tuple[dict, dict]:
    """The prediction-set columns of ``col`` and their report: the threshold calibrated on the
    validation split, and the empirical coverage on each split's labelled neurons."""
    y = pd.Index(classes).get_indexer(pd.Series(prep.true_labels[col]).astype(object))
    known = y >= 0
    val = known & (prep.split == "val")
    q = conformal_threshold(probs[val], y[val], coverage)
    sets = prediction_sets(probs, q)
    report = {"target": coverage, "threshold": q, "calibration_neurons": int(val.sum()),
              "calibrated_on": "val"}
    for split in ("val", "test"):
        rows = known & (prep.split == split)
        report[split] = coverage_report(sets[rows], y[rows], classes)
    return set_columns(col, sets, classes), report


def test_scores(df: pd.DataFrame, classes: dict[str, list[str]], split: str = "test") -> dict:
    """``{column: (macro-F1, neurons scored)}`` on the rows of ``split`` whose published class is
    one the run knows (``classes``, e.g. ``meta["label_names"]``); macro-F1 as in training
    (:func:`~synhelpers.train.metrics.macro_f1`)."""
    res = {}
    rows = df["split"].to_numpy() == split
    for c, names in classes.items():
        index = pd.Index(list(names))
        true = index.get_indexer(df[f"{c}__true"].astype(object))
        pred = index.get_indexer(df[f"{c}__pred"].astype(object))
        keep = rows & (true >= 0)
        res[c] = (macro_f1(true[keep], pred[keep]), int(keep.sum()))
    return res


def write_predictions(df: pd.DataFrame, path) -> Path:
    """Write ``df`` to ``path`` (Parquet, metadata from ``df.attrs``); plain
    ``pandas.read_parquet`` reads it back."""
    from .prediction_table import write_predictions as write

    return write(df, path)

"""The neurons table of the synthetic connectome: published (noisy) labels, types, somata,
and the ceiling that label noise puts on any model's score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from .config import BOX, CLASS_NAMES, NEUROTRANSMITTERS, SyntheticConfig
from .design import Design
from .frames import Frame

__all__ = ["body_ids", "neurons_table", "ceiling_of"]


def body_ids(rng, n: int) -> np.ndarray:
    """``n`` unique int64 bodyIds in neuPrint's range (2e8 .. 7e9), in random order."""
    ids = np.unique(rng.integers(200_000_000, 7_000_000_000, size=n + n // 10 + 16))
    ids = rng.permutation(ids)[:n]
    if len(ids) < n:  # pragma: no cover - astronomically unlikely
        raise RuntimeError("could not draw unique body ids")
    return ids.astype(np.int64)


def _published_labels(cfg: SyntheticConfig, rng, cls, nt_true):
    """Labels as published: a fraction flipped to another class, some cell classes left empty."""
    n, k = cfg.n_neurons, cfg.n_classes
    flip = rng.random(n) < cfg.label_noise
    published = cls.copy()
    published[flip] = (cls[flip] + rng.integers(1, k, flip.sum())) % k
    cell_class = np.array(CLASS_NAMES[:k], dtype=object)[published].astype(object)
    cell_class[rng.random(n) < cfg.unlabelled_fraction] = None
    nt_flip = rng.random(n) < cfg.nt_label_noise
    nt_pub = nt_true.copy()
    nt_pub[nt_flip] = (nt_true[nt_flip] + rng.integers(1, 6, nt_flip.sum())) % 6
    return cell_class, nt_pub


def _soma_locations(rng, d: Design, cls, frame: Frame) -> pd.Series:
    """neuPrint-style ``somaLocation``: a list [x, y, z] in voxels, or null (20 % of bodies)."""
    n = len(cls)
    soma = np.rint(np.clip(d.soma_center[cls] + rng.normal(0, 1500, (n, 3)), 0, np.asarray(BOX) - 1))
    if not frame.is_identity:
        soma = np.rint(frame.apply(soma))
    no_soma = rng.random(n) < 0.2
    arr = pa.ListArray.from_arrays(pa.array(np.arange(0, 3 * n + 1, 3, dtype=np.int32)),
                                   pa.array(soma.astype(np.int64).ravel()), mask=pa.array(no_soma))
    return arr.to_pandas()


def neurons_table(cfg: SyntheticConfig, rng, d: Design, cls, nt_true, body_id, n_out, n_in,
                  frame: Frame = Frame()):
    """``(neurons, truth)``: the published neurons table and the noise-free labels."""
    names = np.array(CLASS_NAMES[:cfg.n_classes], dtype=object)
    nts = np.array(NEUROTRANSMITTERS, dtype=object)
    cell_class, nt_pub = _published_labels(cfg, rng, cls, nt_true)
    # types: a few morphological types per class (same statistics; not a signal)
    subtype = rng.integers(0, np.maximum(d.sizes[cls] // 12, 1) + 1)
    type_ = np.char.add(np.char.add(names[cls].astype(str), "_"), subtype.astype(str))
    soma = _soma_locations(rng, d, cls, frame)
    neurons = pd.DataFrame({
        "bodyId": body_id,
        "type": type_.astype(object),
        "instance": np.char.add(type_, "_R").astype(object),
        "status": "Traced",
        "cell_class": cell_class,
        "predictedNt": nts[nt_pub],
        "predictedNtProb": np.round(rng.uniform(0.55, 0.99, cfg.n_neurons), 3).astype(np.float32),
        "somaLocation": soma,  # object column of [x, y, z] arrays / None
        "pre": n_out.astype(np.int64),
        "post": n_in.astype(np.int64),
    })
    truth = pd.DataFrame({"bodyId": body_id, "true_cell_class": names[cls], "true_nt": nts[nt_true]})
    return neurons, truth


def ceiling_of(truth: pd.DataFrame, neurons: pd.DataFrame) -> dict:
    """Accuracy and macro-F1 of the noise-free labels against the published ones.

    Computed over the neurons whose published label is present. Returns a dict with
    ``ceiling``, ``ceiling_macro_f1``, ``nt_ceiling``, ``nt_ceiling_macro_f1`` (fractions 0..1)
    and ``label_noise_observed``.
    """
    from sklearn.metrics import accuracy_score, f1_score

    m = truth.merge(neurons[["bodyId", "cell_class", "predictedNt"]], on="bodyId")
    lab = m["cell_class"].notna()
    y_pub, y_true = m.loc[lab, "cell_class"].astype(str), m.loc[lab, "true_cell_class"].astype(str)
    acc = accuracy_score(y_pub, y_true)
    return {
        "ceiling": float(acc),
        "ceiling_macro_f1": float(f1_score(y_pub, y_true, average="macro")),
        "nt_ceiling": float(accuracy_score(m["predictedNt"], m["true_nt"])),
        "nt_ceiling_macro_f1": float(f1_score(m["predictedNt"], m["true_nt"], average="macro")),
        "label_noise_observed": float(1 - acc),
    }

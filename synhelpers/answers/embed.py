"""``embed``: each neuron's learned representation, as ``embeddings.parquet``, and its nearest
neighbours.

One row per neuron: ``bodyId``, ``connectome``, ``split`` (as in ``predictions.parquet``) and
one fixed-size float32 list column per part of the representation
(:meth:`~synhelpers.models.hybrid.HybridModel.embed`):

- ``fused`` (hidden,): what the heads read, the representation to compare neurons by;
- ``wiring`` (hidden,): the GNN's part (models with message passing);
- ``synapse`` (4 syn_dim + cloud_dim,): pooled connection embeddings and the synapse cloud.

Embeddings come from one seed (default: the first seed of split 0): seeds learn different
coordinates, so averaging them would mix spaces. ``pandas.read_parquet`` reads the list
columns as arrays; :func:`embedding_matrix` stacks one into (N, d). The Parquet metadata
(key ``synhelpers``) holds the model, run, seed, the widths and both fingerprints.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import RunError
from .load import LoadedRun, load_run, prepare_graph

__all__ = ["embed", "embedding_matrix", "nearest_neighbours", "write_embeddings",
           "read_embeddings", "PARTS"]

#: The parts of a representation, in column order.
PARTS = ("fused", "wiring", "synapse")
META_KEY = b"synhelpers"


def embed(run, data, *, seed: int | None = None, new_connectome: bool = False) -> pd.DataFrame:
    """Every neuron's representation parts from one seed of ``run`` (module docstring).

    Args:
        run: a :class:`~synhelpers.answers.load.LoadedRun` or a run folder.
        data: the run's graph, or a new connectome with ``new_connectome=True``.
        seed: which seed (value); default the first of the loaded ones.

    Returns:
        A DataFrame with one row per neuron: ``bodyId``, ``connectome``, ``split`` and, per
        part the model has, a column holding a float32 array per neuron: ``fused`` (hidden,),
        ``wiring`` (hidden,), ``synapse`` (4 syn_dim + cloud_dim,); the model, seed, widths
        and fingerprints in ``df.attrs["synhelpers"]``.

    Raises:
        RunError: the model has no ``embed`` (the original design), or see
            :func:`~synhelpers.answers.load.prepare_graph`.

    Example:
        Needs a trained run; the widths are the default ``ModelConfig``'s.

        >>> df = embed("runs/hybrid", "data/synthetic/graph")  # doctest: +SKIP
        >>> df.attrs["synhelpers"]["dims"]  # doctest: +SKIP
        {'fused': 64, 'wiring': 64, 'synapse': 160}
        >>> embedding_matrix(df, "fused").shape == (len(df), 64)  # doctest: +SKIP
        True
        >>> nearest_neighbours(df, int(df["bodyId"][0]), k=3).columns.tolist()  # doctest: +SKIP
        ['bodyId', 'connectome', 'split', 'similarity']
    """
    run = run if isinstance(run, LoadedRun) else load_run(run)
    i = 0 if seed is None else (run.seeds.index(seed) if seed in run.seeds else -1)
    if i < 0:
        raise RunError(f"{run.path}: seed {seed} not loaded; seeds are {run.seeds}")
    model = run.models[i]
    if not hasattr(model, "embed"):
        raise RunError(f"model {run.model_name!r} has no embed(): its representation is not "
                       "split into views; use predict, or a registry model built on HybridModel")
    prep = prepare_graph(run, data, new_connectome=new_connectome)
    device = next(model.parameters()).device
    with torch.no_grad():
        parts = model.eval().embed(prep.graph.to(device))
    df = pd.DataFrame({"bodyId": prep.graph.body_id.numpy().astype(np.int64),
                       "connectome": prep.connectome, "split": prep.split})
    for name in PARTS:
        if name in parts:
            df[name] = list(parts[name].float().cpu().numpy())
    df.attrs["synhelpers"] = {
        "model": run.model_name, "run": run.path.name, "seed": run.seeds[i], "split": run.split,
        "dims": {k: int(parts[k].shape[1]) for k in PARTS if k in parts},
        "run_fingerprint": run.fingerprint, "data_fingerprint": prep.fingerprint,
        "new_connectome": prep.new_connectome,
        "alignment": prep.alignment.summary() if prep.alignment else None}
    return df


def embedding_matrix(df: pd.DataFrame, part: str = "fused") -> np.ndarray:
    """(N, d) float32 of one list column (``fused``, ``wiring``, ``synapse``).

    Raises:
        ValueError: ``part`` is not a column (the message lists the parts present).
    """
    if part not in df.columns:
        have = [p for p in PARTS if p in df.columns]
        raise ValueError(f"embeddings have no part {part!r}; parts: {', '.join(have)}")
    return np.stack(df[part].to_numpy()).astype(np.float32, copy=False)


def nearest_neighbours(df: pd.DataFrame, body_id: int, k: int = 10, *, part: str = "fused",
                       exclude_self: bool = True, connectome: str | None = None) -> pd.DataFrame:
    """The ``k`` neurons whose ``part`` embedding is most similar to ``body_id``'s (cosine).

    Args:
        df: an embeddings table (:func:`embed` or :func:`read_embeddings`).
        body_id: the query neuron. connectome: which connectome's ``body_id``, where several
            connectomes share bodyIds.
        exclude_self: leave the query out (included, it is first at similarity 1).

    Returns:
        DataFrame[bodyId, connectome, split, similarity], ``k`` rows (fewer in a smaller
        table), most similar first (ties: table order); similarity is cosine, in -1..1.

    Raises:
        ValueError: ``body_id`` is not in the table, or is there more than once (pass
            ``connectome``); ``part`` is not a column.

    Example:
        >>> df = pd.DataFrame({"bodyId": [1, 2, 3], "connectome": "c", "split": "test",
        ...                    "fused": [np.array(v, np.float32) for v in ([1, 0], [1, 1], [0, 1])]})
        >>> nearest_neighbours(df, 1, k=2)[["bodyId", "similarity"]].round(3).values.tolist()
        [[2.0, 0.707], [3.0, 0.0]]
    """
    rows = np.flatnonzero((df["bodyId"].to_numpy() == int(body_id)) &
                          ((df["connectome"].to_numpy() == connectome) if connectome else True))
    if len(rows) != 1:
        where = f" in {connectome}" if connectome else ""
        raise ValueError(f"bodyId {body_id}{where}: {len(rows)} rows in the embeddings"
                         + ("; pass connectome=" if len(rows) > 1 else ""))
    x = embedding_matrix(df, part).astype(np.float64)
    x /= np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
    sim = x @ x[rows[0]]
    if exclude_self:
        sim[rows[0]] = -np.inf
    order = np.argsort(-sim, kind="stable")[:k]
    out = df.iloc[order][["bodyId", "connectome", "split"]].reset_index(drop=True)
    out["similarity"] = sim[order]
    return out


def write_embeddings(df: pd.DataFrame, path) -> Path:
    """Write ``df`` as Parquet with fixed-size float32 list columns and ``df.attrs`` metadata,
    atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..io import atomic_path

    cols = {c: pa.array(df[c].to_numpy()) for c in df.columns if c not in PARTS}
    for part in (p for p in PARTS if p in df.columns):
        mat = embedding_matrix(df, part)
        cols[part] = pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1)), mat.shape[1])
    table = pa.table(cols)
    table = table.replace_schema_metadata(
        {META_KEY: json.dumps(df.attrs.get("synhelpers", {})).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_embeddings(path) -> tuple[pd.DataFrame, dict]:
    """The embeddings table and its ``synhelpers`` metadata."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(META_KEY)
    df = table.to_pandas()
    df.attrs["synhelpers"] = json.loads(raw) if raw else {}
    return df, df.attrs["synhelpers"]

"""Connector (synapse) tables with predictions, in navis's column names.

navis (https://github.com/navis-org/navis) keeps a neuron's synapses in a *connector table*,
``neuron.connectors``: one row per connector with ``x``, ``y``, ``z`` and a ``type`` whose
labels contain ``"pre"``/``"post"`` (``navis/core/base.py``: ``BaseNeuron.CONNECTOR_COLUMNS``
and ``presynapses``/``postsynapses``); skeletons (``TreeNeuron``) also need ``connector_id``
and ``node_id`` (``navis/core/skeleton.py``: ``TreeNeuron.CONNECTOR_COLUMNS``); navis's own
Parquet files store the connectors of many neurons as one long table with a ``neuron``
column (``navis/io/pq_io.py``: ``CONNECTOR_COLUMNS = ("connector_id", "node_id", "type",
"x", "y", "z", "neuron")``). Extra columns are kept as they are.

:func:`write_connector_tables` writes that long table, one row per synapse and chosen
neuron, to one Parquet file: a long table is navis's own layout, one file scales to every
neuron of the hemibrain (a file per neuron would be 21,739 files), and
``table.groupby("neuron")`` gives each neuron's table. Columns:

``neuron``, ``connector_id`` (row of ``synapses.parquet``, so both sides of a synapse share
it), ``node_id`` (empty: there is no skeleton yet; :func:`attach_connectors` fills it),
``type`` (``pre``: the neuron's T-bar, ``post``: its postsynaptic density), ``x``, ``y``,
``z`` (voxels), ``partner_id``, ``roi``, ``confidence``, then for each label column ``L``:
``L_pred``, ``L_prob`` (the neuron's prediction), ``partner_L_pred``, ``partner_L_prob``
(its partner's), and ``split``.

navis is optional: it is imported only by :func:`attach_connectors`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import write_json, write_parquet
from ..tables.contract import Connectome
from .neuron_sites import synapse_sites, voxel_nm

__all__ = ["connector_table", "write_connector_tables", "attach_connectors"]


def _label_columns(predictions: pd.DataFrame) -> list[str]:
    return [c[: -len("__pred")] for c in predictions.columns if c.endswith("__pred")]


def connector_table(predictions: pd.DataFrame, connectome: Connectome,
                    bodies: Iterable[int] | None = None) -> pd.DataFrame:
    """The long connector table of ``bodies`` (default: every predicted neuron with a synapse).

    Example:
        >>> from synhelpers.tables import from_frames
        >>> n = pd.DataFrame({"bodyId": [1, 2]})
        >>> c = pd.DataFrame({"bodyId_pre": [1], "bodyId_post": [2], "weight": [1]})
        >>> s = pd.DataFrame({"bodyId_pre": [1], "bodyId_post": [2], "x_pre": [4], "y_pre": [0],
        ...                   "z_pre": [0], "x_post": [6], "y_post": [0], "z_post": [0]})
        >>> p = pd.DataFrame({"bodyId": [1, 2], "split": "test", "cell_class__pred": ["A", "B"],
        ...                   "cell_class__prob": [0.9, 0.6]})
        >>> t = connector_table(p, from_frames(n, c, s), bodies=[1])
        >>> t[["neuron", "connector_id", "type", "x", "partner_id", "partner_cell_class_pred"]]
           neuron  connector_id type    x  partner_id partner_cell_class_pred
        0       1             0  pre  4.0           2                       B
    """
    if bodies is None:
        bodies = predictions["bodyId"].to_numpy(np.int64)
    sites = synapse_sites(connectome, bodies)
    by_body = predictions.set_index("bodyId")
    out = pd.DataFrame({
        "neuron": sites["bodyId"],
        "connector_id": sites["synapse_row"],
        "node_id": pd.array([pd.NA] * len(sites), dtype="Int64"),
        "type": sites["type"],
        "x": sites["x"], "y": sites["y"], "z": sites["z"],
        "partner_id": sites["partner_id"],
    })
    for extra in ("roi", "confidence"):
        if extra in sites.columns:
            out[extra] = sites[extra].to_numpy()
    for label in _label_columns(predictions):
        for who, key in (("", "neuron"), ("partner_", "partner_id")):
            for part in ("pred", "prob"):
                out[f"{who}{label}_{part}"] = out[key].map(by_body[f"{label}__{part}"]).to_numpy()
    out["split"] = out["neuron"].map(by_body["split"]).to_numpy()
    return out


def write_connector_tables(predictions: pd.DataFrame, connectome: Connectome,
                           out_dir: str | Path, bodies: Iterable[int] | None = None) -> Path:
    """Write :func:`connector_table` to ``out_dir/connectors.parquet`` and a description to
    ``out_dir/connectors.json`` (units, columns, counts). Returns the Parquet path.

    Read it back with ``pd.read_parquet``; ``table.groupby("neuron")`` gives each neuron's
    connector table, and :func:`attach_connectors` puts them on navis neurons.
    """
    out_dir = Path(out_dir)
    table = connector_table(predictions, connectome, bodies)
    path = write_parquet(table, out_dir / "connectors.parquet")
    write_json(out_dir / "connectors.json", {
        "connectome": connectome.name, "units": f"{voxel_nm(connectome):g} nm (voxels)",
        "n_neurons": int(table["neuron"].nunique()), "n_rows": len(table),
        "columns": list(table.columns), "label_columns": _label_columns(predictions),
        "convention": "navis connector table, long format with a 'neuron' column "
                      "(navis/io/pq_io.py CONNECTOR_COLUMNS)",
    })
    return path


def attach_connectors(neurons, table: pd.DataFrame, *, scale: float = 1.0):
    """Set ``neuron.connectors`` of each navis neuron whose ``id`` is in ``table["neuron"]``.

    Args:
        neurons: a ``navis.NeuronList`` (or one neuron); for skeletons, each connector's
            ``node_id`` becomes its nearest node.
        table: :func:`connector_table` output (coordinates in voxels).
        scale: factor from the table's voxels to the neurons' units (1 for neuPrint
            skeletons in 8 nm voxels, 8 for skeletons in nm).

    Returns:
        ``neurons``, changed in place; neurons without a row keep their connectors.
    """
    import navis
    from scipy.spatial import cKDTree

    nl = neurons if isinstance(neurons, navis.NeuronList) else navis.NeuronList([neurons])
    groups = dict(tuple(table.groupby("neuron", sort=False)))
    for n in nl:  # one assignment per neuron: navis's connectors are per-neuron objects
        rows = groups.get(int(n.id))
        if rows is None:
            continue
        rows = rows.drop(columns="neuron").reset_index(drop=True)
        rows[["x", "y", "z"]] = rows[["x", "y", "z"]].to_numpy(np.float64) * scale
        if isinstance(n, navis.TreeNeuron):
            _, nearest = cKDTree(n.nodes[["x", "y", "z"]].to_numpy()).query(
                rows[["x", "y", "z"]].to_numpy())
            rows["node_id"] = n.nodes["node_id"].to_numpy()[nearest]
        else:
            rows = rows.drop(columns="node_id")
        n.connectors = rows
    return neurons

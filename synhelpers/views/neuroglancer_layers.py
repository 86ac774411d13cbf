"""The local layers of a Neuroglancer view, written with ``neuroglancer``'s own writer.

- :func:`write_neuron_layer`: one point per neuron, coloured by predicted class.
- :func:`write_synapse_layer`: synapse sites of chosen neurons, coloured by the partner's class.
- :func:`write_segment_properties`: predicted class and probability per segment id.

Formats: google/neuroglancer ``src/datasource/precomputed/annotations.md`` (points, with
``rgb``, ``float32`` and enum-labelled ``uint16`` properties and related segment ids) and
``src/datasource/precomputed/segment_properties.md``. Coordinates are voxels; the coordinate
space has the dataset's voxel size in nm.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..answers.prediction_table import SPLITS
from ..figures.colors import UNKNOWN_COLOR, hex_to_rgb

__all__ = ["coordinate_space", "write_neuron_layer", "write_synapse_layer",
           "write_segment_properties", "NO_LABEL"]

#: Enum label of a neuron without a published label.
NO_LABEL = "(none)"


def coordinate_space(scale_nm: float):
    """``x, y, z`` in units of ``scale_nm`` nanometres (coordinates stay in voxels)."""
    import neuroglancer

    return neuroglancer.CoordinateSpace(names=["x", "y", "z"], units="nm", scales=[scale_nm] * 3)


def _enum(pid: str, names: Sequence[str], description: str):
    """A uint16 annotation property whose values show as ``names`` in the viewer."""
    import neuroglancer

    return neuroglancer.AnnotationPropertySpec(
        id=pid, type="uint16", description=description,
        enum_values=list(range(len(names))), enum_labels=[str(n) for n in names])


def _codes(values: pd.Series, names: Sequence[str]) -> np.ndarray:
    """Position of each value in ``names``; missing or unknown values get ``len(names)``."""
    lookup = pd.Series(np.arange(len(names)), index=pd.Index(names, dtype=object))
    return values.map(lookup).fillna(len(names)).to_numpy(np.uint16)


def _replace_dir(path: Path) -> Path:
    """Empty our own output sub-folder ``path`` before a rewrite."""
    if path.exists():
        shutil.rmtree(path)
    return path


def write_neuron_layer(path: Path, table: pd.DataFrame, classes: Sequence[str],
                       colors: dict[str, str], scale_nm: float) -> int:
    """Write one point annotation per row of ``table`` into folder ``path`` (replaced).

    Args:
        table: ``bodyId``, ``x``, ``y``, ``z`` (voxels), ``pred`` (str), ``prob``, ``true``
            (str or None), ``split``, ``entropy``.
        classes: every class name; ``pred`` and ``true`` are stored as indices into it.
        colors: class -> ``#rrggbb``.

    Each annotation's id and related ``segment`` is the bodyId. Returns the number written.
    """
    import neuroglancer
    from neuroglancer.write_annotations import AnnotationWriter

    names_true = [*classes, NO_LABEL]
    writer = AnnotationWriter(
        coordinate_space=coordinate_space(scale_nm), annotation_type="point",
        relationships=["segment"],
        properties=[
            neuroglancer.AnnotationPropertySpec(id="color", type="rgb",
                                                description="colour of the predicted class"),
            _enum("pred", classes, "predicted class"),
            neuroglancer.AnnotationPropertySpec(id="prob", type="float32",
                                                description="probability of the predicted class"),
            _enum("true_label", names_true, "published label"),
            _enum("split", SPLITS, "data split"),
            neuroglancer.AnnotationPropertySpec(id="entropy", type="float32",
                                                description="entropy of the prediction (nats)"),
        ])
    pred = _codes(table["pred"], classes)
    rgb = hex_to_rgb([colors[c] for c in classes])[pred]
    xyz = table[["x", "y", "z"]].to_numpy(np.float32)
    true, split = _codes(table["true"], classes), _codes(table["split"], SPLITS)
    prob, entropy = table["prob"].to_numpy(np.float32), table["entropy"].to_numpy(np.float32)
    body = table["bodyId"].to_numpy(np.int64)
    # AnnotationWriter's public API takes one annotation per call (and writes one file per
    # annotation), so this loop is the library's contract; everything it reads is precomputed.
    for i in range(len(table)):
        writer.add_point(xyz[i], id=int(body[i]), color=rgb[i], pred=pred[i], prob=prob[i],
                         true_label=true[i], split=split[i], entropy=entropy[i],
                         segment=[int(body[i])])
    writer.write(_replace_dir(path))
    return len(table)


def write_synapse_layer(path: Path, sites: pd.DataFrame, prediction: pd.DataFrame,
                        classes: Sequence[str], colors: dict[str, str], scale_nm: float) -> int:
    """Write one point per synapse site into folder ``path`` (replaced), coloured by the
    predicted class of the partner.

    Args:
        sites: :func:`~synhelpers.views.neuron_sites.synapse_sites` output.
        prediction: indexed by bodyId, columns ``pred`` and ``prob``; partners missing
            from it are grey, ``(no prediction)``.

    Related segments: ``neuron`` (the chosen neuron) and ``partner``. Returns the number
    written.
    """
    import neuroglancer
    from neuroglancer.write_annotations import AnnotationWriter

    partner_pred = _codes(sites["partner_id"].map(prediction["pred"]), classes)
    partner_prob = sites["partner_id"].map(prediction["prob"]).to_numpy(np.float32)
    palette = hex_to_rgb([*(colors[c] for c in classes), UNKNOWN_COLOR])
    writer = AnnotationWriter(
        coordinate_space=coordinate_space(scale_nm), annotation_type="point",
        relationships=["neuron", "partner"],
        properties=[
            neuroglancer.AnnotationPropertySpec(id="color", type="rgb",
                                                description="colour of the partner's class"),
            _enum("partner_pred", [*classes, "(no prediction)"], "partner's predicted class"),
            neuroglancer.AnnotationPropertySpec(id="partner_prob", type="float32",
                                                description="probability of partner_pred"),
            _enum("side", ["output (T-bar)", "input (PSD)"], "side of the chosen neuron"),
        ])
    xyz = sites[["x", "y", "z"]].to_numpy(np.float32)
    side = (sites["type"] == "post").to_numpy(np.uint16)
    body, partner = sites["bodyId"].to_numpy(np.int64), sites["partner_id"].to_numpy(np.int64)
    rgb = palette[partner_pred]
    partner_prob = np.nan_to_num(partner_prob, nan=0.0)
    for i in range(len(sites)):  # one call per annotation: see write_neuron_layer
        writer.add_point(xyz[i], id=i, color=rgb[i], partner_pred=partner_pred[i],
                         partner_prob=partner_prob[i], side=side[i],
                         neuron=[int(body[i])], partner=[int(partner[i])])
    writer.write(_replace_dir(path))
    return len(sites)


def write_segment_properties(path: Path, table: pd.DataFrame) -> None:
    """Inline segment properties of ``table``'s bodyIds into folder ``path`` (replaced).

    Label ``"<pred> <prob>"``, one tag (the predicted class, spaces made ``_``), numeric
    ``prob``, strings ``published`` and ``split``. Format: google/neuroglancer
    ``src/datasource/precomputed/segment_properties.md``; written as JSON by hand because
    the ``neuroglancer`` package has no writer for it.
    """
    tags = sorted(set(table["pred"]))
    tag_code = _codes(table["pred"], tags).astype(np.int64)
    info = {"@type": "neuroglancer_segment_properties", "inline": {
        "ids": table["bodyId"].astype(str).tolist(),
        "properties": [
            {"id": "label", "type": "label",
             "values": (table["pred"] + " " + table["prob"].map("{:.2f}".format)).tolist()},
            {"id": "tags", "type": "tags", "tags": [t.replace(" ", "_") for t in tags],
             "values": tag_code[:, None].tolist()},
            {"id": "prob", "type": "number", "data_type": "float32",
             "values": table["prob"].round(4).astype(float).tolist()},
            {"id": "published", "type": "string", "values": table["true"].fillna("").tolist()},
            {"id": "split", "type": "string", "values": table["split"].astype(str).tolist()},
        ]}}
    _replace_dir(path).mkdir(parents=True)
    (path / "info").write_text(json.dumps(info))

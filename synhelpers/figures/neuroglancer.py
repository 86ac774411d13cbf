"""Predictions in Neuroglancer: local annotation layers, a viewer state and a shareable URL.

:func:`write_view` writes into ``out_dir``

- ``neurons/``: a precomputed annotation layer, one point per neuron (soma, else synapse
  centroid; :func:`~synhelpers.figures.neuron_sites.neuron_points`) coloured by its predicted
  class, with the prediction, its probability, the published label, the split and the
  entropy as annotation properties, and the neuron's bodyId as related segment;
- ``synapses/``: the synapses of a few chosen neurons, coloured by the predicted class of
  the partner on the other side of each synapse;
- ``segment_properties/`` (real data only): predicted class, probability and label per
  bodyId, so the segmentation layer lists them and its query box selects e.g. ``#KC``;
- ``state.json``: the Neuroglancer state; ``view.json``: what was written.

The state refers to the local layers as ``precomputed://{base_url}/neurons`` etc., so
``out_dir`` must be served at ``base_url`` (:func:`~synhelpers.figures.neuroglancer_browser.serve`,
default ``http://127.0.0.1:9000``). For the hemibrain and MANC the state also holds the
dataset's public segmentation, its segments coloured by predicted class
(``segmentColors``, a map from segment id to colour in the segmentation layer's state; see
``python/neuroglancer/viewer_state.py``, ``SegmentationLayer.segment_colors``, in
google/neuroglancer), a few confident neurons per class shown, and the rest selectable by
class from the segment-properties query box. The annotation formats are those of
google/neuroglancer ``src/datasource/precomputed/annotations.md`` and
``segment_properties.md``; the annotation files are written by the ``neuroglancer``
package's own ``write_annotations.AnnotationWriter``.

Coordinates stay in voxels; the coordinate space has the dataset's voxel size in nm.

Example (needs the ``neuroglancer`` package)::

    res = write_view(predictions, connectome, "figures/view", label="cell_class")
    serve(res.out_dir, port=9000)        # then open res.url in a browser
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import write_json
from ..tables.contract import Connectome
from .neuron_sites import (
    UNKNOWN_COLOR,
    class_colors,
    hex_to_rgb,
    neuron_points,
    synapse_sites,
    voxel_nm,
)
from .prediction_table import SPLITS, check_predictions

__all__ = ["ViewResult", "write_view", "public_segmentation", "state_url", "register",
           "HEMIBRAIN_SEGMENTATION", "MANC_SEGMENTATION", "PUBLIC_VIEWER", "DEFAULT_BASE_URL"]

#: FlyEM hemibrain v1.2 segmentation (public bucket); bodyIds of hemibrain:v1.2.1.
HEMIBRAIN_SEGMENTATION = "precomputed://gs://neuroglancer-janelia-flyem-hemibrain/v1.2/segmentation"
#: MANC v1.2 segmentation, the one neuPrint's manc:v1.2.x bodyIds refer to. Source:
#: github.com/flyconnectome/cocoa, cocoa/datasets/manc.py (``_DEFAULT_NEUROGLANCER_SOURCE``).
#: Tables downloaded from the v1.0 exports use v1.0 bodyIds: pass ``segmentation=`` for those.
MANC_SEGMENTATION = "precomputed://gs://manc-seg-v1p2/manc-seg-v1.2"
#: The public Neuroglancer client.
PUBLIC_VIEWER = "https://neuroglancer-demo.appspot.com/"
#: Where :func:`~synhelpers.figures.neuroglancer_browser.serve` serves ``out_dir`` by default.
DEFAULT_BASE_URL = "http://127.0.0.1:9000"
NEURON_LAYER, SYNAPSE_LAYER, PROPERTIES_DIR = "neurons", "synapses", "segment_properties"
NO_LABEL = "(none)"

_SHADER = """#uicontrol float size slider(min=1, max=20, default={size})
#uicontrol float min_prob slider(min=0, max=1, default=0)
void main() {{
  if (prop_{prob}() < min_prob) discard;
  setColor(prop_color());
  setPointMarkerSize(size);
}}
"""


@dataclass
class ViewResult:
    """What :func:`write_view` wrote.

    Attributes:
        state_path: ``out_dir/state.json``.
        url: the public viewer with the whole state in the URL fragment.
        short_url: the public viewer told to fetch ``{base_url}/state.json`` (short; needs
            ``out_dir`` served).
        n_points: neurons drawn (predicted and with a point).
        n_without_point: predicted neurons with neither soma nor synapse (not drawn).
        n_not_in_connectome: predicted bodyIds absent from the connectome's neurons.
        n_synapses: synapse points written (one per synapse and chosen side).
    """

    state_path: Path
    url: str
    short_url: str
    out_dir: Path
    base_url: str
    label: str
    classes: list[str]
    colors: dict[str, str]
    n_points: int
    n_without_point: int
    n_not_in_connectome: int
    n_synapses: int
    synapse_bodies: list[int]
    segmentation: str | None
    layers: dict[str, str] = field(default_factory=dict)


def public_segmentation(connectome: Connectome) -> str | None:
    """The public segmentation of ``connectome`` (hemibrain, MANC), or ``None`` if unknown.

    Read from ``meta["dataset"]`` (download manifest) or the connectome's name.

    Example:
        >>> public_segmentation(Connectome(pd.DataFrame(), pd.DataFrame(), name="manc:v1.2.1"))
        'precomputed://gs://manc-seg-v1p2/manc-seg-v1.2'
    """
    key = str(connectome.meta.get("dataset") or connectome.name).lower()
    if key.startswith("hemibrain"):
        return HEMIBRAIN_SEGMENTATION
    if key.startswith("manc"):
        return MANC_SEGMENTATION
    return None


def write_view(predictions: pd.DataFrame, connectome: Connectome, out_dir: str | Path, *,
               label: str = "cell_class", synapse_bodies: Sequence[int] | None = None,
               segmentation: str | None = None, base_url: str = DEFAULT_BASE_URL,
               segments_per_class: int = 5, layout: str = "3d") -> ViewResult:
    """Write the annotation layers, ``state.json`` and URLs of a view of ``label``'s predictions.

    Args:
        predictions: the predictions table (:mod:`~synhelpers.figures.prediction_table`).
        connectome: the tables the predictions were made on (for somata and synapses).
        out_dir: output folder; its ``neurons/``, ``synapses/`` and ``segment_properties/``
            sub-folders are replaced.
        label: which label column's predictions to show.
        synapse_bodies: neurons whose synapses to draw; ``None`` picks the 3 predicted
            neurons with the most synapses, ``()`` draws none.
        segmentation: a Neuroglancer segmentation source; ``None`` uses the dataset's public
            one (:func:`public_segmentation`), ``""`` none.
        base_url: where ``out_dir`` will be served (``http://127.0.0.1:PORT``).
        segments_per_class: segments shown per predicted class (most probable first).
        layout: Neuroglancer layout (``"3d"``, ``"4panel"``, ``"xy"`` ...).
    """
    check_predictions(predictions, label)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base_url = base_url.rstrip("/")
    seg = public_segmentation(connectome) if segmentation is None else (segmentation or None)
    table, counts = _join_points(predictions, connectome, label)
    classes = sorted(set(table["pred"]) | set(table["true"].dropna()))
    colors = class_colors(classes)
    scale_nm = voxel_nm(connectome)
    _write_neuron_layer(out_dir / NEURON_LAYER, table, classes, colors, scale_nm)
    bodies = _choose_synapse_bodies(connectome, table, synapse_bodies)
    n_syn = _write_synapse_layer(out_dir / SYNAPSE_LAYER, connectome, bodies, predictions,
                                 label, classes, colors, scale_nm) if bodies else 0
    if seg:
        _write_segment_properties(out_dir / PROPERTIES_DIR, table)
    state = build_state(table, colors, scale_nm=scale_nm, base_url=base_url, segmentation=seg,
                        with_synapses=n_syn > 0, shown=_shown_segments(table, segments_per_class,
                                                                       bodies),
                        layout=layout, prob_property="prob")
    state_path = write_json(out_dir / "state.json", state)
    res = ViewResult(
        state_path=state_path, url=state_url(state), short_url=f"{PUBLIC_VIEWER}#!{base_url}/state.json",
        out_dir=out_dir, base_url=base_url, label=label, classes=classes, colors=colors,
        n_points=len(table), synapse_bodies=[int(b) for b in bodies], n_synapses=n_syn,
        segmentation=seg, layers={layer["name"]: layer["source"][0]["url"] for layer in state["layers"]},
        **counts)
    write_json(out_dir / "view.json", {k: (str(v) if isinstance(v, Path) else v)
                                       for k, v in asdict(res).items() if k != "url"})
    return res


def state_url(state: dict, prefix: str = PUBLIC_VIEWER) -> str:
    """``prefix#!<url-encoded state>`` (Neuroglancer's own encoding, ``url_state.to_url``)."""
    import neuroglancer

    return neuroglancer.url_state.to_url(neuroglancer.ViewerState(state), prefix=prefix)


def _join_points(predictions: pd.DataFrame, connectome: Connectome, label: str):
    """Predictions with a point: DataFrame[bodyId, x, y, z, source, pred, prob, true, split,
    entropy] and the counts of predicted neurons left out."""
    points = neuron_points(connectome)
    pred = pd.DataFrame({
        "bodyId": predictions["bodyId"].to_numpy(np.int64),
        "pred": predictions[f"{label}__pred"].astype(str).to_numpy(),
        "prob": predictions[f"{label}__prob"].to_numpy(np.float32),
        "true": predictions[f"{label}__true"].astype(object).to_numpy()
        if f"{label}__true" in predictions else None,
        "split": predictions["split"].to_numpy(),
        "entropy": predictions[f"{label}__entropy"].to_numpy(np.float32)
        if f"{label}__entropy" in predictions else np.float32(np.nan),
    })
    pred["true"] = pred["true"].astype(object).where(pred["true"].notna(), None)
    known = pred["bodyId"].isin(connectome.neurons["bodyId"]).to_numpy()
    table = points.merge(pred, on="bodyId", how="inner")
    counts = {"n_not_in_connectome": int((~known).sum()),
              "n_without_point": int(known.sum()) - len(table)}
    return table, counts


def _coordinate_space(scale_nm: float):
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


def _write_neuron_layer(path: Path, table: pd.DataFrame, classes, colors, scale_nm) -> None:
    import neuroglancer
    from neuroglancer.write_annotations import AnnotationWriter

    names_true = [*classes, NO_LABEL]
    writer = AnnotationWriter(
        coordinate_space=_coordinate_space(scale_nm), annotation_type="point",
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


def _choose_synapse_bodies(connectome: Connectome, table: pd.DataFrame, bodies) -> list[int]:
    if connectome.synapses is None:
        return []
    if bodies is not None:
        return [int(b) for b in bodies]
    syn = connectome.synapses
    ids, n = np.unique(np.concatenate([syn["bodyId_pre"].to_numpy(np.int64),
                                       syn["bodyId_post"].to_numpy(np.int64)]), return_counts=True)
    keep = np.isin(ids, table["bodyId"].to_numpy(np.int64))
    order = np.lexsort((ids[keep], -n[keep]))[:3]
    return ids[keep][order].tolist()


def _write_synapse_layer(path: Path, connectome, bodies, predictions, label, classes, colors,
                         scale_nm) -> int:
    import neuroglancer
    from neuroglancer.write_annotations import AnnotationWriter

    sites = synapse_sites(connectome, bodies)
    by_body = predictions.set_index("bodyId")
    partner_pred = _codes(sites["partner_id"].map(by_body[f"{label}__pred"]), classes)
    partner_prob = sites["partner_id"].map(by_body[f"{label}__prob"]).to_numpy(np.float32)
    palette = hex_to_rgb([*(colors[c] for c in classes), UNKNOWN_COLOR])
    writer = AnnotationWriter(
        coordinate_space=_coordinate_space(scale_nm), annotation_type="point",
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
    for i in range(len(sites)):  # one call per annotation: see _write_neuron_layer
        writer.add_point(xyz[i], id=i, color=rgb[i], partner_pred=partner_pred[i],
                         partner_prob=partner_prob[i], side=side[i],
                         neuron=[int(body[i])], partner=[int(partner[i])])
    writer.write(_replace_dir(path))
    return len(sites)


def _write_segment_properties(path: Path, table: pd.DataFrame) -> None:
    """Inline segment properties (format: google/neuroglancer
    ``src/datasource/precomputed/segment_properties.md``), written as JSON by hand because
    the ``neuroglancer`` package has no writer for them."""
    tags = sorted(set(table["pred"]))
    tag_of = {t: i for i, t in enumerate(tags)}
    info = {"@type": "neuroglancer_segment_properties", "inline": {
        "ids": table["bodyId"].astype(str).tolist(),
        "properties": [
            {"id": "label", "type": "label",
             "values": (table["pred"] + " " + table["prob"].map("{:.2f}".format)).tolist()},
            {"id": "tags", "type": "tags", "tags": [t.replace(" ", "_") for t in tags],
             "values": [[tag_of[p]] for p in table["pred"]]},
            {"id": "prob", "type": "number", "data_type": "float32",
             "values": table["prob"].round(4).astype(float).tolist()},
            {"id": "published", "type": "string", "values": table["true"].fillna("").tolist()},
            {"id": "split", "type": "string", "values": table["split"].astype(str).tolist()},
        ]}}
    _replace_dir(path).mkdir(parents=True)
    (path / "info").write_text(json.dumps(info))


def _shown_segments(table: pd.DataFrame, per_class: int, bodies) -> list[int]:
    """The ``per_class`` most probable neurons of each predicted class, plus ``bodies``."""
    top = table.sort_values(["prob", "bodyId"], ascending=[False, True]).groupby("pred").head(per_class)
    return sorted(set(top["bodyId"].astype(int)) | {int(b) for b in bodies})


def build_state(table: pd.DataFrame, colors: dict[str, str], *, scale_nm: float, base_url: str,
                segmentation: str | None, with_synapses: bool, shown: list[int],
                layout: str = "3d", prob_property: str = "prob") -> dict:
    """The Neuroglancer state (a JSON dict), validated by ``neuroglancer.ViewerState``."""
    import neuroglancer

    xyz = table[["x", "y", "z"]].to_numpy(np.float64)
    lo, hi = xyz.min(0), xyz.max(0)
    s = neuroglancer.ViewerState()
    s.dimensions = _coordinate_space(scale_nm)
    s.position = ((lo + hi) / 2).tolist()
    s.projection_scale = float((hi - lo).max() * 1.3)
    s.cross_section_scale = float((hi - lo).max() / 500)
    s.layout = layout
    seg_name = "segmentation" if segmentation else None
    if segmentation:
        s.layers.append(name=seg_name, layer=neuroglancer.SegmentationLayer(
            source=[segmentation, f"precomputed://{base_url}/{PROPERTIES_DIR}"],
            segment_colors={int(b): colors[p] for b, p in zip(table["bodyId"], table["pred"])},
            segments=shown))
    s.layers.append(name="neurons (predicted class)", layer=neuroglancer.AnnotationLayer(
        source=f"precomputed://{base_url}/{NEURON_LAYER}",
        shader=_SHADER.format(size=8, prob=prob_property),
        linked_segmentation_layer={"segment": seg_name} if seg_name else None))
    if with_synapses:
        s.layers.append(name="synapses (partner's class)", layer=neuroglancer.AnnotationLayer(
            source=f"precomputed://{base_url}/{SYNAPSE_LAYER}",
            shader=_SHADER.format(size=3, prob="partner_prob"),
            linked_segmentation_layer={"neuron": seg_name, "partner": seg_name} if seg_name else None))
    s.selected_layer.layer = "neurons (predicted class)"
    s.selected_layer.visible = False
    return s.to_json()


# --------------------------------------------------------------------------- CLI


def register(subparsers) -> None:
    """Add ``view``: ``python -m synhelpers view --predictions P --tables T --out DIR``."""
    p = subparsers.add_parser("view", help="write a Neuroglancer view of per-neuron predictions",
                              description=write_view.__doc__.split("\n")[0])
    p.add_argument("--predictions", required=True, help="predictions.parquet")
    p.add_argument("--tables", required=True, help="connectome folder the predictions were made on")
    p.add_argument("--out", required=True, help="output folder (layers, state.json)")
    p.add_argument("--label", default="cell_class", help="label column (default cell_class)")
    p.add_argument("--synapse-bodies", type=int, nargs="*", default=None,
                   help="bodyIds whose synapses to draw (default: 3 with most synapses; "
                        "give the flag alone for none)")
    p.add_argument("--segmentation", default=None,
                   help="segmentation source (default: the dataset's public one; 'none' for none)")
    p.add_argument("--port", type=int, default=9000, help="port the layers are served on")
    p.add_argument("--serve", action="store_true", help="serve --out on 127.0.0.1:PORT afterwards")
    p.add_argument("--screenshot", default=None, help="also save a PNG of the view (Chromium)")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    from ..tables.contract import load_tables
    from .neuroglancer_browser import screenshot_view, serve
    from .prediction_table import read_predictions

    predictions, _ = read_predictions(args.predictions)
    con = load_tables(args.tables, check_weights=False)
    seg = "" if (args.segmentation or "").lower() == "none" else args.segmentation
    res = write_view(predictions, con, args.out, label=args.label, segmentation=seg,
                     synapse_bodies=args.synapse_bodies, base_url=f"http://127.0.0.1:{args.port}")
    print(f"wrote {res.n_points:,} neuron points and {res.n_synapses:,} synapse points to "
          f"{res.out_dir} ({res.n_without_point} predicted neurons have no soma or synapse, "
          f"{res.n_not_in_connectome} are not in {con.name}).\nstate: {res.state_path}\n"
          f"open (while served): {res.short_url}")
    if args.screenshot:
        print(f"screenshot: {screenshot_view(res.out_dir, args.screenshot)}")
    if args.serve:
        serve(res.out_dir, args.port)
    return 0

"""Predictions in Neuroglancer: local annotation layers, a viewer state and a shareable URL.

:func:`write_view` writes into ``out_dir``

- ``neurons/``: a precomputed annotation layer, one point per neuron (soma, else synapse
  centroid; :func:`~synhelpers.views.neuron_sites.neuron_points`) coloured by its predicted
  class, with the prediction, its probability, the published label, the split and the
  entropy as annotation properties, and the neuron's bodyId as related segment;
- ``synapses/``: the synapses of a few chosen neurons, coloured by the predicted class of
  the partner on the other side of each synapse;
- ``segment_properties/`` (real data only): predicted class, probability and label per
  bodyId, so the segmentation layer lists them and its query box selects e.g. ``#KC``;
- ``state.json``: the Neuroglancer state; ``view.json``: what was written.

The state refers to the local layers as ``precomputed://{base_url}/neurons`` etc., so
``out_dir`` must be served at ``base_url`` (:func:`~synhelpers.views.neuroglancer_browser.serve`,
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

    res = write_view(predictions, connectome, "runs/view", label="cell_class")
    serve(res.out_dir, port=9000)   # then open res.short_url, or res.local_url (offline)

The command line is ``python -m synhelpers view`` (:mod:`synhelpers.figures.cli`).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..answers.prediction_table import check_predictions
from ..io import write_json
from ..tables.contract import Connectome
from .neuroglancer_browser import CLIENT_PATH
from .neuroglancer_layers import (
    coordinate_space,
    write_neuron_layer,
    write_segment_properties,
    write_synapse_layer,
)
from .neuron_sites import class_colors, neuron_points, synapse_sites, voxel_nm

__all__ = ["ViewResult", "write_view", "public_segmentation", "state_url",
           "HEMIBRAIN_SEGMENTATION", "MANC_SEGMENTATION", "PUBLIC_VIEWER", "DEFAULT_BASE_URL"]

#: FlyEM hemibrain v1.2 segmentation (public bucket); bodyIds of hemibrain:v1.2.1.
HEMIBRAIN_SEGMENTATION = "precomputed://gs://neuroglancer-janelia-flyem-hemibrain/v1.2/segmentation"
#: MANC v1.2 segmentation, the one neuPrint's manc:v1.2.x bodyIds refer to. Source:
#: github.com/flyconnectome/cocoa, cocoa/datasets/manc.py (``_DEFAULT_NEUROGLANCER_SOURCE``).
#: Tables downloaded from the v1.0 exports use v1.0 bodyIds: pass ``segmentation=`` for those.
MANC_SEGMENTATION = "precomputed://gs://manc-seg-v1p2/manc-seg-v1.2"
#: The public Neuroglancer client.
PUBLIC_VIEWER = "https://neuroglancer-demo.appspot.com/"
#: Where :func:`~synhelpers.views.neuroglancer_browser.serve` serves ``out_dir`` by default.
DEFAULT_BASE_URL = "http://127.0.0.1:9000"
#: Folder names of the layers inside ``out_dir``, and the layer names in the viewer.
NEURON_LAYER, SYNAPSE_LAYER, PROPERTIES_DIR = "neurons", "synapses", "segment_properties"
NEURON_LAYER_NAME, SYNAPSE_LAYER_NAME = "neurons (predicted class)", "synapses (partner's class)"

#: Most synapse sites of a neuron that ``write_view`` picks by itself for the synapse layer.
AUTO_SYNAPSES_MAX = 5_000
#: Most synapse points a view writes (``AnnotationWriter`` writes a file per point).
SYNAPSE_POINTS_MAX = 200_000

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
        local_url: the same with the viewer bundled in ``neuroglancer``, as
            :func:`~synhelpers.views.neuroglancer_browser.serve` serves it (no internet).
        n_points: neurons drawn (predicted and with a point).
        n_without_point: predicted neurons with neither soma nor synapse (not drawn).
        n_not_in_connectome: predicted bodyIds absent from the connectome's neurons.
        n_synapses: synapse points written (one per synapse and chosen side).
    """

    state_path: Path
    url: str
    short_url: str
    local_url: str
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
        predictions: the predictions table (:mod:`~synhelpers.answers.prediction_table`).
        connectome: the tables the predictions were made on (for somata and synapses).
        out_dir: output folder; its ``neurons/``, ``synapses/`` and ``segment_properties/``
            sub-folders are replaced.
        label: which label column's predictions to show.
        synapse_bodies: neurons whose synapses to draw; ``None`` picks the 3 predicted
            neurons with the most synapses (of those with at most 5,000), ``()`` draws none.
        segmentation: a Neuroglancer segmentation source; ``None`` uses the dataset's public
            one (:func:`public_segmentation`), ``""`` none.
        base_url: where ``out_dir`` will be served (``http://127.0.0.1:PORT``).
        segments_per_class: segments shown per predicted class (most probable first).
        layout: Neuroglancer layout (``"3d"``, ``"4panel"``, ``"xy"`` ...).

    Raises:
        ValueError: the predictions lack ``label``'s columns, no predicted neuron has a
            point, or ``synapse_bodies`` names bodies absent from the connectome.
    """
    check_predictions(predictions, label)
    out_dir, base_url = Path(out_dir), base_url.rstrip("/")
    out_dir.mkdir(parents=True, exist_ok=True)
    seg = public_segmentation(connectome) if segmentation is None else (segmentation or None)
    pred = _prediction_frame(predictions, label)
    table, counts = _join_points(pred, connectome)
    classes = sorted(set(table["pred"]) | set(table["true"].dropna()))
    colors, scale_nm = class_colors(classes), voxel_nm(connectome)
    write_neuron_layer(out_dir / NEURON_LAYER, table, classes, colors, scale_nm)
    bodies = _choose_synapse_bodies(connectome, table, synapse_bodies)
    sites = synapse_sites(connectome, bodies) if bodies else None
    if sites is not None and len(sites) > SYNAPSE_POINTS_MAX:
        raise ValueError(f"synapse_bodies: {len(bodies)} neurons have {len(sites):,} synapse "
                         f"sites, more than {SYNAPSE_POINTS_MAX:,}; choose fewer or smaller ones")
    n_syn = 0 if sites is None or sites.empty else write_synapse_layer(
        out_dir / SYNAPSE_LAYER, sites, pred, classes, colors, scale_nm)
    if seg:
        write_segment_properties(out_dir / PROPERTIES_DIR, table)
    _remove_stale(out_dir, synapses=n_syn > 0, properties=bool(seg))
    state = build_state(table, colors, scale_nm=scale_nm, base_url=base_url, segmentation=seg,
                        with_synapses=n_syn > 0, layout=layout,
                        shown=_shown_segments(table, segments_per_class, bodies))
    res = ViewResult(
        state_path=write_json(out_dir / "state.json", state), url=state_url(state),
        short_url=f"{PUBLIC_VIEWER}#!{base_url}/state.json", out_dir=out_dir, base_url=base_url,
        local_url=f"{base_url}{CLIENT_PATH}#!{base_url}/state.json",
        label=label, classes=classes, colors=colors, n_points=len(table), n_synapses=n_syn,
        synapse_bodies=bodies, segmentation=seg, **counts,
        layers={layer["name"]: layer["source"][0]["url"] for layer in state["layers"]})
    write_json(out_dir / "view.json", {k: str(v) if isinstance(v, Path) else v
                                       for k, v in asdict(res).items() if k != "url"})
    return res


def state_url(state: dict, prefix: str = PUBLIC_VIEWER) -> str:
    """``prefix#!<url-encoded state>`` (Neuroglancer's own encoding, ``url_state.to_url``)."""
    import neuroglancer

    return neuroglancer.url_state.to_url(neuroglancer.ViewerState(state), prefix=prefix)


def _prediction_frame(predictions: pd.DataFrame, label: str) -> pd.DataFrame:
    """``label``'s columns renamed: index bodyId; ``pred``, ``prob``, ``true``, ``split``,
    ``entropy`` (NaN where the table has none)."""
    def column(suffix, dtype=None):
        name = f"{label}__{suffix}"
        if name not in predictions.columns:
            return np.full(len(predictions), np.nan if dtype else None, dtype=dtype or object)
        return predictions[name].to_numpy(dtype) if dtype else predictions[name].to_numpy(object)

    true = column("true")
    return pd.DataFrame({
        "pred": predictions[f"{label}__pred"].astype(str).to_numpy(),
        "prob": column("prob", np.float32),
        "true": np.where(pd.isna(true), None, true),
        "split": predictions["split"].astype(str).to_numpy(),
        "entropy": column("entropy", np.float32),
    }, index=pd.Index(predictions["bodyId"].to_numpy(np.int64), name="bodyId"))


def _join_points(pred: pd.DataFrame, connectome: Connectome):
    """The predicted neurons that have a point, DataFrame[bodyId, x, y, z, source, pred, prob,
    true, split, entropy], and the counts of those left out."""
    table = neuron_points(connectome).merge(pred.reset_index(), on="bodyId", how="inner")
    known = pred.index.isin(connectome.neurons["bodyId"])
    counts = {"n_not_in_connectome": int((~known).sum()),
              "n_without_point": int(known.sum()) - len(table)}
    if table.empty:
        raise ValueError(f"none of the {len(pred):,} predicted neurons has a point in "
                         f"{connectome.name} ({counts['n_not_in_connectome']:,} are not in its "
                         "neurons table): are these predictions for this connectome?")
    return table, counts


def _choose_synapse_bodies(connectome: Connectome, table: pd.DataFrame, bodies) -> list[int]:
    """``bodies`` checked against the connectome, or the 3 predicted neurons with the most
    synapse sites among those with at most :data:`AUTO_SYNAPSES_MAX` (a hemibrain APL has
    hundreds of thousands, too many for a layer written one file per point)."""
    if bodies is not None:
        bodies = [int(b) for b in bodies]
        unknown = sorted(set(bodies) - set(connectome.neurons["bodyId"].tolist()))
        if unknown:
            raise ValueError(f"synapse_bodies: {len(unknown)} bodyId(s) not in {connectome.name}'s "
                             f"neurons table, e.g. {unknown[:5]}")
        return bodies if connectome.synapses is not None else []
    if connectome.synapses is None:
        return []
    syn = connectome.synapses
    ids, n = np.unique(np.concatenate([syn["bodyId_pre"].to_numpy(np.int64),
                                       syn["bodyId_post"].to_numpy(np.int64)]), return_counts=True)
    keep = np.isin(ids, table["bodyId"].to_numpy(np.int64)) & (n <= AUTO_SYNAPSES_MAX)
    order = np.lexsort((ids[keep], -n[keep]))[:3]
    return ids[keep][order].tolist()


def _remove_stale(out_dir: Path, *, synapses: bool, properties: bool) -> None:
    """Remove our layer folders that this view does not use (left by an earlier run)."""
    for name, used in ((SYNAPSE_LAYER, synapses), (PROPERTIES_DIR, properties)):
        if not used and (out_dir / name / "info").is_file():
            shutil.rmtree(out_dir / name)


def _shown_segments(table: pd.DataFrame, per_class: int, bodies) -> list[int]:
    """The ``per_class`` most probable neurons of each predicted class, plus ``bodies``."""
    top = (table.sort_values(["prob", "bodyId"], ascending=[False, True])
           .groupby("pred").head(per_class))
    return sorted(set(top["bodyId"].astype(int)) | {int(b) for b in bodies})


def build_state(table: pd.DataFrame, colors: dict[str, str], *, scale_nm: float, base_url: str,
                segmentation: str | None, with_synapses: bool, shown: list[int],
                layout: str = "3d") -> dict:
    """The Neuroglancer state as a JSON dict, built with ``neuroglancer.ViewerState``.

    The view is centred on the points' bounding box and zoomed to show all of it.
    """
    import neuroglancer

    xyz = table[["x", "y", "z"]].to_numpy(np.float64)
    lo, hi = xyz.min(0), xyz.max(0)
    extent = float(max((hi - lo).max(), 1.0))
    s = neuroglancer.ViewerState()
    s.dimensions = coordinate_space(scale_nm)
    s.position = ((lo + hi) / 2).tolist()
    s.projection_scale, s.cross_section_scale = extent * 1.3, extent / 500
    s.layout = layout
    seg = "segmentation" if segmentation else None
    if segmentation:
        s.layers.append(name=seg, layer=neuroglancer.SegmentationLayer(
            source=[segmentation, f"precomputed://{base_url}/{PROPERTIES_DIR}"],
            segment_colors=dict(zip(table["bodyId"].astype(int), table["pred"].map(colors))),
            segments=shown))
    links = {"segment": seg} if seg else {}
    s.layers.append(name=NEURON_LAYER_NAME, layer=neuroglancer.AnnotationLayer(
        source=f"precomputed://{base_url}/{NEURON_LAYER}", linked_segmentation_layer=links,
        shader=_SHADER.format(size=8, prob="prob")))
    if with_synapses:
        links = {"neuron": seg, "partner": seg} if seg else {}
        s.layers.append(name=SYNAPSE_LAYER_NAME, layer=neuroglancer.AnnotationLayer(
            source=f"precomputed://{base_url}/{SYNAPSE_LAYER}", linked_segmentation_layer=links,
            shader=_SHADER.format(size=3, prob="partner_prob")))
    s.selected_layer.layer, s.selected_layer.visible = NEURON_LAYER_NAME, False
    return s.to_json()


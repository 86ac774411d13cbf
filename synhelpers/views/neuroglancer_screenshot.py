"""Look at a Neuroglancer view offline in headless Chromium, and save a screenshot.

- :func:`load_view`: serve a :func:`~synhelpers.views.neuroglancer.write_view` output and
  the viewer bundled in the ``neuroglancer`` package on a free port, open it in headless
  Chromium, and read back, from the viewer's own JavaScript objects, its state and the
  number of annotations each layer loaded.
- :func:`screenshot_view`: the same, saving a PNG (for ``figures/``).

The state is loaded as :attr:`~synhelpers.views.neuroglancer.ViewResult.short_url` loads
it: the viewer fetches the state file. (With the whole state in the URL fragment, the
client bundled in ``neuroglancer`` 2.41.2 drops a layer now and then while restoring it,
"Cannot read properties of undefined (reading 'length')"; fetching the state never did.)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from .neuroglancer_browser import CLIENT_PATH, DevTools, serve

__all__ = ["load_view", "screenshot_view", "BrowserReport"]


#: Per layer, from the viewer's own objects: the annotations held by its loaded chunks
#: (distinct ids), its annotation property ids, data-source errors, and for segmentation
#: layers the number of segments with properties and the tags.
_LAYER_REPORT_JS = """(() => {
  const out = {};
  for (const ml of viewer.layerManager.managedLayers) {
    const layer = ml.layer, info = {errors: [], n_annotations: null, properties: null};
    for (const ds of (layer && layer.dataSources) || []) {
      const s = ds.loadState;
      if (s && s.error) info.errors.push(String(s.error.message || s.error));
    }
    if (layer && layer.annotationStates) {
      const ids = new Set();
      for (const st of layer.annotationStates.states) {
        const src = st.source;
        info.properties = (src.properties || []).map(p => p.identifier);
        for (const level of src.spatiallyIndexedSources || []) {
          for (const chunk of level.chunks.values()) {
            const d = chunk.data && chunk.data.serializedAnnotations;
            if (d) for (const typeIds of d.typeToIds) for (const id of typeIds) ids.add(String(id));
          }
        }
      }
      info.n_annotations = ids.size;
    }
    const group = layer && layer.displayState && layer.displayState.segmentationGroupState;
    if (group) {
      const map = group.value.segmentPropertyMap.value;
      const inline = map && map.segmentPropertyMap && map.segmentPropertyMap.inlineProperties;
      info.n_segment_properties = inline ? inline.ids.length : 0;
      info.tags = map && map.tags ? Array.from(map.tags.tags) : [];
    }
    out[ml.name] = info;
  }
  return out;
})()"""


@dataclass
class BrowserReport:
    """What the viewer showed.

    Attributes:
        layers: per layer name, ``n_annotations`` (distinct annotations in its loaded chunks,
            ``None`` for non-annotation layers), ``properties`` and ``errors``; segmentation
            layers also ``n_segment_properties`` and ``tags``.
        expected: per annotation layer, the number of points :func:`write_view` wrote.
        state: the viewer's state (``viewer.state.toJSON()``) once loaded.
        complete: every annotation layer loaded exactly the expected number of points, and
            the segmentation layer (if any) the properties of every drawn neuron.
        elapsed_s: seconds from starting Chromium to the end.
    """

    layers: dict
    expected: dict
    state: dict
    complete: bool
    elapsed_s: float
    png: Path | None = None
    console: list = field(default_factory=list)
    requests: list = field(default_factory=list)


def load_view(out_dir: str | Path, *, png: str | Path | None = None, size=(1024, 768),
              timeout_s: float = 40, chromium: str | None = None,
              controls: bool = True) -> BrowserReport:
    """Open a :func:`write_view` output in headless Chromium, offline, and report what loaded.

    ``out_dir`` and the bundled client are served on a free port; the state is loaded the
    way :attr:`ViewResult.short_url` loads it (the viewer fetches ``state.json``, here with
    its ``base_url`` pointed at that port). Waits, at most ``timeout_s`` in all, until every
    annotation layer holds the number of points written, then saves a screenshot to
    ``png`` if given (without the viewer's buttons and panels if ``controls`` is False).

    Raises:
        BrowserUnavailable: no Chromium, or it did not start.
    """
    out_dir = Path(out_dir)
    view = json.loads((out_dir / "view.json").read_text())
    dirs = _annotation_dirs(view)
    expected = {name: view["n_points" if d == "neurons" else "n_synapses"]
                for name, d in dirs.items()}
    seg_layers = [n for n in view["layers"] if n not in dirs] if view.get("segmentation") else []
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    with serve(out_dir, 0, block=False) as server, \
            DevTools(chromium, size=size, timeout_s=min(20.0, timeout_s)) as page:
        state_text = (out_dir / "state.json").read_text().replace(view["base_url"], server.url)
        server.extra["/state.local.json"] = state_text.encode()
        page.navigate(f"{server.url}{CLIENT_PATH}#!{server.url}/state.local.json")
        # wait without touching the page until the viewer has asked for every layer's points
        while time.monotonic() < deadline and not all(
                any(r.startswith(f"/{d}/spatial0/") for r in server.requests) for d in dirs.values()):
            time.sleep(0.05)

        def complete(rep: dict) -> bool:
            return (all((rep.get(k) or {}).get("n_annotations") == n for k, n in expected.items())
                    and all((rep.get(k) or {}).get("n_segment_properties") == view["n_points"]
                            for k in seg_layers))

        layers = _poll(lambda: page.evaluate(_LAYER_REPORT_JS), complete, deadline)
        if png is not None:
            _save_screenshot(page, Path(png), controls, min(deadline, time.monotonic() + 5))
        state = page.evaluate("viewer.state.toJSON()")
    return BrowserReport(layers=layers, expected=expected, state=state, complete=complete(layers),
                         elapsed_s=time.monotonic() - t0, png=Path(png) if png else None,
                         console=page.console, requests=list(server.requests))


def _annotation_dirs(view: dict) -> dict[str, str]:
    """Annotation layer name -> its folder in ``out_dir`` (``neurons`` or ``synapses``)."""
    dirs = {name: url.rstrip("/").rsplit("/", 1)[-1] for name, url in view["layers"].items()}
    return {name: d for name, d in dirs.items() if d in ("neurons", "synapses")}


def _poll(read, done, deadline: float, every_s: float = 0.2):
    """Call ``read()`` until ``done(value)`` or ``deadline``; return the last value."""
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(every_s)
        value = read()
    return value


def _save_screenshot(page: DevTools, png: Path, controls: bool, deadline: float) -> None:
    if not controls:
        page.evaluate("(() => { const u = viewer.uiConfiguration; u.showUIControls.value = false;"
                      " u.showPanelBorders.value = false; viewer.showAxisLines.value = false;"
                      " return true; })()")
    _poll(lambda: page.evaluate("viewer.display.isReady()"), bool, deadline)
    time.sleep(0.2)  # one more frame after the last chunk is drawn
    png.parent.mkdir(parents=True, exist_ok=True)
    png.write_bytes(page.screenshot())


def screenshot_view(out_dir: str | Path, png: str | Path, *, size=(1024, 768),
                    timeout_s: float = 40, chromium: str | None = None,
                    controls: bool = False, legend: bool = True) -> Path:
    """Save a PNG of a :func:`write_view` output as headless Chromium shows it, offline.

    Args:
        controls: keep the viewer's buttons and layer bar in the picture.
        legend: add a legend of the class colours to the right (drawn with matplotlib).

    Raises:
        BrowserUnavailable: no Chromium, or it did not start.
        RuntimeError: the layers did not load within ``timeout_s`` (the message says which).

    Example (in a notebook)::

        res = write_view(predictions, connectome, "runs/view")
        screenshot_view(res.out_dir, "figures/neuroglancer_cell_class.png")
    """
    report = load_view(out_dir, png=png, size=size, timeout_s=timeout_s, chromium=chromium,
                       controls=controls)
    if not report.complete:
        got = {k: v.get("n_annotations") for k, v in report.layers.items()}
        raise RuntimeError(f"{out_dir}: the view did not finish loading in {timeout_s:.0f} s "
                           f"(annotations loaded {got}, expected {report.expected}; errors "
                           f"{[v['errors'] for v in report.layers.values() if v['errors']]})")
    if legend:
        view = json.loads((Path(out_dir) / "view.json").read_text())
        _add_legend(Path(png), view["colors"], f"predicted {view['label']}")
    return Path(png)


def _add_legend(png: Path, colors: dict[str, str], title: str) -> None:
    """Redraw ``png`` with a legend of ``colors`` to its right, same pixel height."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    image = plt.imread(png)
    h, w = image.shape[:2]
    dpi = 100
    fig = plt.figure(figsize=((w + 260) / dpi, h / dpi), dpi=dpi, facecolor="black")
    ax = fig.add_axes((0, 0, w / (w + 260), 1))
    ax.imshow(image)
    ax.set_axis_off()
    fig.legend(handles=[Patch(color=c, label=k) for k, c in colors.items()], title=title,
               loc="center left", bbox_to_anchor=(w / (w + 260), 0.5), frameon=False,
               labelcolor="white", fontsize=9, title_fontsize=10).get_title().set_color("white")
    fig.savefig(png, dpi=dpi, facecolor="black")
    plt.close(fig)

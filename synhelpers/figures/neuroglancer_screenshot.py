"""Look at a Neuroglancer view offline in headless Chromium, and save a screenshot.

- :func:`load_view`: serve a :func:`~synhelpers.figures.neuroglancer.write_view` output and
  the viewer bundled in the ``neuroglancer`` package on a free port, open it in headless
  Chromium, and read back, from the viewer's own JavaScript objects, its state and the
  number of annotations each layer loaded.
- :func:`screenshot_view`: the same, saving a PNG (for ``figures/``).

The state is loaded as :attr:`~synhelpers.figures.neuroglancer.ViewResult.short_url` loads
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
#: (distinct ids), its annotation property ids, and data-source errors.
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
    out[ml.name] = info;
  }
  return out;
})()"""


@dataclass
class BrowserReport:
    """What the viewer showed.

    Attributes:
        layers: per layer name, ``n_annotations`` (distinct annotations in its loaded chunks,
            ``None`` for non-annotation layers), ``properties`` and ``errors``.
        expected: per annotation layer, the number of points :func:`write_view` wrote.
        state: the viewer's state (``viewer.state.toJSON()``) once loaded.
        complete: every annotation layer loaded exactly the expected number of points.
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
              timeout_s: float = 40, chromium: str | None = None) -> BrowserReport:
    """Open a :func:`write_view` output in headless Chromium, offline, and report what loaded.

    ``out_dir`` and the bundled client are served on a free port; the state is loaded the
    way :attr:`ViewResult.short_url` loads it (the viewer fetches ``state.json``, here with
    its ``base_url`` pointed at that port). Waits, at most ``timeout_s`` in all, until every
    annotation layer holds the number of points written, then saves a screenshot to
    ``png`` if given.

    Raises:
        BrowserUnavailable: no Chromium, or it did not start.
    """
    out_dir = Path(out_dir)
    view = json.loads((out_dir / "view.json").read_text())
    state_text = (out_dir / "state.json").read_text()
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    with serve(out_dir, 0, block=False) as server, \
            DevTools(chromium, size=size, timeout_s=min(20.0, timeout_s)) as page:
        server.extra["/state.local.json"] = state_text.replace(view["base_url"], server.url).encode()
        expected = _expected_counts(view)
        page.navigate(f"{server.url}{CLIENT_PATH}#!{server.url}/state.local.json")
        # wait without touching the page until the viewer has asked for every layer's points
        wanted = {f"/{Path(u).name}/spatial0/" for u in view["layers"].values()
                  if u.rstrip("/").rsplit("/", 1)[-1] in ("neurons", "synapses")}
        while time.monotonic() < deadline and not all(
                any(r.startswith(w) for r in server.requests) for w in wanted):
            time.sleep(0.05)
        layers = _poll(page, lambda: page.evaluate(_LAYER_REPORT_JS),
                       lambda rep: all((rep.get(k) or {}).get("n_annotations") == n
                                       for k, n in expected.items()), deadline)
        complete = all((layers.get(k) or {}).get("n_annotations") == n for k, n in expected.items())
        if png is not None:
            _poll(page, lambda: page.evaluate("viewer.display.isReady()"), bool,
                  min(deadline, time.monotonic() + 5))
            Path(png).parent.mkdir(parents=True, exist_ok=True)
            Path(png).write_bytes(page.screenshot())
        state = page.evaluate("viewer.state.toJSON()")
        requests = list(server.requests)
    return BrowserReport(layers=layers, expected=expected, state=state, complete=complete,
                         elapsed_s=time.monotonic() - t0, png=Path(png) if png else None,
                         console=page.console, requests=requests)


def _expected_counts(view: dict) -> dict[str, int]:
    """Annotation layer name -> points written, from ``view.json``."""
    n = {"neurons": view["n_points"], "synapses": view["n_synapses"]}
    return {name: n[url.rstrip("/").rsplit("/", 1)[-1]] for name, url in view["layers"].items()
            if url.rstrip("/").rsplit("/", 1)[-1] in n}


def _poll(page: DevTools, read, done, deadline: float, every_s: float = 0.2):
    """Call ``read()`` until ``done(value)`` or ``deadline``; return the last value."""
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(every_s)
        value = read()
    return value


def screenshot_view(out_dir: str | Path, png: str | Path, *, size=(1024, 768),
                    timeout_s: float = 40, chromium: str | None = None) -> Path:
    """Save a PNG of a :func:`write_view` output as headless Chromium shows it, offline.

    Raises:
        BrowserUnavailable: no Chromium, or it did not start.
        RuntimeError: the layers did not load within ``timeout_s`` (the message says which).

    Example (in a notebook)::

        res = write_view(predictions, connectome, "runs/view")
        screenshot_view(res.out_dir, "figures/neuroglancer_cell_class.png")
    """
    report = load_view(out_dir, png=png, size=size, timeout_s=timeout_s, chromium=chromium)
    if not report.complete:
        got = {k: v.get("n_annotations") for k, v in report.layers.items()}
        raise RuntimeError(f"{out_dir}: the view did not finish loading in {timeout_s:.0f} s "
                           f"(annotations loaded {got}, expected {report.expected}; errors "
                           f"{[v['errors'] for v in report.layers.values() if v['errors']]})")
    return Path(png)

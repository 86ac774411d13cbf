"""The Neuroglancer view in a real browser: headless Chromium, offline.

``out_dir`` and the viewer bundled in the ``neuroglancer`` package are served on
127.0.0.1; what is asserted is read from the viewer's own JavaScript objects (its state and
the annotations held by each layer's loaded chunks) and from the screenshot's pixels.
Skips, saying why, only where Chromium cannot be found or started.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("neuroglancer")
pytest.importorskip("websocket")

from synhelpers.answers.prediction_table import fake_predictions  # noqa: E402
from synhelpers.tables import load_tables  # noqa: E402
from synhelpers.tables.contract import Connectome  # noqa: E402
from synhelpers.views.neuroglancer import NEURON_LAYER_NAME, SYNAPSE_LAYER_NAME, write_view  # noqa: E402
from synhelpers.views.neuroglancer_browser import (  # noqa: E402
    BrowserUnavailable,
    DevTools,
    find_chromium,
)
from synhelpers.views.neuroglancer_screenshot import (  # noqa: E402
    _add_legend,
    load_view,
    screenshot_view,
)
from synhelpers.views.neuron_sites import neuron_points  # noqa: E402


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("Chromium not found (apt-get install -y chromium, or set SYNHELPERS_CHROMIUM)")
    try:
        with DevTools(path, timeout_s=20) as page:
            assert page.evaluate("1 + 1") == 2
    except BrowserUnavailable as e:
        pytest.skip(f"Chromium did not start: {e}")
    return path


@pytest.fixture(scope="module")
def written(synthetic_dir, tmp_path_factory):
    con = load_tables(synthetic_dir, check_weights=False)
    predictions = fake_predictions(con.neurons, connectome=con.name)
    res = write_view(predictions, con, tmp_path_factory.mktemp("view"))
    return res, predictions, con


def test_viewer_loads_every_point_and_the_state(chromium, written, tmp_path):
    res, predictions, con = written
    report = load_view(res.out_dir, png=tmp_path / "view.png", timeout_s=40, chromium=chromium)
    points = neuron_points(con)
    n_drawn = int(points["bodyId"].isin(predictions["bodyId"]).sum())
    syn = con.synapses
    n_syn = int(syn["bodyId_pre"].isin(res.synapse_bodies).sum()
                + syn["bodyId_post"].isin(res.synapse_bodies).sum())
    loaded = {name: layer["n_annotations"] for name, layer in report.layers.items()}
    assert loaded == {NEURON_LAYER_NAME: n_drawn, SYNAPSE_LAYER_NAME: n_syn}, report.console
    assert report.complete and not any(layer["errors"] for layer in report.layers.values())
    assert set(report.layers[NEURON_LAYER_NAME]["properties"]) == {
        "color", "pred", "prob", "true_label", "split", "entropy"}
    written_state = json.loads(res.state_path.read_text())
    assert [layer["name"] for layer in report.state["layers"]] == [
        layer["name"] for layer in written_state["layers"]]
    assert report.state["dimensions"] == written_state["dimensions"]
    assert report.elapsed_s < 40


def test_viewer_reads_the_segment_properties_of_a_real_dataset(chromium, written, tmp_path):
    res, predictions, con = written
    hemibrain = Connectome(con.neurons, con.connections, con.synapses, name="hemibrain:v1.2.1",
                           meta=con.meta)
    real = write_view(predictions, hemibrain, tmp_path / "hemibrain", synapse_bodies=())
    report = load_view(real.out_dir, timeout_s=30, chromium=chromium)
    seg = report.layers["segmentation"]  # its EM segmentation is online: offline it errors
    assert seg["n_segment_properties"] == real.n_points and report.complete
    drawn = [int(b) for b in report.state["layers"][0]["segmentColors"]]
    classes = predictions.set_index("bodyId").loc[drawn, "cell_class__pred"]
    assert seg["tags"] == sorted(classes.unique()) and len(drawn) == real.n_points
    assert report.layers[NEURON_LAYER_NAME]["n_annotations"] == real.n_points


def test_screenshot_shows_the_class_colours(chromium, written, tmp_path):
    from PIL import Image

    res = written[0]
    png = screenshot_view(res.out_dir, tmp_path / "figures" / "view.png", size=(800, 600),
                          chromium=chromium, legend=False)
    pixels = np.asarray(Image.open(png).convert("RGB"))
    assert pixels.shape == (600, 800, 3)
    assert (_n_pixels_per_colour(pixels, res.colors.values()) >= 20).sum() >= len(res.colors) // 2
    _add_legend(png, res.colors, "predicted cell_class")
    with_legend = np.asarray(Image.open(png).convert("RGB"))
    assert with_legend.shape == (600, 800 + 260, 3)
    assert (_n_pixels_per_colour(with_legend[:, 800:], res.colors.values()) > 0).all()


def _n_pixels_per_colour(pixels: np.ndarray, colors) -> np.ndarray:
    """Pixels within 2 levels of each ``#rrggbb`` colour."""
    flat = pixels.reshape(-1, 3).astype(int)
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colors])
    return (np.abs(flat[:, None, :] - rgb[None]).max(2) <= 2).sum(0)

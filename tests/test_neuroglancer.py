"""Neuroglancer view and navis export of per-neuron predictions (no browser needed).

The annotation files are decoded here from the format's specification (google/neuroglancer
``src/datasource/precomputed/annotations.md``), not with the writer that made them.
"""

from __future__ import annotations

import argparse
import json
import urllib.request

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("neuroglancer")

from synhelpers.answers.prediction_table import (  # noqa: E402
    check_predictions,
    fake_predictions,
    read_predictions,
    write_predictions,
)
from synhelpers.tables import from_frames, load_tables  # noqa: E402
from synhelpers.tables.contract import Connectome  # noqa: E402
from synhelpers.views.cli import register  # noqa: E402
from synhelpers.views.navis_export import (  # noqa: E402
    attach_connectors,
    connector_table,
    write_connector_tables,
)
from synhelpers.views.neuroglancer import (  # noqa: E402
    HEMIBRAIN_SEGMENTATION,
    MANC_SEGMENTATION,
    NEURON_LAYER_NAME,
    SYNAPSE_LAYER_NAME,
    state_url,
    write_view,
)
from synhelpers.views.neuroglancer_browser import serve  # noqa: E402
from synhelpers.views.neuron_sites import class_colors, neuron_points, synapse_sites  # noqa: E402

BASE = "http://127.0.0.1:9555"
_SIZES = {"float32": ("<f4", 4), "uint32": ("<u4", 4), "int32": ("<i4", 4), "uint16": ("<u2", 2),
          "int16": ("<i2", 2), "uint8": ("u1", 1), "int8": ("i1", 1), "rgb": (("u1", 3), 1),
          "rgba": (("u1", 4), 1)}


def read_points(layer_dir) -> pd.DataFrame:
    """Decode a point layer's single spatial chunk (spec: multiple annotation encoding)."""
    info = json.loads((layer_dir / "info").read_text())
    assert info["annotation_type"] == "point" and len(info["spatial"]) == 1
    rank = len(info["dimensions"])
    props = sorted(info["properties"], key=lambda p: -_SIZES[p["type"]][1])  # stable: by size
    fmts = [_SIZES[p["type"]][0] for p in props]
    raw = np.dtype([("xyz", "<f4", (rank,))] + [(p["id"], *f) if isinstance(f, tuple)
                                                 else (p["id"], f) for p, f in zip(props, fmts)])
    dtype = np.dtype({"names": raw.names, "formats": [raw[n] for n in raw.names],
                      "offsets": [raw.fields[n][1] for n in raw.names],
                      "itemsize": -(-raw.itemsize // 4) * 4})  # padded to a multiple of 4 bytes
    key = "_".join(["0"] * rank)
    data = (layer_dir / info["spatial"][0]["key"] / key).read_bytes()
    n = int(np.frombuffer(data[:8], "<u8")[0])
    rec = np.frombuffer(data[8:8 + n * dtype.itemsize], dtype)
    ids = np.frombuffer(data[8 + n * dtype.itemsize:], "<u8")
    assert len(ids) == n
    out = pd.DataFrame({"id": ids.astype(np.int64), "x": rec["xyz"][:, 0], "y": rec["xyz"][:, 1],
                        "z": rec["xyz"][:, 2]})
    for p in props:
        v = rec[p["id"]]
        if p["type"] == "rgb":
            out[p["id"]] = ["#" + bytes(c).hex() for c in v]
        elif "enum_labels" in p:
            labels = dict(zip(p["enum_values"], p["enum_labels"]))
            out[p["id"]] = [labels[int(c)] for c in v]
        else:
            out[p["id"]] = v
    return out


@pytest.fixture(scope="module")
def connectome(synthetic_dir) -> Connectome:
    return load_tables(synthetic_dir, check_weights=False)


@pytest.fixture(scope="module")
def predictions(connectome) -> pd.DataFrame:
    return fake_predictions(connectome.neurons, connectome=connectome.name)


@pytest.fixture(scope="module")
def view(predictions, connectome, tmp_path_factory):
    return write_view(predictions, connectome, tmp_path_factory.mktemp("view"), base_url=BASE)


# --------------------------------------------------------------------------- neuron points


def test_neuron_points_use_the_soma_else_the_synapse_centroid(connectome):
    pts = neuron_points(connectome).set_index("bodyId")
    neurons = connectome.neurons.set_index("bodyId")
    soma = pts[pts["source"] == "soma"]
    assert len(soma) == neurons["somaLocation"].notna().sum() > 0
    want = np.stack(neurons.loc[soma.index, "somaLocation"].to_numpy()).astype(float)
    np.testing.assert_array_equal(soma[["x", "y", "z"]].to_numpy(), want)
    fallback = pts[pts["source"] == "synapse_centroid"]
    assert len(fallback) > 0 and neurons.loc[fallback.index, "somaLocation"].isna().all()
    syn = connectome.synapses
    for body in fallback.index[:5]:  # a handful, checked the slow, obvious way
        sites = np.concatenate([
            syn.loc[syn["bodyId_pre"] == body, ["x_pre", "y_pre", "z_pre"]].to_numpy(float),
            syn.loc[syn["bodyId_post"] == body, ["x_post", "y_post", "z_post"]].to_numpy(float)])
        np.testing.assert_allclose(fallback.loc[body, ["x", "y", "z"]].to_numpy(float),
                                   sites.mean(0))
    assert pts.attrs["n_dropped"] == len(neurons) - len(pts)


def test_neuron_points_drop_bodies_without_soma_or_synapse_and_say_so():
    n = pd.DataFrame({"bodyId": [1, 2, 3], "somaLocation": [None, None, [1, 2, 3]]})
    c = pd.DataFrame({"bodyId_pre": [3], "bodyId_post": [2], "weight": [1]})
    s = pd.DataFrame({"bodyId_pre": [3], "bodyId_post": [2], "x_pre": [0], "y_pre": [0],
                      "z_pre": [0], "x_post": [2], "y_post": [4], "z_post": [6]})
    pts = neuron_points(from_frames(n, c, s))
    assert pts["bodyId"].tolist() == [2, 3]
    assert pts["source"].tolist() == ["synapse_centroid", "soma"]
    assert pts.loc[0, ["x", "y", "z"]].tolist() == [2.0, 4.0, 6.0]  # only its PSD, not 3's T-bar
    assert pts.attrs["n_dropped"] == 1 and pts.attrs["dropped_bodyIds"] == [1]


def test_neuron_points_name_a_malformed_soma():
    n = pd.DataFrame({"bodyId": [1, 2], "somaLocation": [[1, 2, 3], [4, 5]]})
    c = pd.DataFrame({"bodyId_pre": [1], "bodyId_post": [2], "weight": [1]})
    with pytest.raises(ValueError, match=r"somaLocation.*row 1"):
        neuron_points(from_frames(n, c))


# --------------------------------------------------------------------------- annotation layers


def test_neuron_layer_has_one_point_per_predicted_neuron_with_its_prediction(view, predictions,
                                                                              connectome):
    pts = neuron_points(connectome)
    drawn = pts[pts["bodyId"].isin(predictions["bodyId"])]
    got = read_points(view.out_dir / "neurons").set_index("id").sort_index()
    assert view.n_points == len(got) == len(drawn)
    assert view.n_without_point == len(predictions) - len(drawn) == pts.attrs["n_dropped"]
    want = predictions.set_index("bodyId").loc[got.index]
    np.testing.assert_array_equal(got["prob"].to_numpy(), want["cell_class__prob"].to_numpy())
    assert (got["pred"] == want["cell_class__pred"]).all()
    assert (got["true_label"] == want["cell_class__true"].fillna("(none)")).all()
    assert (got["split"] == want["split"]).all()
    assert (got["color"] == want["cell_class__pred"].map(view.colors)).all()
    xyz = drawn.set_index("bodyId").loc[got.index, ["x", "y", "z"]].to_numpy(np.float32)
    np.testing.assert_array_equal(got[["x", "y", "z"]].to_numpy(), xyz)
    assert (view.out_dir / "neurons" / "by_id" / str(got.index[0])).is_file()


def test_synapse_layer_holds_every_synapse_of_the_chosen_neurons(view, predictions, connectome):
    syn = connectome.synapses
    bodies = view.synapse_bodies
    assert len(bodies) == 3
    n_expected = syn["bodyId_pre"].isin(bodies).sum() + syn["bodyId_post"].isin(bodies).sum()
    got = read_points(view.out_dir / "synapses")
    assert view.n_synapses == len(got) == n_expected > 0
    sites = synapse_sites(connectome, bodies)
    partner_pred = sites["partner_id"].map(predictions.set_index("bodyId")["cell_class__pred"])
    assert (got["partner_pred"].to_numpy() == partner_pred.to_numpy()).all()
    assert (got["color"] == partner_pred.map(view.colors).to_numpy()).all()
    assert set(got["side"]) == {"output (T-bar)", "input (PSD)"}


def test_auto_synapse_neurons_are_the_largest_under_the_cap(predictions, connectome, tmp_path,
                                                             monkeypatch):
    import synhelpers.views.neuroglancer as ng_view

    syn = connectome.synapses
    n_sites = pd.concat([syn["bodyId_pre"], syn["bodyId_post"]]).value_counts()
    cap = int(n_sites.median())
    monkeypatch.setattr(ng_view, "AUTO_SYNAPSES_MAX", cap)
    res = write_view(predictions, connectome, tmp_path, base_url=BASE)
    under = n_sites[n_sites <= cap]
    assert sorted(n_sites.loc[res.synapse_bodies]) == sorted(under.nlargest(3))
    monkeypatch.setattr(ng_view, "SYNAPSE_POINTS_MAX", 10)
    with pytest.raises(ValueError, match=r"synapse_bodies: 3 neurons have .* more than 10"):
        write_view(predictions, connectome, tmp_path, base_url=BASE)


def test_class_colours_are_distinct_and_never_grey():
    colors = class_colors([f"c{i}" for i in range(40)])
    assert len(set(colors.values())) == 40
    assert all(len({c[1:3], c[3:5], c[5:7]}) > 1 for c in colors.values())


# --------------------------------------------------------------------------- state and URL


def test_state_names_the_layers_and_points_at_the_base_url(view):
    state = json.loads(view.state_path.read_text())
    names = [layer["name"] for layer in state["layers"]]
    assert names == [NEURON_LAYER_NAME, SYNAPSE_LAYER_NAME]  # synthetic: no segmentation
    sources = [layer["source"][0]["url"] for layer in state["layers"]]
    assert sources == [f"precomputed://{BASE}/neurons", f"precomputed://{BASE}/synapses"]
    assert state["dimensions"] == {d: [8e-09, "m"] for d in "xyz"}
    assert "prop_prob()" in state["layers"][0]["shader"]
    view_json = json.loads((view.out_dir / "view.json").read_text())
    assert view_json["n_points"] == view.n_points and view_json["layers"] == view.layers


def test_url_decodes_to_the_same_state(view):
    import neuroglancer

    assert view.url.startswith("https://neuroglancer-demo.appspot.com/#!")
    state = json.loads(view.state_path.read_text())
    assert neuroglancer.parse_url(view.url).to_json() == state
    assert view.short_url == f"https://neuroglancer-demo.appspot.com/#!{BASE}/state.json"
    assert view.local_url == f"{BASE}/v/static/#!{BASE}/state.json"


@pytest.mark.parametrize("name, source", [("hemibrain:v1.2.1", HEMIBRAIN_SEGMENTATION),
                                          ("manc:v1.2.1", MANC_SEGMENTATION)])
def test_real_datasets_get_their_segmentation_coloured_by_class(connectome, predictions, tmp_path,
                                                               name, source):
    con = Connectome(connectome.neurons, connectome.connections, connectome.synapses,
                     name=name, meta=connectome.meta)
    res = write_view(predictions, con, tmp_path, base_url=BASE, synapse_bodies=(),
                     segments_per_class=2)
    state = json.loads(res.state_path.read_text())
    seg = state["layers"][0]
    assert seg["type"] == "segmentation" and res.segmentation == source
    assert [s["url"] for s in seg["source"]] == [source, f"precomputed://{BASE}/segment_properties"]
    pred = predictions.set_index("bodyId")["cell_class__pred"]
    colours = pd.Series(seg["segmentColors"])
    assert len(colours) == res.n_points
    assert (colours == pred.loc[colours.index.astype(np.int64)].map(res.colors).to_numpy()).all()
    shown = pred.loc[np.array(seg["segments"], dtype=np.int64)]
    assert shown.value_counts().max() == 2 and shown.nunique() == len(set(colours))
    assert state["layers"][1]["linkedSegmentationLayer"] == {"segment": "segmentation"}
    props = json.loads((tmp_path / "segment_properties" / "info").read_text())["inline"]
    assert len(props["ids"]) == res.n_points
    tags = next(p for p in props["properties"] if p["type"] == "tags")
    assert tags["tags"][tags["values"][0][0]] == pred.loc[int(props["ids"][0])]
    assert not (tmp_path / "synapses").exists()


def test_rewriting_with_fewer_layers_removes_the_stale_ones(predictions, connectome, tmp_path):
    write_view(predictions, connectome, tmp_path, base_url=BASE)
    assert (tmp_path / "synapses" / "info").is_file()
    res = write_view(predictions, connectome, tmp_path, base_url=BASE, synapse_bodies=[])
    assert res.n_synapses == 0 and not (tmp_path / "synapses").exists()
    assert [layer["name"] for layer in json.loads(res.state_path.read_text())["layers"]] == [
        NEURON_LAYER_NAME]


def test_clear_errors(predictions, connectome, tmp_path):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['type__pred'"):
        write_view(predictions, connectome, tmp_path, label="type")
    with pytest.raises(ValueError, match="synapse_bodies: 1 bodyId"):
        write_view(predictions, connectome, tmp_path, synapse_bodies=[1])
    other = predictions.assign(bodyId=predictions["bodyId"] + 1)
    with pytest.raises(ValueError, match="are these predictions for this connectome"):
        write_view(other, connectome, tmp_path)
    with pytest.raises(ValueError, match="column 'split' has values outside"):
        check_predictions(predictions.assign(split="holdout"), "cell_class")
    with pytest.raises(ValueError, match="'bodyId' has 2 duplicated"):
        check_predictions(pd.concat([predictions.head(1)] * 2), "cell_class")


def test_fake_predictions_follow_the_schema(predictions, connectome, tmp_path):
    for label in ("cell_class", "predictedNt"):
        probs = predictions[f"{label}__prob"]
        assert probs.dtype == np.float32 and probs.between(0, 1).all()
        top = predictions[f"{label}__top3_classes"].map(lambda c: c[0])
        assert (top == predictions[f"{label}__pred"]).all()
    unlabelled = connectome.neurons["cell_class"].isna().to_numpy()
    assert (predictions["split"].to_numpy()[unlabelled] == "unlabelled").all()
    path = write_predictions(predictions, tmp_path / "p.parquet")
    df, meta = read_predictions(path)
    assert meta["label_columns"] == ["cell_class", "predictedNt"] and len(df) == len(predictions)


# --------------------------------------------------------------------------- server and CLI


def test_server_sends_files_with_cors_and_the_bundled_viewer(view):
    with serve(view.out_dir, 0, block=False) as server:
        with urllib.request.urlopen(f"{server.url}/neurons/info", timeout=5) as r:
            assert json.load(r)["annotation_type"] == "point"
            assert r.headers["Access-Control-Allow-Origin"] == "*"
        with urllib.request.urlopen(f"{server.url}/v/static/", timeout=5) as r:
            assert b"<script" in r.read()
        req = urllib.request.Request(f"{server.url}/state.json", method="OPTIONS")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 204 and r.headers["Access-Control-Allow-Private-Network"] == "true"
        assert server.url.startswith("http://127.0.0.1:") and "/neurons/info" in server.requests


def test_view_command_writes_a_view(synthetic_dir, predictions, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    write_predictions(predictions, tmp_path / "predictions.parquet")
    args = parser.parse_args(["view", "--predictions", str(tmp_path / "predictions.parquet"),
                              "--tables", str(synthetic_dir), "--out", str(tmp_path / "v"),
                              "--label", "predictedNt", "--port", "9777", "--synapse-bodies"])
    assert args.func(args) == 0
    state = json.loads((tmp_path / "v" / "state.json").read_text())
    assert [layer["name"] for layer in state["layers"]] == [NEURON_LAYER_NAME]
    assert "http://127.0.0.1:9777/state.json" in capsys.readouterr().out
    points = read_points(tmp_path / "v" / "neurons")
    assert set(points["pred"]) <= set(predictions["predictedNt__pred"])


def test_state_url_uses_the_given_viewer(view):
    state = json.loads(view.state_path.read_text())
    assert state_url(state, prefix="http://127.0.0.1:1/v/static/").startswith(
        "http://127.0.0.1:1/v/static/#!%7B")


# --------------------------------------------------------------------------- navis export


def test_connector_table_uses_navis_columns_and_carries_predictions(predictions, connectome,
                                                                    tmp_path):
    bodies = predictions["bodyId"].iloc[:4].tolist()
    path = write_connector_tables(predictions, connectome, tmp_path, bodies=bodies)
    table = pd.read_parquet(path)
    assert list(table.columns[:8]) == ["neuron", "connector_id", "node_id", "type", "x", "y", "z",
                                       "partner_id"]
    syn = connectome.synapses
    assert len(table) == syn["bodyId_pre"].isin(bodies).sum() + syn["bodyId_post"].isin(bodies).sum()
    pre = table[table["type"] == "pre"].iloc[0]
    row = syn.iloc[int(pre["connector_id"])]
    assert (row["bodyId_pre"], row["bodyId_post"]) == (pre["neuron"], pre["partner_id"])
    assert pre[["x", "y", "z"]].tolist() == row[["x_pre", "y_pre", "z_pre"]].astype(float).tolist()
    by_body = predictions.set_index("bodyId")
    assert pre["partner_cell_class_pred"] == by_body.loc[pre["partner_id"], "cell_class__pred"]
    assert pre["predictedNt_prob"] == pytest.approx(by_body.loc[pre["neuron"], "predictedNt__prob"])
    meta = json.loads((tmp_path / "connectors.json").read_text())
    assert meta["n_rows"] == len(table) and meta["units"] == "8 nm (voxels)"


def test_attach_connectors_snaps_to_skeleton_nodes(predictions, connectome):
    navis = pytest.importorskip("navis")
    body = int(predictions["bodyId"].iloc[0])
    table = connector_table(predictions, connectome, bodies=[body])
    xyz = np.unique(table[["x", "y", "z"]].to_numpy(), axis=0) * 8  # a skeleton in nm
    nodes = pd.DataFrame({"node_id": np.arange(1, len(xyz) + 1), "parent_id": np.arange(len(xyz)),
                          "x": xyz[:, 0] + 4, "y": xyz[:, 1], "z": xyz[:, 2]})
    nodes.loc[0, "parent_id"] = -1
    neuron = navis.TreeNeuron(nodes, id=body)
    attach_connectors(navis.NeuronList([neuron]), table, scale=8)
    con = neuron.connectors
    snapped = nodes.set_index("node_id").loc[con["node_id"], ["x", "y", "z"]].to_numpy()
    np.testing.assert_array_equal(snapped - [4, 0, 0], con[["x", "y", "z"]].to_numpy())
    np.testing.assert_array_equal(con[["x", "y", "z"]].to_numpy(),
                                  table[["x", "y", "z"]].to_numpy() * 8)
    assert len(neuron.presynapses) == (table["type"] == "pre").sum() > 0

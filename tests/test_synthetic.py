"""The synthetic connectome: deterministic, calibrated, and its ceiling is what it claims."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synhelpers import load_tables
from synhelpers.cli import main
from synhelpers.tables.synthetic import NEUROTRANSMITTERS, SyntheticConfig, generate


@pytest.fixture(scope="module")
def con2k():
    return generate(SyntheticConfig(n_neurons=2000, seed=3))


def test_deterministic_by_seed():
    a = generate(SyntheticConfig(n_neurons=250, seed=5))
    b = generate(SyntheticConfig(n_neurons=250, seed=5))
    c = generate(SyntheticConfig(n_neurons=250, seed=6))
    for t in ("neurons", "connections", "synapses"):
        pd.testing.assert_frame_equal(getattr(a, t), getattr(b, t))
    assert not a.synapses[["x_pre"]].equals(c.synapses[["x_pre"]])


def test_tables_follow_the_contract_and_name_says_synthetic(synthetic_dir):
    con = load_tables(synthetic_dir)  # validates
    assert "synthetic" in con.name
    meta = json.loads((synthetic_dir / "synthetic.json").read_text())
    for key in ("ceiling", "ceiling_macro_f1", "config", "seed", "class_dependency"):
        assert key in meta
    assert 0 < meta["ceiling"] <= 1 and 0 < meta["ceiling_macro_f1"] <= 1
    assert set(con.synapses.columns) >= {"roi_pre", "roi_post", "confidence_pre", "confidence_post"}
    assert con.synapses[["roi_pre", "roi_post", "confidence_pre", "confidence_post"]].notna().all().all()
    # the noise-free labels are not in the neurons table
    assert not any("true" in c for c in con.neurons.columns)


def test_calibration_facts(con2k):
    m = con2k.meta
    w = con2k.connections.groupby(["bodyId_pre", "bodyId_post"])["weight"].sum()
    assert 3.5 < w.mean() < 4.5, "about 4 synapses per connection"
    assert (w <= 3).mean() > 0.5, "most connections have 1 to 3 synapses"
    assert 20 < m["mean_out_degree"] < 45, "~30 partners per neuron at 2,000 neurons"
    syn_per_neuron = con2k.neurons["post"]
    assert syn_per_neuron.mean() > 1.3 * syn_per_neuron.median(), "heavy-tailed synapse counts"
    s = con2k.synapses
    d = np.sqrt(sum((s[f"{a}_post"].astype(float) - s[f"{a}_pre"]) ** 2 for a in "xyz"))
    assert 15 < d.median() < 60, "a PSD lies tens of voxels from its T-bar"
    assert len(m["rois"]) >= 25 and s["roi_post"].nunique() >= 20
    sizes = np.array(list(m["class_sizes"].values()))
    assert 10 <= len(sizes) <= 20 and sizes.max() > 10 * sizes.min()
    assert set(con2k.neurons["predictedNt"]) <= set(NEUROTRANSMITTERS)
    assert {"both", "synapse", "wiring"} == set(m["class_dependency"].values())


def test_geometry_pairs_share_wiring_and_differ_in_space(con2k):
    """The known difficulty: a geometry pair has one wiring profile but separate synapse zones."""
    truth = con2k.meta["truth"].set_index("bodyId")["true_cell_class"]
    g, h = con2k.meta["geometry_pairs"][0]
    s = con2k.synapses
    cls_post = truth.reindex(s["bodyId_post"]).to_numpy()
    cls_pre = truth.reindex(s["bodyId_pre"]).to_numpy()
    # same ROI usage as inputs...
    roi_g = s.loc[cls_post == g, "roi_post"].value_counts(normalize=True)
    roi_h = s.loc[cls_post == h, "roi_post"].value_counts(normalize=True)
    main_roi = roi_g.index[0]
    assert roi_h.index[0] == main_roi
    # ... and the same input partner classes (wiring) ...
    pg = pd.Series(cls_pre[cls_post == g]).value_counts(normalize=True)
    ph = pd.Series(cls_pre[cls_post == h]).value_counts(normalize=True)
    assert (pg - ph).abs().max() < 0.1
    # ... but different places inside that ROI
    sel = s["roi_post"] == main_roi
    cg = s.loc[sel & (cls_post == g), ["x_post", "y_post", "z_post"]].mean().to_numpy()
    ch = s.loc[sel & (cls_post == h), ["x_post", "y_post", "z_post"]].mean().to_numpy()
    assert np.linalg.norm(cg - ch) > 300  # voxels; within-class noise is averaged out


def test_wiring_pairs_prefer_their_own_target(con2k):
    """The other known difficulty: a wiring pair sends `wiring_preference` of its partners to
    its own target class and almost none to its twin's, at an unchanged out-degree."""
    truth = con2k.meta["truth"].set_index("bodyId")["true_cell_class"]
    pref = con2k.meta["config"]["wiring_preference"]
    c = con2k.connections.drop_duplicates(["bodyId_pre", "bodyId_post"])
    cls_pre = truth.reindex(c["bodyId_pre"]).to_numpy()
    cls_post = truth.reindex(c["bodyId_post"]).to_numpy()
    degree = pd.Series(cls_pre).value_counts() / pd.Series(truth.to_numpy()).value_counts()
    for pair in con2k.meta["wiring_pairs"]:
        (a, b), (x, y) = pair["pair"], pair["targets"]
        for src, own, other in ((a, x, y), (b, y, x)):
            to = pd.Series(cls_post[cls_pre == src]).value_counts(normalize=True)
            # nominal draws; repeated draws of one pair merge, so distinct partners are fewer
            assert 0.5 * pref < to.get(own, 0.0) <= pref, (src, own, to.get(own, 0.0))
            assert to.get(other, 0.0) < 0.05
        # the pair is not told apart by how many partners it has
        assert 0.6 < degree[a] / degree[b] < 1.6


def test_ensure_synthetic_regenerates_a_stale_folder(tmp_path):
    from synhelpers.tables.synthetic import ensure_synthetic

    ensure_synthetic(SyntheticConfig(n_neurons=200, seed=0), tmp_path)
    first = pd.read_parquet(tmp_path / "neurons.parquet")
    ensure_synthetic(SyntheticConfig(n_neurons=200, seed=1), tmp_path)  # other settings
    second = pd.read_parquet(tmp_path / "neurons.parquet")
    assert json.loads((tmp_path / "synthetic.json").read_text())["config"]["seed"] == 1
    assert not first["bodyId"].equals(second["bodyId"])


def test_ceiling_is_reached_by_the_noise_free_labels(graph_dir, synthetic_dir):
    """Predicting every neuron's noise-free class scores the reported ceiling on the test
    split, within sampling error (3 binomial standard errors)."""
    meta = json.loads((synthetic_dir / "synthetic.json").read_text())
    truth = pd.read_parquet(synthetic_dir / "synthetic_truth.parquet")
    neurons = pd.read_parquet(synthetic_dir / "neurons.parquet")
    split = pd.read_parquet(graph_dir / "split.parquet")
    m = neurons.merge(truth, on="bodyId").merge(split, on="bodyId")
    test = m[(m["split"] == "test") & m["cell_class"].notna()]
    acc = (test["true_cell_class"] == test["cell_class"]).mean()
    c = meta["ceiling"]
    se = np.sqrt(c * (1 - c) / len(test))
    assert abs(acc - c) <= 3 * se + 1e-9, (acc, c, se)
    # and it is a real ceiling: label noise makes it < 1
    assert c < 1 and abs((1 - c) - meta["config"]["label_noise"]) < 0.05


@pytest.mark.parametrize("bad", [dict(n_neurons=5), dict(n_classes=40), dict(label_noise=0.7),
                                 dict(n_geometry_pairs=5)])
def test_bad_config_is_rejected(bad):
    with pytest.raises(ValueError):
        SyntheticConfig(**bad)


def test_cli_writes_tables(tmp_path, capsys):
    assert main(["synth", "--neurons", "200", "--seed", "2", "--out", str(tmp_path)]) == 0
    for f in ("neurons.parquet", "connections.parquet", "synapses.parquet", "synthetic.json",
              "synthetic_truth.parquet"):
        assert (tmp_path / f).exists()
    assert "ceiling accuracy" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files left behind"


def test_individuals_share_the_design_not_the_animal(tmp_path):
    """Individuals: same classes and wiring rules, own neurons and frame; physical units kept."""
    from synhelpers.tables.synthetic import write_individuals

    paths = write_individuals(SyntheticConfig(n_neurons=400, seed=4), 3, tmp_path, mirror=(2,))
    metas = [json.loads((p / "synthetic.json").read_text()) for p in paths]
    cons = [load_tables(p) for p in paths]
    assert [m["class_sizes"] for m in metas] == [metas[0]["class_sizes"]] * 3
    assert metas[0]["class_dependency"] == metas[2]["class_dependency"]
    assert metas[0]["frame"]["scale"] == 1.0 and metas[1]["frame"]["scale"] != 1.0
    assert metas[2]["frame"]["mirror"] and not metas[1]["frame"]["mirror"]
    assert not set(cons[0].neurons.bodyId) & set(cons[1].neurons.bodyId)
    # T-bar -> PSD distances in nanometres agree across frames (the declared voxel size is right)
    def pair_nm(con, m):
        s = con.synapses
        d = np.sqrt(sum((s[f"{a}_post"] - s[f"{a}_pre"]).astype(float) ** 2 for a in "xyz"))
        return float(np.median(d)) * m["voxel_nm"]
    nm = [pair_nm(c, m) for c, m in zip(cons, metas)]
    assert max(nm) / min(nm) < 1.05, nm
    # individual 0 is the base connectome itself
    base = generate(SyntheticConfig(n_neurons=400, seed=4))
    pd.testing.assert_frame_equal(cons[0].synapses.reset_index(drop=True),
                                  base.synapses.reset_index(drop=True), check_categorical=False)


def test_cli_writes_individuals(tmp_path, capsys):
    assert main(["synth", "--neurons", "200", "--individuals", "2", "--mirror", "1",
                 "--out", str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / "ind1" / "synthetic.json").exists() and "2 individuals" in capsys.readouterr().out

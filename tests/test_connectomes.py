"""Any connectome: any label columns, every table shape (sites, gap junctions, no synapses),
several connectomes in one graph, held-out connectomes, repeated splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from synhelpers import from_frames, load_tables
from synhelpers.cli import main
from synhelpers.errors import RunError
from synhelpers.graph import GraphConfig, build_graph, build_union
from synhelpers.models import ModelConfig, build_model
from synhelpers.tables.synthetic import SyntheticConfig, generate, write_individuals
from synhelpers.train import TrainConfig, run_training
from synhelpers.train.checks import check_views
from synhelpers.train.module import hide_test_labels

SMALL = {"set_size": 8, "cloud_size": 8, "knn": 4, "hidden": 32, "point_dim": 16, "syn_dim": 16,
         "cloud_dim": 16}
CFG = GraphConfig(labels=("cell_class", "predictedNt"), min_class_count=3)


@pytest.fixture(scope="module")
def individuals(tmp_path_factory):
    return write_individuals(SyntheticConfig(n_neurons=250, seed=2), 3,
                             tmp_path_factory.mktemp("ind"), mirror=(2,))


def _outputs(data, name="hybrid", seed=0):
    torch.manual_seed(seed)
    model = build_model(name, ModelConfig.from_data(data, ["cell_class"], **SMALL)).eval()
    with torch.no_grad():
        return model(data)["cell_class"]


def test_union_has_one_connectome_index_per_node_and_frames(individuals):
    cons = [load_tables(p) for p in individuals]
    g = build_union(cons, CFG)
    assert g.num_nodes == sum(len(c.neurons) for c in cons)
    assert torch.equal(torch.bincount(g.connectome), torch.tensor([250, 250, 250]))
    assert g.pos_unit_um.shape == (3,) and int(g.syn_ptr[-1]) == g.syn_pos.shape[0]
    assert g.syn_pos.abs().max() <= 1 + 1e-6 and int(g.site_ptr[-1]) == g.site_pos.shape[0]
    # the union's edges stay inside each connectome
    assert torch.equal(g.connectome[g.edge_index[0]], g.connectome[g.edge_index[1]])


def test_translating_or_rescaling_a_frame_changes_no_prediction(individuals):
    """Per-connectome normalisation: one connectome shifted by 5,000 voxels, or written in nm
    (voxel_nm=1) instead of 8 nm voxels, gives the same predictions."""
    a, b = load_tables(individuals[0]), load_tables(individuals[1])
    ref = _outputs(build_union([a, b], CFG))
    syn, xyz = b.synapses.copy(), [f"{c}_{s}" for s in ("pre", "post") for c in "xyz"]
    syn[xyz] = syn[xyz].astype(np.int64) + 5000
    shifted = from_frames(b.neurons, b.connections, syn, name=b.name, voxel_nm=b.voxel_nm)
    torch.testing.assert_close(_outputs(build_union([a, shifted], CFG)), ref, rtol=1e-4, atol=1e-4)
    syn_nm = b.synapses.copy()
    syn_nm[xyz] = syn_nm[xyz].astype(np.float64) * b.voxel_nm
    in_nm = from_frames(b.neurons, b.connections, syn_nm, name=b.name, voxel_nm=1.0)
    torch.testing.assert_close(_outputs(build_union([a, in_nm], CFG)), ref, rtol=1e-4, atol=1e-4)


def test_no_body_id_reaches_a_model(individuals):
    g = build_union([load_tables(p) for p in individuals[:2]], CFG)
    ref = _outputs(g)
    g2 = g.clone()
    g2.body_id = torch.randperm(g.num_nodes) + 10**9
    g2.connectome_names = ["x", "y"]
    g2.dataset_name = "renamed"
    assert torch.equal(_outputs(g2), ref)


def test_held_out_connectome_is_the_test_split_and_never_trains(individuals):
    cons = [load_tables(p) for p in individuals]
    g = build_union(cons, GraphConfig(labels=("cell_class",), min_class_count=3, test_connectome="ind2"))
    held = g.connectome == 2
    assert torch.equal(g.test_mask, held) and not (g.train_mask | g.val_mask)[held].any()
    assert g.val_mask[~held].any() and g.train_mask[~held].any()
    train_graph = hide_test_labels(g, ["cell_class"])
    assert (train_graph.y_cell_class[held] == -1).all(), "no held-out label in training"
    assert (g.y_cell_class[held] >= 0).any()


def test_label_map_harmonises_names_across_connectomes(individuals, tmp_path):
    from synhelpers.graph.union import read_label_map

    cons = [load_tables(p) for p in individuals[:2]]
    (tmp_path / "map.csv").write_text("source,shared\nind1:KC,Kenyon cell\nind0:KC,Kenyon cell\n")
    g = build_union(cons, CFG, label_map=read_label_map(tmp_path / "map.csv"))
    assert "Kenyon cell" in g.label_names["cell_class"] and "KC" not in g.label_names["cell_class"]


def test_synapse_free_graph_gives_one_line_for_synapse_models(capsys, tmp_path, individuals):
    con = load_tables(individuals[0], synapses=False)
    g = build_graph(con, CFG)
    with pytest.raises(RunError, match=r"model 'hybrid' needs synapses and sites.*can run on it: gat"):
        check_views("hybrid", g)
    for f in ("neurons", "connections"):
        getattr(con, f).to_parquet(tmp_path / f"{f}.parquet")
    rc = main(["train", "--data", str(tmp_path), "--model", "synapse_only", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "synapse_only" in err[0] and "mlp" in err[0]


def test_sites_only_connectome_trains_the_cloud_models(tmp_path):
    con = generate(SyntheticConfig(n_neurons=200, seed=3))
    s = con.synapses
    sites = pd.concat([
        pd.DataFrame({"bodyId": s.bodyId_pre, "kind": "pre", "x": s.x_pre, "y": s.y_pre, "z": s.z_pre}),
        pd.DataFrame({"bodyId": s.bodyId_post, "kind": "post", "x": s.x_post, "y": s.y_post, "z": s.z_post}),
    ], ignore_index=True)
    g = build_graph(from_frames(con.neurons, con.connections, sites=sites, name="sites only"), CFG)
    assert "syn_ptr" not in g and int(g.site_ptr[-1]) == len(sites)
    for model in ("hybrid_cloud", "cloud_only"):
        r = run_training(g, TrainConfig(model=model, task="cell_class", max_epochs=2, min_epochs=1,
                                        progress="none", model_overrides=SMALL), tmp_path / model)
        assert 0 <= r["mean"]["test_macro_f1"] <= 1


def test_gap_junctions_are_a_second_edge_type():
    con = generate(SyntheticConfig(n_neurons=200, seed=3))
    ids = con.neurons.bodyId.to_numpy()
    gaps = pd.DataFrame({"bodyId_a": ids[:40], "bodyId_b": ids[40:80], "weight": np.arange(1, 41)})
    g = build_graph(from_frames(con.neurons, con.connections, gap_junctions=gaps, name="worm-ish"), CFG)
    assert g.gap_index.shape == (2, 80) and torch.equal(g.gap_index[:, 40:], g.gap_index[:, :40].flip(0))
    ref = _outputs(g, "sage")
    g2 = g.clone()
    g2.gap_weight = g.gap_weight * 10
    assert not torch.allclose(_outputs(g2, "sage"), ref), "the GNN reads the gap junctions"


def test_multitask_over_any_columns_and_repeated_splits(tmp_path):
    con = generate(SyntheticConfig(n_neurons=200, seed=3))
    neurons = con.neurons.rename(columns={"cell_class": "class", "predictedNt": "nt"})
    g = build_graph(from_frames(neurons, con.connections, name="renamed"), GraphConfig(min_class_count=3))
    assert g.label_columns == ["class", "type", "nt"]
    cfg = TrainConfig(model="sage", labels=("class", "nt"), loss_weights={"nt": 0.5}, seeds=2, splits=2,
                      max_epochs=2, min_epochs=1, progress="none", model_overrides=SMALL)
    r = run_training(g, cfg, tmp_path)
    assert [(s["split"], s["seed"]) for s in r["seeds"]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert set(r["seeds"][0]["per_task"]) == {"class", "nt"} and r["task"] == "class+nt"
    s0, s1 = (pd.read_parquet(tmp_path / "splits" / f"split{k}.parquet") for k in (0, 1))
    assert (s0.split != s1.split).any() and (s0.split == "test").sum() == (s1.split == "test").sum()
    assert (tmp_path / "split1" / "seed1" / "best.ckpt").exists()


def test_relative_out_folder_does_not_crash(tmp_path, monkeypatch, graph_dir):
    """The README's `train ... --out runs/NAME` (a relative path) once crashed after training."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", str(graph_dir), "--model", "mlp", "--task", "cell_class",
                 "--max-epochs", "2", "--min-epochs", "1", "--quiet", "--out", "runs/mlp"]) == 0
    assert (tmp_path / "runs" / "mlp" / "metrics.json").exists()

"""Answers of a saved run: predict, embed, reload, refusal on another graph, new connectomes."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from synhelpers.answers.embed import (
    embed,
    embedding_matrix,
    nearest_neighbours,
    read_embeddings,
    write_embeddings,
)
from synhelpers.answers.load import load_run
from synhelpers.answers.predict import predict, write_predictions
from synhelpers.answers.prediction_table import SUFFIXES, check_predictions
from synhelpers.cli import main
from synhelpers.errors import RunError
from synhelpers.graph import GraphConfig, build_cached
from synhelpers.io import read_json, write_json
from synhelpers.tables import load_tables, write_tables
from synhelpers.tables.synthetic import SyntheticConfig, write_synthetic
from synhelpers.testing.random_graph import TINY_MODEL, make_random_graph
from synhelpers.train.config import TrainConfig
from synhelpers.train.module import NodeClassifier
from synhelpers.train.run import run_training
from synhelpers.train.vocab import align_graph, run_vocabulary

ROOT = Path(__file__).resolve().parents[1]
SMALL = TINY_MODEL
COLUMNS = ("cell_class", "predictedNt")


def _train(graph, out, model="hybrid", seeds=2):
    cfg = TrainConfig(model=model, labels=COLUMNS, max_epochs=3, min_epochs=1, seeds=seeds,
                      num_threads=2, model_overrides=SMALL, progress="none")
    run_training(graph, cfg, out)
    return out


@pytest.fixture(scope="module")
def hybrid_run(graph, tmp_path_factory):
    return _train(graph, tmp_path_factory.mktemp("hybrid"))


@pytest.fixture(scope="module")
def original_run(graph, tmp_path_factory):
    return _train(graph, tmp_path_factory.mktemp("original"), model="original", seeds=1)


@pytest.fixture(scope="module")
def second_individual(tmp_path_factory):
    """Another individual of the test connectome's design, with one ROI renamed (a region the
    run never saw) and one class renamed (a class it does not know)."""
    d = tmp_path_factory.mktemp("individual1")
    write_synthetic(SyntheticConfig(n_neurons=300, seed=1, individual=1), d)
    con = load_tables(d)
    roi = sorted(con.connections["roi"].dropna().unique())[0]
    con.connections["roi"] = con.connections["roi"].astype("string").replace(roi, "NEW_ROI")
    for col in ("roi_pre", "roi_post"):
        con.synapses[col] = con.synapses[col].astype("string").replace(roi, "NEW_ROI")
    con.neurons["cell_class"] = con.neurons["cell_class"].astype("string").replace("KC", "NEW_CLASS")
    out = tmp_path_factory.mktemp("individual1_edited")
    write_tables(con, out)
    return out, roi


# --------------------------------------------------------------------------- predict


def test_test_rows_reproduce_metrics_json_exactly(hybrid_run, graph):
    """One seed (``combine="none"``): the test rows' macro-F1 is metrics.json's, to the bit."""
    from sklearn.metrics import f1_score

    df = predict(hybrid_run, graph, combine="none")
    seed = read_json(hybrid_run / "metrics.json")["seeds"][0]
    test = df[df["split"] == "test"]
    f1s = []
    for c in COLUMNS:
        rows = test[test[f"{c}__true"].notna()]
        f1 = f1_score(rows[f"{c}__true"], rows[f"{c}__pred"], average="macro", zero_division=0)
        assert f1 == seed["per_task"][c]["macro_f1"]
        assert len(rows) == seed["per_task"][c]["support"]
        f1s.append(f1)
    assert float(np.mean(f1s)) == seed["test_macro_f1"]
    assert df.attrs["synhelpers"]["seeds"] == [seed["seed"]]


def test_predictions_cover_every_neuron_and_load_with_plain_pandas(hybrid_run, graph, tmp_path):
    df = predict(hybrid_run, graph)
    meta = df.attrs["synhelpers"]
    assert meta["combine"] == "mean" and meta["seeds"] == [0, 1] and meta["model"] == "hybrid"
    path = write_predictions(df, tmp_path / "predictions.parquet")
    back = pd.read_parquet(path)
    assert len(back) == graph.num_nodes
    assert back["bodyId"].tolist() == graph.body_id.tolist()
    assert list(back.columns) == ["bodyId", "connectome", "split",
                                  *[col for c in COLUMNS for col in
                                    [f"{c}__{s}" for s in SUFFIXES]
                                    + [f"{c}__p__{k}" for k in graph.label_names[c]]]]
    unlabelled = (graph.y_cell_class < 0) & (graph.y_predictedNt < 0)
    assert (back["split"] == "unlabelled").sum() == int(unlabelled.sum())
    no_class = back["cell_class__true"].isna()
    assert no_class.sum() == int((graph.y_cell_class < 0).sum()) > 0  # answered too
    assert back.loc[no_class, "cell_class__pred"].notna().all()
    assert set(back["split"]) <= {"train", "val", "test", "unlabelled"}
    for c in COLUMNS:
        check_predictions(back, c)
        top = np.stack(back[f"{c}__top3_probs"].to_numpy())
        assert top.shape == (len(back), 3) and (np.diff(top, axis=1) <= 0).all()
        assert np.allclose(top[:, 0], back[f"{c}__prob"])
        assert (np.stack(back[f"{c}__top3_classes"].to_numpy())[:, 0] == back[f"{c}__pred"]).all()
        k = len(graph.label_names[c])
        assert ((back[f"{c}__entropy"] >= 0) & (back[f"{c}__entropy"] <= np.log(k) + 1e-5)).all()
        per_class = back[[f"{c}__p__{name}" for name in graph.label_names[c]]].to_numpy()
        assert per_class.dtype == np.float32 and np.allclose(per_class.sum(1), 1.0, atol=1e-5)
        assert np.allclose(per_class.max(1), back[f"{c}__prob"])


def test_mean_of_seeds_is_the_mean_of_each_seeds_probabilities(hybrid_run, graph):
    from synhelpers.answers.predict import seed_probabilities

    run = load_run(hybrid_run)
    probs = seed_probabilities(run, graph)["cell_class"]
    assert probs.shape == (2, graph.num_nodes, len(graph.label_names["cell_class"]))
    df = predict(run, graph)
    assert np.allclose(df["cell_class__prob"], probs.mean(0).max(1), atol=1e-6)


def test_a_run_reloads_in_another_process_with_identical_answers(hybrid_run, graph_dir, tmp_path):
    here = tmp_path / "here.parquet"
    torch.set_num_threads(2)
    write_predictions(predict(hybrid_run, graph_dir), here)
    write_embeddings(embed(hybrid_run, graph_dir), tmp_path / "here_emb.parquet")
    # one new interpreter runs both commands, as a user would from a shell
    args = [[cmd, "--run", str(hybrid_run), "--data", str(graph_dir), "--out",
             str(tmp_path / out), "--threads", "2"]
            for cmd, out in (("predict", "there.parquet"), ("embed", "there_emb.parquet"))]
    code = (f"import sys; from synhelpers.cli import main; assert [main(a) for a in {args!r}] == "
            "[0, 0]; assert 'lightning' not in sys.modules, 'answering needs no Lightning'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    pd.testing.assert_frame_equal(pd.read_parquet(here), pd.read_parquet(tmp_path / "there.parquet"))
    a, b = (pd.read_parquet(tmp_path / f) for f in ("here_emb.parquet", "there_emb.parquet"))
    for part in ("fused", "wiring", "synapse"):
        assert np.array_equal(embedding_matrix(a, part), embedding_matrix(b, part))


def test_another_graph_is_refused_in_one_line(hybrid_run, graph, capsys, tmp_path):
    other = copy.copy(graph)
    other.test_mask, other.val_mask = graph.val_mask, graph.test_mask  # same tables, other split
    with pytest.raises(RunError, match="not on this graph") as e:
        predict(hybrid_run, other)
    assert "\n" not in str(e.value) and "--new-connectome" in str(e.value)
    with pytest.raises(RunError, match="not on this graph"):
        embed(hybrid_run, other)


def test_command_line_refusal_is_one_line(hybrid_run, synthetic_dir, tmp_path, capsys):
    other = tmp_path / "other"
    build_cached(synthetic_dir, other, GraphConfig(min_class_count=5, split_seed=7))
    code = main(["predict", "--run", str(hybrid_run), "--data", str(other),
                 "--out", str(tmp_path / "p.parquet")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not on this graph" in err


# --------------------------------------------------------------------------- new connectomes


def test_hybrid_answers_on_a_new_individual_aligned_to_its_vocabularies(hybrid_run, graph,
                                                                       second_individual):
    tables, renamed_roi = second_individual
    df = predict(hybrid_run, tables, new_connectome=True)
    meta = df.attrs["synhelpers"]
    assert meta["new_connectome"] and "dropped 1 ROI" in meta["alignment"]
    assert "NEW_ROI" in meta["alignment"] and "NEW_CLASS" in meta["alignment"]
    neurons = pd.read_parquet(tables / "neurons.parquet")
    assert len(df) == len(neurons) and set(df["bodyId"]) == set(neurons["bodyId"])
    assert set(df["split"]) <= {"test", "unlabelled"}
    shown = df["cell_class__true"] == "NEW_CLASS"
    assert shown.sum() > 0  # the unknown class is shown ...
    assert set(df["cell_class__pred"]) <= set(graph.label_names["cell_class"])  # ... not predicted
    emb = embed(hybrid_run, tables, new_connectome=True)
    assert embedding_matrix(emb).shape == (len(df), 32)


def test_alignment_maps_rois_by_name_and_drops_unknown_ones():
    g = make_random_graph(num_nodes=50, num_edges=200, seed=3)
    vocab = run_vocabulary(g, ["cell_class"])
    r = len(g.roi_names)
    flipped = copy.copy(g)  # the same connectome with its ROIs listed in reverse order
    flipped.roi_names = g.roi_names[::-1]
    flipped.edge_roi = g.edge_roi.flip(1)
    flipped.syn_roi = torch.where(g.syn_roi >= 0, r - 1 - g.syn_roi, g.syn_roi)
    aligned, report = align_graph(flipped, vocab)
    assert torch.equal(aligned.edge_roi, g.edge_roi) and torch.equal(aligned.syn_roi, g.syn_roi)
    assert torch.allclose(aligned.x, g.x, atol=1e-6) and not report.dropped_rois
    renamed = copy.copy(g)
    renamed.roi_names = ["NEW", *g.roi_names[1:]]
    aligned, report = align_graph(renamed, vocab)
    assert report.dropped_rois == ["NEW"] and report.missing_rois == [g.roi_names[0]]
    assert aligned.edge_roi.shape == g.edge_roi.shape and (aligned.edge_roi[:, 0] == 0).all()
    kept = g.edge_roi[:, 1:].sum(1) > 0
    assert torch.allclose(aligned.edge_roi[kept].sum(1), torch.ones(int(kept.sum())))
    assert report.synapses_in_dropped_rois == int((g.syn_roi == 0).sum()) > 0
    assert (aligned.syn_roi != 0).all()


def test_original_design_is_refused_on_a_new_connectome(original_run, second_individual):
    tables, _ = second_individual
    for flag in (False, True):
        with pytest.raises(RunError, match="transductive only") as e:
            predict(original_run, tables, new_connectome=flag)
        assert "\n" not in str(e.value)


def test_runs_without_recorded_vocabularies_say_so(hybrid_run, second_individual, tmp_path):
    import shutil

    old = tmp_path / "old_run"
    shutil.copytree(hybrid_run, old)
    metrics = read_json(old / "metrics.json")
    del metrics["trained_on"]
    write_json(old / "metrics.json", metrics)
    with pytest.raises(RunError, match="retrain it") as e:
        predict(old, second_individual[0], new_connectome=True)
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- load_run, embed


def test_load_run_returns_model_configs_and_fingerprint(hybrid_run, graph):
    import synhelpers
    from synhelpers.graph import graph_fingerprint

    run = synhelpers.load_run(hybrid_run)
    assert run.fingerprint == graph_fingerprint(graph) and run.seeds == [0, 1]
    assert run.model_config.hidden == 32 and run.train_config.model == "hybrid"
    assert not run.model.training and run.vocabulary["roi_names"] == list(graph.roi_names)
    ckpt = hybrid_run / read_json(hybrid_run / "metrics.json")["seeds"][0]["checkpoint"]
    lightning = NodeClassifier.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True)
    mine = run.model.state_dict()
    for k, v in lightning.model.state_dict().items():
        assert torch.equal(v, mine[k]), k


def test_weights_of_another_model_version_are_refused_in_one_line(hybrid_run, tmp_path):
    from synhelpers.answers.load import load_model
    from synhelpers.errors import RunError

    ckpt = hybrid_run / read_json(hybrid_run / "metrics.json")["seeds"][0]["checkpoint"]
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    key = next(k for k in state["state_dict"] if ".heads." in k)
    state["state_dict"][key.replace(".heads.", ".old_heads.")] = state["state_dict"].pop(key)
    torch.save(state, tmp_path / "old.ckpt")
    with pytest.raises(RunError, match=r"another version of model 'hybrid'.*train --overwrite") as e:
        load_model(tmp_path / "old.ckpt")
    assert "\n" not in str(e.value)


def test_embeddings_have_fixed_size_float32_parts_and_load_with_plain_pandas(hybrid_run, graph,
                                                                           tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = embed(hybrid_run, graph)
    path = write_embeddings(df, tmp_path / "embeddings.parquet")
    schema = pq.read_schema(path)
    dims = {"fused": 32, "wiring": 32, "synapse": 4 * 16 + 16}
    for part, d in dims.items():
        t = schema.field(part).type
        assert pa.types.is_fixed_size_list(t) and t.list_size == d and t.value_type == pa.float32()
    back = pd.read_parquet(path)
    for part, d in dims.items():
        m = embedding_matrix(back, part)
        assert m.shape == (graph.num_nodes, d) and m.dtype == np.float32
    assert np.array_equal(embedding_matrix(back), embedding_matrix(df))
    assert read_embeddings(path)[1]["dims"] == dims
    assert json.loads(schema.metadata[b"synhelpers"])["seed"] == 0


def test_nearest_neighbours_by_cosine_similarity(hybrid_run, graph):
    df = embed(hybrid_run, graph)
    body = int(df["bodyId"].iloc[7])
    with_self = nearest_neighbours(df, body, k=5, exclude_self=False)
    assert with_self["bodyId"].iloc[0] == body
    assert with_self["similarity"].iloc[0] == pytest.approx(1.0, abs=1e-6)
    near = nearest_neighbours(df, body, k=5)
    assert body not in set(near["bodyId"]) and len(near) == 5
    assert (np.diff(near["similarity"]) <= 0).all()
    x = embedding_matrix(df).astype(np.float64)
    i = df.index[df["bodyId"] == near["bodyId"].iloc[0]][0]
    cos = x[7] @ x[i] / np.linalg.norm(x[7]) / np.linalg.norm(x[i])
    assert near["similarity"].iloc[0] == pytest.approx(cos)
    with pytest.raises(ValueError, match="0 rows"):
        nearest_neighbours(df, -1)


def test_original_design_has_no_embedding(original_run, graph):
    with pytest.raises(RunError, match="no embed"):
        embed(original_run, graph)


def test_saved_runs_reads_the_run_folders_of_this_graph(tmp_path):
    from synhelpers.drivers.answers import saved_runs

    for folder, model, mode, fp in (("sage_inductive", "sage", "inductive", "A"),
                                    ("sage_transductive", "sage", "transductive", "A"),
                                    ("mlp_transductive", "mlp", "transductive", "B")):
        write_json(tmp_path / folder / "metrics.json",
                   {"model": model, "mode": mode, "data_fingerprint": fp, "seeds": []})
    assert list(saved_runs(tmp_path, "A")) == ["sage/transductive", "sage/inductive"]
    assert len(saved_runs(tmp_path)) == 3


# --------------------------------------------------------------------------- Python API, sets


def test_a_loaded_run_predicts_in_python_as_the_command_line_does(hybrid_run, graph_dir, tmp_path):
    out = tmp_path / "cli.parquet"
    assert main(["predict", "--run", str(hybrid_run), "--data", str(graph_dir),
                 "--out", str(out)]) == 0
    run = load_run(hybrid_run)
    assert repr(run).startswith("LoadedRun('hybrid'") and "\n" not in repr(run)
    pd.testing.assert_frame_equal(run.predict(graph_dir), pd.read_parquet(out))
    emb = run.embed(graph_dir)
    assert len(emb) == len(pd.read_parquet(out))


def test_a_loaded_run_answers_in_memory_tables(hybrid_run, second_individual):
    import synhelpers

    folder, _ = second_individual
    con = load_tables(folder)
    frames = synhelpers.from_frames(con.neurons, con.connections, con.synapses, name="mine")
    run = load_run(hybrid_run)
    a = run.predict(frames, new_connectome=True)
    b = run.predict(folder, new_connectome=True)
    assert a["cell_class__pred"].tolist() == b["cell_class__pred"].tolist()


def test_conformal_sets_cover_the_calibration_split_and_can_abstain(hybrid_run, graph):
    df = predict(hybrid_run, graph, coverage=0.9)
    report = df.attrs["synhelpers"]["conformal"]["cell_class"]
    assert report["calibrated_on"] == "val" and report["val"]["coverage"] >= 0.9
    assert report["calibration_neurons"] == int(((df["split"] == "val")
                                                 & df["cell_class__true"].notna()).sum())
    size = df["cell_class__set_size"].to_numpy()
    assert (size == df["cell_class__set"].map(len)).all()
    unknown = df["cell_class__answer"] == "unknown"
    assert (unknown == (size != 1)).all()
    single = ~unknown
    assert (df.loc[single, "cell_class__answer"] == df.loc[single, "cell_class__pred"]).all()
    wider = predict(hybrid_run, graph, coverage=0.99)
    assert (wider["cell_class__set_size"] >= size).all()  # a higher target never shrinks a set


def test_coverage_is_refused_on_a_new_connectome_and_checked_on_the_command_line(
        hybrid_run, second_individual, graph_dir, tmp_path, capsys):
    from synhelpers.errors import ConfigError

    with pytest.raises(ConfigError, match="validation split"):
        predict(hybrid_run, second_individual[0], new_connectome=True, coverage=0.9)
    with pytest.raises(SystemExit):
        main(["predict", "--run", str(hybrid_run), "--data", str(graph_dir), "--out",
              str(tmp_path / "p.parquet"), "--coverage", "1.5"])
    assert "expected a number in (0, 1)" in capsys.readouterr().err

"""The graph builder: shapes, CSR consistency, no label leakage, masking, splits, cache, views."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

from synhelpers import from_frames, load_tables
from synhelpers.cli import main
from synhelpers.graph import (
    GraphConfig,
    build_cached,
    build_graph,
    inductive_train_graph,
    load_graph,
    make_split,
    subgraph,
)


def test_shapes_and_csr(graph):
    n, e = graph.num_nodes, graph.edge_index.shape[1]
    s, r = graph.syn_pos.shape[0], len(graph.roi_names)
    assert graph.x.shape[0] == n and graph.edge_weight.shape == (e,)
    assert graph.edge_roi.shape == (e, r) and graph.syn_pos.shape == (s, 6)
    assert graph.syn_ptr.shape == (e + 1,) and graph.syn_ptr[0] == 0 and graph.syn_ptr[-1] == s
    # each edge owns exactly weight synapses (the synthetic tables are complete)
    assert torch.equal(graph.syn_ptr.diff().float(), graph.edge_weight)
    assert graph.site_ptr.shape == (n + 1,) and graph.site_ptr[-1] == graph.site_pos.shape[0]
    assert graph.syn_pos.abs().max() <= 1.0 + 1e-6, "normalised into [-1, 1]"
    assert torch.allclose(graph.edge_roi.sum(1), torch.ones(e))
    # one edge per pair, sorted by (pre, post)
    key = graph.edge_index[0] * n + graph.edge_index[1]
    assert bool((key.diff() > 0).all())


def test_synapse_sets_belong_to_their_edge(synthetic_dir, graph):
    """Undo the normalisation and check one edge's synapses against the table."""
    con = load_tables(synthetic_dir)
    e = int(graph.edge_weight.argmax())
    pre, post = graph.body_id[graph.edge_index[:, e]].tolist()
    rows = con.synapses[(con.synapses.bodyId_pre == pre) & (con.synapses.bodyId_post == post)]
    got = graph.syn_pos[graph.syn_ptr[e]:graph.syn_ptr[e + 1]].double() * graph.pos_scale
    got += graph.pos_center.double().repeat(2)
    want = rows[["x_pre", "y_pre", "z_pre", "x_post", "y_post", "z_post"]].to_numpy(float)
    key = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731
    np.testing.assert_allclose(key(got.numpy()), key(want), atol=0.05)


def test_node_features_use_no_label(synthetic_dir):
    con = load_tables(synthetic_dir)
    g1 = build_graph(con, GraphConfig(min_class_count=5))
    con.neurons["cell_class"] = np.random.default_rng(0).permutation(con.neurons["cell_class"].to_numpy())
    g2 = build_graph(con, GraphConfig(min_class_count=5))
    assert torch.equal(g1.x, g2.x) and not torch.equal(g1.y_cell_class, g2.y_cell_class)


def test_unlabelled_and_rare_classes_are_masked_not_folded():
    neurons = pd.DataFrame({"bodyId": np.arange(1, 31, dtype=np.int64),
                            "cell_class": ["A"] * 12 + ["B"] * 12 + ["rare"] * 3 + [None] * 2 + [""]})
    ids = neurons.bodyId.to_numpy()
    conns = pd.DataFrame({"bodyId_pre": ids, "bodyId_post": np.roll(ids, 1), "weight": np.ones(30, np.int64)})
    g = build_graph(from_frames(neurons, conns), GraphConfig(labels=("cell_class",), min_class_count=5))
    y = g.y_cell_class
    assert g.label_names["cell_class"] == ["A", "B"]
    assert (y[24:] == -1).all() and (y[:24] >= 0).all()
    assert g.label_info["cell_class"]["dropped_classes"] == {"rare": 3}


def test_unknown_label_column():
    neurons = pd.DataFrame({"bodyId": np.array([1, 2], np.int64)})
    conns = pd.DataFrame({"bodyId_pre": [1], "bodyId_post": [2], "weight": [1]})
    from synhelpers.errors import ConfigError

    with pytest.raises(ConfigError, match="label column 'cell_class' not in the neurons table"):
        build_graph(from_frames(neurons, conns), GraphConfig(labels=("cell_class",)))


def test_labels_default_to_the_label_columns_the_table_has():
    ids = np.arange(1, 41, dtype=np.int64)
    neurons = pd.DataFrame({"bodyId": ids, "class": ["A", "B"] * 20, "nt": ["ach"] * 20 + ["gaba"] * 20,
                            "notes": ["x"] * 40})
    conns = pd.DataFrame({"bodyId_pre": ids, "bodyId_post": np.roll(ids, 1), "weight": np.ones(40, np.int64)})
    g = build_graph(from_frames(neurons, conns), GraphConfig(min_class_count=5))
    assert g.label_columns == ["class", "nt"] and g.label_names["nt"] == ["ach", "gaba"]


def test_a_label_with_one_class_is_an_error():
    from synhelpers.errors import GraphError
    from synhelpers.graph.build import check_labels

    ids = np.arange(1, 31, dtype=np.int64)
    neurons = pd.DataFrame({"bodyId": ids, "cell_class": ["A"] * 28 + ["B", "C"]})
    conns = pd.DataFrame({"bodyId_pre": ids, "bodyId_post": np.roll(ids, 1), "weight": np.ones(30, np.int64)})
    g = build_graph(from_frames(neurons, conns), GraphConfig(labels=("cell_class",), min_class_count=5))
    with pytest.raises(GraphError, match=r"'cell_class': 1 class\(es\) left.*'B': 1, 'C': 1"):
        check_labels(g, ["cell_class"], "toy")


def test_split_is_stratified_seeded_and_disjoint(graph):
    masks = torch.stack([graph.train_mask, graph.val_mask, graph.test_mask])
    assert bool((masks.sum(0) == 1).all()), "every neuron in exactly one split"
    y = graph.y_cell_class
    for c in range(len(graph.label_names["cell_class"])):
        m = y == c
        frac = graph.train_mask[m].float().mean()
        assert 0.5 < frac < 0.9, "each class spread over the splits"
    strata = np.repeat(np.arange(4), 50)
    assert np.array_equal(make_split(strata, seed=3), make_split(strata, seed=3))
    assert not np.array_equal(make_split(strata, seed=3), make_split(strata, seed=4))


def test_split_file_is_the_source_of_truth(graph_dir, graph, tmp_path):
    sf = pd.read_parquet(graph_dir / "split.parquet")
    assert list(sf["bodyId"]) == graph.body_id.tolist()
    assert (sf["split"] == "test").sum() == int(graph.test_mask.sum())
    # an edited split file is honoured on load (every model sees the same split)
    for f in ("graph.pt", "graph.json"):
        (tmp_path / f).write_bytes((graph_dir / f).read_bytes())
    sf.loc[0, "split"] = "test" if sf.loc[0, "split"] != "test" else "train"
    sf.to_parquet(tmp_path / "split.parquet")
    assert not torch.equal(load_graph(tmp_path).test_mask, graph.test_mask)
    sf.loc[1, "split"] = "holdout"
    sf.to_parquet(tmp_path / "split.parquet")
    with pytest.raises(ValueError, match="column 'split'.*rows \\[1\\]"):
        load_graph(tmp_path)


def test_cache_hit_and_invalidation(synthetic_dir, tmp_path):
    import shutil

    tables = tmp_path / "tables"
    shutil.copytree(synthetic_dir, tables, ignore=shutil.ignore_patterns("graph"))
    out = tmp_path / "g"
    cfg = GraphConfig(min_class_count=5)
    g1 = build_cached(tables, out, cfg)
    stamp = os.stat(out / "graph.pt").st_mtime_ns
    g2 = build_cached(tables, out, cfg)
    assert os.stat(out / "graph.pt").st_mtime_ns == stamp, "unchanged inputs load from the cache"
    assert torch.equal(g1.x, g2.x) and torch.equal(g1.syn_pos, g2.syn_pos)
    build_cached(tables, out, GraphConfig(min_class_count=5, split_seed=1))
    assert os.stat(out / "graph.pt").st_mtime_ns != stamp, "changed settings rebuild"
    stamp = os.stat(out / "graph.pt").st_mtime_ns
    con = load_tables(tables)
    con.connections.loc[0, "weight"] += 1
    con.connections.to_parquet(tables / "connections.parquet")
    with pytest.warns(UserWarning):
        build_cached(tables, out, GraphConfig(min_class_count=5, split_seed=1))
    assert os.stat(out / "graph.pt").st_mtime_ns != stamp, "changed tables rebuild"


def test_inductive_view_has_no_test_neuron(graph):
    sub = inductive_train_graph(graph)
    assert sub.num_nodes == int((~graph.test_mask).sum())
    assert not sub.test_mask.any()
    assert torch.equal(graph.body_id[sub.node_map], sub.body_id)
    test_ids = set(graph.body_id[graph.test_mask].tolist())
    ends = set(sub.body_id[sub.edge_index.flatten()].tolist())
    assert not ends & test_ids, "no connection to a test neuron"
    assert sub.syn_ptr[-1] == sub.syn_pos.shape[0] and torch.equal(sub.syn_ptr.diff().float(), sub.edge_weight)
    assert sub.site_ptr[-1] == sub.site_pos.shape[0]
    # features are recomputed: degrees of neurons that lost test partners drop
    from synhelpers.graph.features import node_features

    old = node_features(graph.edge_index, graph.edge_weight, graph.edge_roi, graph.num_nodes)[sub.node_map, :4]
    new = node_features(sub.edge_index, sub.edge_weight, sub.edge_roi, sub.num_nodes)[:, :4]
    assert bool((new <= old + 1e-6).all()) and bool((new < old - 1e-6).any())
    assert torch.allclose(sub.x.mean(0), torch.zeros(sub.x.shape[1]), atol=1e-4), "re-standardised"


def test_subgraph_keeping_everything_is_identity(graph):
    sub = subgraph(graph, torch.ones(graph.num_nodes, dtype=torch.bool))
    for k in ("x", "edge_index", "syn_pos", "site_pos", "y_cell_class", "train_mask"):
        assert torch.equal(sub[k], graph[k]), k


def test_graph_without_synapses():
    neurons = pd.DataFrame({"bodyId": np.array([1, 2, 3], np.int64), "cell_class": ["A", "A", "B"]})
    conns = pd.DataFrame({"bodyId_pre": [1, 2], "bodyId_post": [2, 3], "weight": [3, 1]})
    g = build_graph(from_frames(neurons, conns), GraphConfig(labels=("cell_class",), min_class_count=1))
    assert "syn_pos" not in g and g.edge_roi.shape == (2, 0) and g.x.shape == (3, 4)


def test_cli_build(synthetic_dir, tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["build", "--tables", str(synthetic_dir), "--out", str(out), "--label", "cell_class",
                 "--min-class-count", "5"]) == 0
    assert (out / "graph.pt").exists() and (out / "split.parquet").exists()
    assert "neurons" in capsys.readouterr().out
    assert load_graph(out).label_columns == ["cell_class"]

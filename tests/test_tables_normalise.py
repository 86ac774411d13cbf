"""Input normalisation with a report (issue 21): duplicate connection rows merged with a
count, label names Unicode-normalised and case-variant clashes refused, self-coupled gap
junctions dropped with a count, a thin sites table reported at build time."""

from __future__ import annotations

import unicodedata
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from synhelpers import TableError, from_frames, load_tables, write_tables
from synhelpers.cli import main
from synhelpers.graph import GraphConfig, build_graph, graph_fingerprint
from synhelpers.tables.normalise import TableNotice

ONE = GraphConfig(labels=("cell_class",), min_class_count=1)


def _neurons(n=6, classes=None):
    classes = classes or ["A", "B"] * (n // 2)
    return pd.DataFrame({"bodyId": np.arange(1, n + 1, dtype=np.int64), "cell_class": classes})


def _conns(pre, post, weight, roi=None):
    df = pd.DataFrame({"bodyId_pre": np.array(pre, np.int64), "bodyId_post": np.array(post, np.int64),
                       "weight": np.array(weight, np.int64)})
    return df if roi is None else df.assign(roi=roi)


def _notices(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, TableNotice)]


# --------------------------------------------------------------------------- duplicate connections


def test_duplicate_connection_rows_are_merged_with_a_count():
    c = _conns([1, 2, 1, 1, 3], [2, 3, 2, 2, 4], [3, 1, 4, 1, 2])
    with pytest.warns(TableNotice) as rec:
        con = from_frames(_neurons(), c)
    assert con.connections[["bodyId_pre", "bodyId_post", "weight"]].values.tolist() == \
        [[1, 2, 8], [2, 3, 1], [3, 4, 2]]
    msg = _notices(rec)[0]
    assert msg.startswith("<connections frame>: 2 duplicate connection row(s) merged into 1 row(s) "
                          "by summing their weights; same bodyId_pre, bodyId_post")
    # the graph is the one of the summed table: what the builder always did, now said
    summed = from_frames(_neurons(), _conns([1, 2, 3], [2, 3, 4], [8, 1, 2]))
    assert graph_fingerprint(build_graph(con, ONE)) == graph_fingerprint(build_graph(summed, ONE))


def test_rows_of_one_pair_in_other_rois_are_not_duplicates():
    c = _conns([1, 1, 1, 2], [2, 2, 2, 3], [3, 2, 5, 1], roi=["MB", "LH", "MB", "MB"])
    with pytest.warns(TableNotice, match="1 duplicate connection row.*same bodyId_pre, bodyId_post, roi"):
        con = from_frames(_neurons(), c)
    assert con.connections.values.tolist() == [[1, 2, 8, "MB"], [1, 2, 2, "LH"], [2, 3, 1, "MB"]]
    c = _conns([1, 1], [2, 2], [3, 2], roi=["MB", "LH"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # per-ROI rows of one pair: no notice
        assert len(from_frames(_neurons(), c).connections) == 2


def test_duplicates_in_a_file_are_reported_by_build_in_one_line(tmp_path, capsys):
    con = from_frames(_neurons(), _conns([1, 2, 3, 4], [2, 3, 4, 5], [1, 1, 1, 1]))
    write_tables(con, tmp_path / "t")
    c = pd.read_parquet(tmp_path / "t" / "connections.parquet")
    pd.concat([c, c.iloc[:2]], ignore_index=True).to_parquet(tmp_path / "t" / "connections.parquet")
    assert main(["build", "--tables", str(tmp_path / "t"), "--out", str(tmp_path / "g"),
                 "--label", "cell_class", "--min-class-count", "1", "--no-synapses", "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"warning: {tmp_path / 't' / 'connections.parquet'}: 2 duplicate connection "
                   "row(s) merged into 2 row(s) by summing their weights; same bodyId_pre, "
                   "bodyId_post (if they are copies of one another, drop them with "
                   ".drop_duplicates() first)"]
    with pytest.warns(TableNotice):
        assert load_tables(tmp_path / "t").connections["weight"].tolist() == [2, 2, 1, 1]


# --------------------------------------------------------------------------- gap junctions


def test_self_coupled_gap_junctions_are_dropped_with_a_count(tmp_path, capsys):
    """Real C. elegans tables list a few neurons coupled to themselves: build drops them and
    says so, instead of refusing the whole table."""
    g = pd.DataFrame({"bodyId_a": np.array([1, 2, 3, 4], np.int64),
                      "bodyId_b": np.array([1, 3, 3, 5], np.int64), "weight": [2, 1, 4, 1]})
    with pytest.warns(TableNotice, match="2 self-coupled gap junction row"):
        con = from_frames(_neurons(), _conns([1, 2], [2, 3], [1, 1]), gap_junctions=g)
    assert con.gap_junctions[["bodyId_a", "bodyId_b"]].values.tolist() == [[2, 3], [4, 5]]
    write_tables(con, tmp_path / "t")
    gap = g.iloc[[0, 1, 3]]
    gap.to_parquet(tmp_path / "t" / "gap_junctions.parquet", index=False)
    assert main(["build", "--tables", str(tmp_path / "t"), "--out", str(tmp_path / "g"),
                 "--label", "cell_class", "--min-class-count", "1", "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: ") and "gap_junctions.parquet" in err[0]
    assert "1 self-coupled gap junction row(s) (bodyId_a == bodyId_b) dropped, 2 kept" in err[0]
    only_self = g.iloc[[0]]
    with pytest.warns(TableNotice):
        assert from_frames(_neurons(), _conns([1], [2], [1]), gap_junctions=only_self).gap_junctions is None


# --------------------------------------------------------------------------- label names


def test_one_name_in_two_unicode_forms_is_one_class():
    nfc, nfd = "Kenyon cell é", unicodedata.normalize("NFD", "Kenyon cell é")
    assert nfc != nfd
    con = from_frames(_neurons(classes=[nfc, nfd, nfc, "B", "B", nfd]), _conns([1], [2], [1]))
    with pytest.warns(TableNotice, match="2 label value.*another Unicode form normalised to NFC"):
        g = build_graph(con, ONE)
    assert g.label_names["cell_class"] == ["B", nfc]
    assert torch.equal(g.y_cell_class, torch.tensor([1, 1, 1, 0, 0, 1]))


def test_case_variant_class_names_are_refused_in_one_line(tmp_path, capsys):
    con = from_frames(_neurons(classes=["KC", "kc", "KC", "MBON", "MBON", "KC"]), _conns([1], [2], [1]))
    with pytest.raises(TableError, match=r"column 'cell_class': class names differ only in case: "
                                         r"'KC' \(3\) vs 'kc' \(1\)"):
        build_graph(con, ONE)
    write_tables(con, tmp_path / "t")
    assert main(["build", "--tables", str(tmp_path / "t"), "--out", str(tmp_path / "g"),
                 "--label", "cell_class", "--min-class-count", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "t" / "neurons.parquet") in err[0] and "'kc'" in err[0]
    assert not (tmp_path / "g" / "graph.pt").exists()


# --------------------------------------------------------------------------- thin sites


def _sites(body_ids):
    n = len(body_ids)
    return pd.DataFrame({"bodyId": np.repeat(np.asarray(body_ids, np.int64), 2),
                         "kind": ["pre", "post"] * n, "x": np.arange(2 * n, dtype=float),
                         "y": 1.0, "z": 2.0})


def test_a_sites_table_covering_few_neurons_is_reported_at_build_time():
    n = 40
    neurons, conns = _neurons(n), _conns(np.arange(1, n), np.arange(2, n + 1), np.ones(n - 1))
    thin = from_frames(neurons, conns, sites=_sites([1, 2, 3]))  # 3 of 40 neurons: 7.5 %
    with pytest.warns(TableNotice, match=r"^user connectome: the sites table covers 3 of 40 "
                                         r"neurons \(7.5 %, under 10 %\); models that read"):
        build_graph(thin, ONE)
    full = from_frames(neurons, conns, sites=_sites(range(1, 6)))  # 5 of 40: 12.5 %, not thin
    with warnings.catch_warnings():
        warnings.simplefilter("error", TableNotice)
        build_graph(full, ONE)

"""FlyWire scale: the size calibration above hemibrain size, the chunked synapse draw, and the
blockwise (memory-lean) checks and graph build, which must give exactly what the whole-table
code gives."""

from __future__ import annotations

import doctest
import importlib
import math
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from synhelpers import TableError, WeightMismatchWarning, from_frames, load_tables
from synhelpers.graph import GraphConfig, build_graph
from synhelpers.graph.cache import graph_fingerprint
from synhelpers.io import write_parquet_chunks
from synhelpers.tables.synthetic import SyntheticConfig, generate, write_synthetic
from synhelpers.tables.synthetic.chunked import SYNAPSE_CHUNK_EDGES, synapse_chunk_edges
from synhelpers.tables.synthetic.config import (
    FLYWIRE_NEURONS,
    FLYWIRE_NOMINAL_DEGREE,
    FLYWIRE_SYNAPSES_PER_CONNECTION,
    HEMIBRAIN_NEURONS,
)

CFG = SyntheticConfig(n_neurons=300, seed=7)
CHUNK = 700  # edges per chunk: ~6 chunks at 300 neurons


def _first_rule(n: int) -> float:
    """The nominal degree of the first calibration (up to hemibrain size)."""
    return min(max(33.7 * (n / 2000.0) ** 0.662, 8.0), n / 4)


# --------------------------------------------------------------------------- calibration


@pytest.mark.parametrize("n", [10, 200, 2000, 5000, HEMIBRAIN_NEURONS])
def test_up_to_hemibrain_size_nothing_changes(n):
    cfg = SyntheticConfig(n_neurons=n)
    assert cfg.out_degree == _first_rule(n)
    assert cfg.synapses_per_connection == cfg.mean_synapses_per_connection == 4.0
    assert synapse_chunk_edges(cfg) is None  # the one-pass draw order


def test_above_hemibrain_size_the_degree_follows_the_flywire_power_law():
    at_hb = _first_rule(HEMIBRAIN_NEURONS)
    t = math.log(30_000 / HEMIBRAIN_NEURONS) / math.log(FLYWIRE_NEURONS / HEMIBRAIN_NEURONS)
    cfg = SyntheticConfig(n_neurons=30_000)
    assert cfg.out_degree == pytest.approx(at_hb * (FLYWIRE_NOMINAL_DEGREE / at_hb) ** t, rel=1e-12)
    assert FLYWIRE_NOMINAL_DEGREE < cfg.out_degree < at_hb
    assert cfg.synapses_per_connection == pytest.approx(1 + 3 * (2.2 / 3) ** t, rel=1e-12)
    # continuous at hemibrain size, FlyWire's values at FlyWire size, constant beyond
    assert SyntheticConfig(n_neurons=HEMIBRAIN_NEURONS + 1).out_degree == pytest.approx(at_hb, rel=1e-4)
    fw = SyntheticConfig(n_neurons=FLYWIRE_NEURONS)
    assert fw.out_degree == pytest.approx(FLYWIRE_NOMINAL_DEGREE)
    assert fw.synapses_per_connection == pytest.approx(FLYWIRE_SYNAPSES_PER_CONNECTION)
    big = SyntheticConfig(n_neurons=200_000)
    assert (big.out_degree, big.synapses_per_connection) == pytest.approx(
        (fw.out_degree, fw.synapses_per_connection))
    degrees = [SyntheticConfig(n_neurons=n).out_degree for n in (25_000, 50_000, 100_000)]
    assert degrees == sorted(degrees, reverse=True)
    # FlyWire-like totals: ~120 partners and ~3.2 synapses per connection (~16.8M, ~54M)
    assert 16e6 < fw.out_degree * 1.06 * FLYWIRE_NEURONS < 17.5e6  # 6 % more distinct at seed 0
    # explicit settings are used as given; the synapse count never drops below 1
    assert replace(cfg, mean_out_degree=50.0).out_degree == 50.0
    assert replace(fw, mean_synapses_per_connection=1.0).synapses_per_connection == 1.0
    assert synapse_chunk_edges(cfg) == SYNAPSE_CHUNK_EDGES


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "7"])
def test_bad_chunk_size_is_rejected(bad):
    with pytest.raises(ValueError, match="chunk_edges"):
        synapse_chunk_edges(CFG, bad)


# --------------------------------------------------------------------------- chunked draw


@pytest.fixture(scope="module")
def chunked_dirs(tmp_path_factory):
    a, b = tmp_path_factory.mktemp("chunked_a"), tmp_path_factory.mktemp("chunked_b")
    write_synthetic(CFG, a, chunk_edges=CHUNK)
    write_synthetic(CFG, b, chunk_edges=CHUNK)
    return a, b


def test_chunked_draw_is_deterministic_and_streams_row_groups(chunked_dirs):
    a, b = chunked_dirs
    for f in ("neurons.parquet", "connections.parquet", "synapses.parquet",
              "synthetic_truth.parquet", "synthetic.json"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    con = load_tables(a)  # validates
    assert con.meta["synapse_chunk_edges"] == CHUNK
    n_chunks = -(-con.meta["n_connections"] // CHUNK)
    assert n_chunks >= 4 and pq.ParquetFile(a / "synapses.parquet").num_row_groups == n_chunks
    # in memory: the same tables as on disk
    mem = generate(CFG, chunk_edges=CHUNK)
    for t in ("neurons", "connections", "synapses"):
        pd.testing.assert_frame_equal(getattr(mem, t), getattr(con, t))
    # another chunk size or seed: other synapse draws
    other = generate(CFG, chunk_edges=CHUNK + 1).synapses
    assert not other["x_pre"].equals(mem.synapses["x_pre"])
    assert not generate(replace(CFG, seed=8), chunk_edges=CHUNK).synapses["x_pre"].equals(
        mem.synapses["x_pre"])


def _pair_weights(con) -> np.ndarray:
    """(E, 3) sorted rows (pre node, post node, weight summed over ROIs); nodes = neuron rows."""
    node = pd.Series(np.arange(len(con.neurons)), index=con.neurons["bodyId"])
    c = con.connections
    df = pd.DataFrame({"pre": node[c["bodyId_pre"]].to_numpy(), "post": node[c["bodyId_post"]].to_numpy(),
                       "w": c["weight"].to_numpy()})
    return df.groupby(["pre", "post"])["w"].sum().reset_index().to_numpy()


def _roi_share(s: pd.DataFrame) -> pd.Series:
    return s["roi_post"].astype(str).value_counts(normalize=True)


def test_chunked_and_one_pass_share_wiring_and_statistics(chunked_dirs, tmp_path):
    write_synthetic(CFG, tmp_path)  # one pass (the default at this size)
    one, chunked = load_tables(tmp_path), load_tables(chunked_dirs[0])
    assert "synapse_chunk_edges" not in one.meta
    # the same neurons, edges and synapse counts (drawn before any synapse)
    for key in ("n_connections", "n_synapses", "class_sizes", "mean_synapses_per_connection"):
        assert one.meta[key] == chunked.meta[key], key
    for col in ("pre", "post"):
        np.testing.assert_array_equal(one.neurons[col], chunked.neurons[col])
    np.testing.assert_array_equal(_pair_weights(one), _pair_weights(chunked))
    assert len(one.synapses) == len(chunked.synapses) == one.meta["n_synapses"]
    # the same synapse statistics
    tv = 0.5 * _roi_share(one.synapses).sub(_roi_share(chunked.synapses), fill_value=0).abs().sum()
    assert tv < 0.05
    for s in (one.synapses, chunked.synapses):
        d = np.sqrt(sum((s[f"{a}_post"].astype(float) - s[f"{a}_pre"]) ** 2 for a in "xyz"))
        assert 15 < d.median() < 60
        assert 0.85 < s["confidence_pre"].mean() < 0.92
    rel = (one.synapses[["x_pre", "y_pre", "z_pre"]].mean()
           / chunked.synapses[["x_pre", "y_pre", "z_pre"]].mean())
    assert ((rel > 0.95) & (rel < 1.05)).all()
    # and the same dtypes and Arrow schema, so every reader sees one format
    assert one.synapses.dtypes.equals(chunked.synapses.dtypes)
    assert pq.read_schema(tmp_path / "synapses.parquet").equals(
        pq.read_schema(chunked_dirs[0] / "synapses.parquet"), check_metadata=True)


def test_ensure_synthetic_tells_chunked_folders_apart(chunked_dirs, tmp_path):
    from synhelpers.tables.synthetic import ensure_synthetic

    folder = chunked_dirs[0]
    before = (folder / "synapses.parquet").read_bytes()
    # this config's default is the one-pass draw, so the chunked folder is regenerated ...
    target = tmp_path / "copy"
    target.mkdir()
    for f in folder.glob("*.*"):
        (target / f.name).write_bytes(f.read_bytes())
    ensure_synthetic(CFG, target)
    assert (target / "synapses.parquet").read_bytes() != before
    assert "synapse_chunk_edges" not in load_tables(target).meta


def test_write_parquet_chunks_round_trip_and_errors(tmp_path):
    frames = [pd.DataFrame({"a": np.arange(i, i + 3), "b": pd.Categorical.from_codes([0, 1, 0], ["x", "y"])})
              for i in (0, 3)]
    f = write_parquet_chunks(iter(frames), tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(f), pd.concat(frames, ignore_index=True))
    assert pq.ParquetFile(f).num_row_groups == 2
    bad = [frames[0], frames[1].astype({"a": np.float64})]
    with pytest.raises(ValueError, match="differ from the first"):
        write_parquet_chunks(bad, tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="no frames"):
        write_parquet_chunks([], tmp_path / "none.parquet")
    assert not (tmp_path / "bad.parquet").exists() and not list(tmp_path.glob(".*.tmp"))


# --------------------------------------------------------------------------- blockwise checks and build


def test_blockwise_checks_name_the_same_rows(monkeypatch):
    import synhelpers.tables.checks as checks

    con = generate(SyntheticConfig(n_neurons=200, seed=1))
    syn = con.synapses.copy()
    syn["z_post"] = syn["z_post"].astype(np.int64)
    syn.loc[[5, 4000], "z_post"] = -2_000_000_000_000
    syn["x_pre"] = syn["x_pre"].astype(np.float64)
    syn.loc[[17, 3001], "x_pre"] = np.nan
    conns = con.connections.copy()
    conns.loc[3, "weight"] += 1  # one pair disagrees with its synapse count
    messages = []
    for block in (checks.BLOCK_ROWS, 1000):
        monkeypatch.setattr(checks, "BLOCK_ROWS", block)
        got = []
        for bad in (syn, syn.assign(x_pre=con.synapses["x_pre"])):
            with pytest.raises(TableError) as e:
                from_frames(con.neurons, conns, bad)
            got.append((str(e.value), e.value.rows))
        with pytest.warns(WeightMismatchWarning) as w:
            from_frames(con.neurons, conns, con.synapses)
        got.append(str(w[0].message))
        messages.append(got)
    assert messages[0] == messages[1]
    assert messages[0][0][1] == [17, 3001] and "NaN" in messages[0][0][0]
    assert messages[0][1][1] == [5, 4000] and "beyond" in messages[0][1][0]
    assert "1 of" in messages[0][2]


def test_blockwise_build_is_bit_identical(synthetic_dir, monkeypatch):
    import synhelpers.graph.synapses as synapses

    con = load_tables(synthetic_dir)
    cfg = GraphConfig(min_class_count=5)
    whole = build_graph(con, cfg)
    monkeypatch.setattr(synapses, "BLOCK_ROWS", 797)
    assert len(con.synapses) > 10 * 797  # >= 10 blocks (and T-bar blocks cut between neurons)
    blocks = build_graph(con, cfg)
    assert graph_fingerprint(blocks) == graph_fingerprint(whole)
    assert all(bool((whole[k] == blocks[k]).all()) for k in ("site_pos", "syn_conf", "roi_center"))


def test_shared_tbars_are_deduplicated_across_blocks(monkeypatch):
    """One T-bar serving two partners is one site, whatever the block size (blocks are cut
    between presynaptic neurons, never inside one)."""
    import synhelpers.graph.synapses as synapses

    neurons = pd.DataFrame({"bodyId": np.arange(1, 6, dtype=np.int64)})
    pairs = [(1, 2), (1, 3), (1, 3), (2, 4), (4, 5), (4, 1)]
    conns = pd.DataFrame({"bodyId_pre": [1, 1, 2, 4, 4], "bodyId_post": [2, 3, 4, 5, 1],
                          "weight": [1, 2, 1, 1, 1]})
    # neuron 1's T-bar (0, 0, 0) serves rows 0 and 2: a cut every 2 rows would split them
    xyz = [(0, 0, 0), (9, 9, 9), (0, 0, 0), (5, 5, 5), (7, 7, 7), (7, 7, 7)]
    syn = pd.DataFrame({"bodyId_pre": [p for p, _ in pairs], "bodyId_post": [q for _, q in pairs],
                        **{f"{a}_pre": [c[i] for c in xyz] for i, a in enumerate("xyz")},
                        **{f"{a}_post": [c[i] + 1 for c in xyz] for i, a in enumerate("xyz")}})
    con = from_frames(neurons, conns, syn)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        whole = build_graph(con, GraphConfig(labels=()))
        monkeypatch.setattr(synapses, "BLOCK_ROWS", 2)
        blocks = build_graph(con, GraphConfig(labels=()))
    n_tbars = int((~whole.site_is_post).sum())
    assert n_tbars == 4  # 1: (0,0,0) shared and (9,9,9); 2: one; 4: (7,7,7) shared
    assert graph_fingerprint(blocks) == graph_fingerprint(whole)


@pytest.mark.parametrize("module", ["synhelpers.tables.synthetic.chunked",
                                    "synhelpers.tables.synthetic.assemble"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_check_finite_in_blocks_still_names_the_rows():
    from synhelpers.errors import GraphError
    from synhelpers.graph.build import check_finite
    from synhelpers.testing.random_graph import make_random_graph

    data = make_random_graph()
    check_finite(data, "toy")  # all finite: passes
    data.edge_roi[[3, 7], 0] = float("nan")
    data.edge_roi[7, 1] = float("inf")
    with pytest.raises(GraphError, match=r"'edge_roi' has 3 non-finite values .*first rows \[3, 7\]"):
        check_finite(data, "toy")

"""A graph knows its sources (issue 21): resolved paths and digests of every input in
``graph.json``; the same connectome from any working folder; no implicit rebuild with other
settings; a changed source reported in one line with the command that rebuilds it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from synhelpers.cli import main
from synhelpers.errors import GraphError
from synhelpers.graph import GraphConfig, build_cached, graph_fingerprint, load_data, load_graph
from synhelpers.io import sha256_file
from synhelpers.tables.synthetic import SyntheticConfig, write_synthetic

CFG = GraphConfig(min_class_count=5)


@pytest.fixture
def tables(synthetic_dir, tmp_path) -> Path:
    """A private copy of the session's synthetic tables (without its graph)."""
    t = tmp_path / "tables"
    shutil.copytree(synthetic_dir, t, ignore=shutil.ignore_patterns("graph"))
    return t


def test_graph_json_records_resolved_sources_and_digests(tables, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    build_cached(Path("tables"), Path("g"), CFG)
    meta = json.loads((tmp_path / "g" / "graph.json").read_text())
    assert meta["tables"] == [str(tables.resolve())]
    names = {Path(p).name for p in meta["sources"]}
    assert names == {"neurons.parquet", "connections.parquet", "synapses.parquet", "synthetic.json"}
    for path, digest in meta["sources"].items():
        assert Path(path).is_absolute() and sha256_file(path) == digest


def test_relative_graph_used_from_another_folder_is_the_same_connectome(tables, tmp_path, monkeypatch):
    """Built as `build --tables tables --out graph` in A, trained on from B, which has a
    `tables` folder of its own: the run must see A's connectome."""
    a, b = tables.parent, tmp_path / "elsewhere"
    monkeypatch.chdir(a)
    fp = graph_fingerprint(build_cached("tables", "graph", CFG))
    write_synthetic(SyntheticConfig(n_neurons=220, seed=5), b / "tables")  # another connectome
    monkeypatch.chdir(b)
    stamp = os.stat(a / "graph" / "graph.pt").st_mtime_ns
    assert graph_fingerprint(load_data(a / "graph")) == fp
    assert graph_fingerprint(load_data(os.path.relpath(a / "graph"))) == fp
    assert graph_fingerprint(load_graph(a / "graph")) == fp
    assert os.stat(a / "graph" / "graph.pt").st_mtime_ns == stamp, "not rebuilt"


@pytest.mark.parametrize("fname", ["connections.parquet", "synthetic.json"])
def test_changed_source_is_refused_naming_file_and_command(tables, tmp_path, fname):
    out = tmp_path / "g"
    build_cached(tables, out, CFG)
    f = tables / fname
    if fname == "synthetic.json":  # editing only the sidecar changes the name and ceiling
        meta = json.loads(f.read_text())
        f.write_text(json.dumps({**meta, "name": "renamed"}))
    else:
        import pandas as pd

        df = pd.read_parquet(f)
        df.loc[0, "weight"] += 1
        df.to_parquet(f, index=False)
    for load in (load_graph, load_data):
        with pytest.raises(GraphError) as e:
            load(out)
        msg = str(e.value)
        assert "\n" not in msg and f"{f.resolve()} changed" in msg
        assert f"python -m synhelpers build --tables {tables.resolve()} --out {out}" in msg
        assert "--min-class-count 5" in msg and "--force" in msg
    # the same settings through the cache: rebuilt, with a line naming the file
    stamp = os.stat(out / "graph.pt").st_mtime_ns
    build_cached(tables, out, CFG)
    assert os.stat(out / "graph.pt").st_mtime_ns != stamp
    load_graph(out)


def test_changed_source_rebuild_line(tables, tmp_path, capsys):
    out = tmp_path / "g"
    build_cached(tables, out, CFG)
    capsys.readouterr()
    (tables / "synthetic.json").write_text((tables / "synthetic.json").read_text() + " ")
    build_cached(tables, out, CFG)
    line = capsys.readouterr().out.strip()
    assert line == f"[build] {out}: {(tables / 'synthetic.json').resolve()} changed since it " \
                   "was built; rebuilding"


def test_train_data_tables_never_rebuilds_a_graph_made_with_other_settings(tables, capsys):
    """`train --data TABLES` uses the defaults: an existing TABLES/graph with custom settings
    is refused in one line (with the command that rebuilds it), and left as it was."""
    custom = GraphConfig(labels=("cell_class",), min_class_count=5, split_seed=3)
    fp = graph_fingerprint(build_cached(tables, tables / "graph", custom))
    stamp = os.stat(tables / "graph" / "graph.pt").st_mtime_ns
    with pytest.raises(GraphError) as e:
        load_data(tables)
    msg = str(e.value)
    assert "\n" not in msg and "built with other settings" in msg and "split_seed=3" in msg
    assert f"--data {tables / 'graph'}" in msg
    assert f"python -m synhelpers build --tables {tables.resolve()} --out {tables / 'graph'} --force" in msg
    assert os.stat(tables / "graph" / "graph.pt").st_mtime_ns == stamp
    assert graph_fingerprint(load_data(tables / "graph")) == fp
    rc = main(["train", "--data", str(tables), "--out", str(tables.parent / "run"), "--model", "mlp",
               "--label", "cell_class",
               "--seeds", "1", "--max-epochs", "1", "--min-epochs", "1", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "built with other settings" in err[0]
    assert not (tables.parent / "run" / "metrics.json").exists()


def test_train_data_tables_with_default_settings_reuses_and_follows_the_tables(tables):
    g1 = load_data(tables)  # builds TABLES/graph with the defaults
    stamp = os.stat(tables / "graph" / "graph.pt").st_mtime_ns
    assert graph_fingerprint(load_data(tables)) == graph_fingerprint(g1)
    assert os.stat(tables / "graph" / "graph.pt").st_mtime_ns == stamp, "cache hit"


def test_graph_of_moved_tables_is_served_as_it_is(tables, tmp_path):
    """Tables gone (moved, deleted): the graph is all there is, and it is served."""
    out = tmp_path / "g"
    fp = graph_fingerprint(build_cached(tables, out, CFG))
    shutil.rmtree(tables)
    assert graph_fingerprint(load_graph(out)) == fp


def test_baseline_refuses_a_graph_whose_tables_changed(tables, tmp_path, capsys):
    out = tmp_path / "g"
    build_cached(tables, out, CFG)
    f = tables / "neurons.parquet"
    import pandas as pd

    df = pd.read_parquet(f)
    df.loc[0, "cell_class"] = df.loc[1, "cell_class"]
    df.to_parquet(f, index=False)
    rc = main(["baseline", "--graph", str(out), "--label", "cell_class", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert f"{f.resolve()} changed" in err[0] and "python -m synhelpers build" in err[0]
    assert not (tmp_path / "b" / "metrics.json").exists()

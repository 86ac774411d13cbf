"""Regression tests for the five worst findings of the issue "Nothing silent, nothing lost".

Each test says what went wrong on the old main (commit 7ec0731). They drive the command line
in-process through ``synhelpers.cli.main`` and read files with pandas and torch only, so the
same file runs against the old code too (it fails there). Finding 4, an export server that
answered 200 with an HTML page being cached as verified, has its regression test in
``tests/test_download_exports.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

TRAIN = ["--task", "cell_class", "--model", "sage", "--seeds", "1", "--max-epochs", "2",
         "--set", "hidden=16"]


def cli(*argv) -> int | str:
    """Run ``python -m synhelpers ARGV`` in this process; the exit status, or what escaped."""
    from synhelpers.cli import main

    try:
        return main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        return e.code
    except Exception as e:  # noqa: BLE001 - the old main let errors escape as tracebacks
        return f"raised {type(e).__name__}: {e}"


def one_line_error(capsys, rc, *names: str) -> str:
    """Assert a non-zero exit with one line on stderr naming ``names``; returns the line."""
    err = capsys.readouterr().err.strip()
    assert isinstance(rc, int) and rc != 0, rc
    assert err.startswith("error") and "\n" not in err and "Traceback" not in err, err
    for name in names:
        assert name in err, (name, err)
    return err


def nodes(graph_dir: Path) -> int:
    return int(torch.load(graph_dir / "graph.pt", weights_only=True)["x"].shape[0])


def weights(graph_dir: Path) -> torch.Tensor:
    return torch.load(graph_dir / "graph.pt", weights_only=True)["edge_weight"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """``t200``/``t150``: synthetic tables of 200 and 150 neurons; ``g200``: t200's graph."""
    root = tmp_path_factory.mktemp("regressions")
    assert cli("synth", "--neurons", 200, "--seed", 0, "--out", root / "t200") == 0
    assert cli("synth", "--neurons", 150, "--seed", 1, "--out", root / "t150") == 0
    assert cli("build", "--tables", root / "t200", "--out", root / "g200") == 0
    assert cli("build", "--tables", root / "t150", "--out", root / "g150") == 0
    return root


def copy(world: Path, name: str, to: Path) -> Path:
    shutil.copytree(world / name, to / name)
    return to / name


def edit_tables(d: Path, fn) -> None:
    """Rewrite every table of ``d`` as ``fn(table name, frame)``."""
    for f in d.glob("*.parquet"):
        df = pd.read_parquet(f)
        fn(f.stem, df).to_parquet(f, index=False)


# -- 1. the graph cache ------------------------------------------------------------------

def test_build_killed_between_graph_pt_and_graph_json_never_serves_the_wrong_graph(world, tmp_path):
    """Old main: graph.json (written by the last complete build, of t200) still matched the
    key, so the graph.pt of an interrupted build of changed tables (t200 with every weight
    doubled: same neurons, same split) was served as t200's graph, silently."""
    changed = copy(world, "t200", tmp_path / "changed")
    edit_tables(changed, lambda name, df: df.assign(weight=2 * df.weight) if name == "connections" else df)
    assert cli("build", "--tables", changed, "--out", tmp_path / "g_changed") == 0
    g = copy(world, "g200", tmp_path)
    shutil.copy(tmp_path / "g_changed" / "graph.pt", g / "graph.pt")  # the killed build's
    assert cli("build", "--tables", world / "t200", "--out", g) == 0
    assert torch.equal(weights(g), weights(world / "g200"))


def test_truncated_graph_pt_is_rebuilt_not_a_cache_hit(world, tmp_path, capsys):
    """Old main: a truncated graph.pt with an intact graph.json was a cache hit, and loading
    it crashed with a torch/zip traceback."""
    g = copy(world, "g200", tmp_path)
    raw = (g / "graph.pt").read_bytes()
    (g / "graph.pt").write_bytes(raw[: len(raw) // 2])
    assert cli("build", "--tables", world / "t200", "--out", g) == 0
    assert nodes(g) == 200


# -- 2. a bad rerun wiped a good run -----------------------------------------------------

def test_train_seeds_0_leaves_an_earlier_metrics_json_alone(world, tmp_path, capsys):
    """Old main: ``train --seeds 0`` ran no seed and overwrote the run's metrics.json with
    an empty one (no seeds, no means)."""
    run = tmp_path / "run"
    assert cli("train", "--data", world / "g200", "--out", run, *TRAIN) == 0
    before = (run / "metrics.json").read_bytes()
    capsys.readouterr()
    rc = cli("train", "--data", world / "g200", "--out", run, *TRAIN, "--seeds", "0")
    one_line_error(capsys, rc, "--seeds")
    assert (run / "metrics.json").read_bytes() == before


# -- 3. train --data TABLES trusted TABLES/graph -----------------------------------------

def test_train_on_a_tables_folder_checks_the_cached_graphs_key(world, tmp_path):
    """Old main: ``train --data TABLES`` loaded an existing TABLES/graph/graph.pt without
    checking its cache key, so it trained on a graph of other tables (here: t150's)."""
    t = copy(world, "t200", tmp_path)
    assert cli("build", "--tables", world / "t150", "--out", t / "graph") == 0
    assert cli("train", "--data", t, "--out", tmp_path / "run", *TRAIN) == 0
    assert nodes(t / "graph") == 200


# -- 5. smaller ones ---------------------------------------------------------------------

def test_a_killed_builds_temporary_files_are_removed(world, tmp_path):
    """Old main: the ``.graph.pt.<random>.tmp`` of a killed build stayed forever."""
    g = copy(world, "g200", tmp_path)
    (g / ".graph.pt.k1ll3d.tmp").write_bytes(b"half a graph")
    assert cli("build", "--tables", world / "t200", "--out", g) == 0
    assert not list(g.glob(".*.tmp"))


def test_uint64_body_ids_are_refused_not_wrapped(world, tmp_path, capsys):
    """Old main: bodyIds >= 2**63 (uint64 columns) wrapped to negative int64 silently."""
    t = copy(world, "t200", tmp_path)
    shift = np.uint64(2**63)

    def to_uint64(name, df):
        for col in [c for c in df.columns if c.startswith("bodyId")]:
            df[col] = df[col].astype(np.uint64) + shift
        return df

    edit_tables(t, to_uint64)
    one_line_error(capsys, cli("build", "--tables", t, "--out", tmp_path / "g"), "bodyId")


@pytest.mark.parametrize("labels", [["A"] * 200, [None] * 200], ids=["one_class", "all_null"])
def test_a_label_without_two_classes_is_an_error(world, tmp_path, capsys, labels):
    """Old main: a single-class label trained and reported macro-F1 1.000; an all-null label
    crashed with a traceback."""
    t = copy(world, "t200", tmp_path)
    edit_tables(t, lambda name, df: df.assign(cell_class=labels) if name == "neurons" else df)
    rc = cli("train", "--data", t, "--out", tmp_path / "run", *TRAIN)
    one_line_error(capsys, rc, "cell_class")
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_set_with_an_unknown_gnn_is_an_error(world, tmp_path, capsys):
    """Old main: ``--set gnn=bogus`` was silently ignored (the model trained with SAGE)."""
    rc = cli("train", "--data", world / "g200", "--out", tmp_path / "run", *TRAIN, "--set", "gnn=bogus")
    one_line_error(capsys, rc, "gnn")


def test_figures_with_missing_runs_is_an_error(world, tmp_path, capsys):
    """Old main: ``figures --runs MISSING`` drew the graph figures and exited 0."""
    rc = cli("figures", "--graph", world / "g200", "--runs", tmp_path / "nope", "--out", tmp_path / "f")
    one_line_error(capsys, rc, "--runs")


def test_a_coordinate_of_1e300_is_refused(world, tmp_path, capsys):
    """Old main: a coordinate of 1e300 made the bounding-box centre inf and every normalised
    position NaN, silently."""
    t = copy(world, "t200", tmp_path)

    def huge(name, df):
        if name == "synapses":
            df["x_pre"] = df["x_pre"].astype(np.float64)
            df.loc[5, "x_pre"] = 1e300
        return df

    edit_tables(t, huge)
    one_line_error(capsys, cli("build", "--tables", t, "--out", tmp_path / "g"), "x_pre")


def test_max_epochs_0_is_an_error(world, tmp_path, capsys):
    """Old main: ``--max-epochs 0`` crashed inside Lightning with a traceback."""
    rc = cli("train", "--data", world / "g200", "--out", tmp_path / "run", *TRAIN, "--max-epochs", "0")
    one_line_error(capsys, rc, "--max-epochs")

"""Nothing silent, nothing lost: the command line under bad inputs and faults.

Each case runs ``python -m synhelpers ...`` in a subprocess, in its own copy of a good world
(200-neuron synthetic tables, their graph, a finished run). Each must exit non-zero with
exactly one line on stderr (no traceback, ``--debug`` not given) naming the file, column or
flag at fault, and must leave every file that was there before byte-identical.

The cases run in parallel on a small pool; the kill -9 tests are in ``test_kill_resume.py``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

#: The train arguments of the world's finished run (a tiny, fast, deterministic run).
TRAIN = ["--label", "cell_class", "--model", "mlp", "--seeds", "1", "--max-epochs", "2",
         "--min-epochs", "1", "--threads", "1", "--quiet", "--set", "hidden=16"]


@dataclass(frozen=True)
class Case:
    """One bad input: the command (``{d}`` is the case folder), a setup that damages the
    case's copy of the world, and the texts the one-line message must contain."""

    name: str
    argv: tuple[str, ...]
    names: tuple[str, ...]
    setup: Callable[[Path], None] | None = None


def env() -> dict:
    """The user's environment without debug tracebacks, and without the small profile's
    command-line caps (``make test`` sets it; these tests choose their own sizes)."""
    e = {k: v for k, v in os.environ.items() if k not in ("SYNHELPERS_DEBUG", "SYNHELPERS_PROFILE")}
    e.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return e


def cli(*argv, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synhelpers", *map(str, argv)],
                          capture_output=True, text=True, timeout=timeout, env=env())


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- damage to the case's world

def edit(rel: str, fn) -> Callable[[Path], None]:
    """A setup that rewrites the Parquet table ``d/rel`` as ``fn(frame)`` (valid Parquet)."""

    def setup(d: Path) -> None:
        f = d / rel
        fn(pd.read_parquet(f)).to_parquet(f, index=False)

    return setup


def raw(rel: str, fn) -> Callable[[Path], None]:
    """A setup that replaces the bytes of ``d/rel`` with ``fn(bytes)`` (None: delete it)."""

    def setup(d: Path) -> None:
        f = d / rel
        new = fn(f.read_bytes())
        f.unlink() if new is None else f.write_bytes(new)

    return setup


def put(rel: str, frame: Callable[[Path], pd.DataFrame]) -> Callable[[Path], None]:
    """A setup that writes an extra table ``d/rel`` made from the case's world."""
    return lambda d: frame(d).to_parquet(d / rel, index=False)


def at(df: pd.DataFrame, col: str, row: int, value) -> pd.DataFrame:
    df = df.copy()
    values = df[col].to_numpy(object if isinstance(value, str) else np.float64).copy()
    values[row] = value
    df[col] = values
    return df


def ids(d: Path) -> np.ndarray:
    return pd.read_parquet(d / "tables" / "neurons.parquet")["bodyId"].to_numpy()


def orphan_graph(d: Path) -> None:
    """The case's graph folder no longer knows its tables (so it cannot be rebuilt)."""
    f = d / "graph" / "graph.json"
    f.write_text(f.read_text().replace(str(WORLD_TABLES[0]), str(d / "gone")))


def both(*setups) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        for s in setups:
            s(d)

    return setup


def one_class(df):
    return df.assign(cell_class="KC")


def truncate(b):
    return b[: len(b) // 2]


WORLD_TABLES: list[Path] = []  # set by the world fixture: the tables the graph.json names
N, C, S = "tables/neurons.parquet", "tables/connections.parquet", "tables/synapses.parquet"
BUILD = ("build", "--tables", "{d}/tables", "--out", "{d}/new_graph", "--quiet")
TRAIN_G = ("train", "--data", "{d}/graph", "--out", "{d}/new_run", *TRAIN)
TRAIN_T = ("train", "--data", "{d}/tables", "--out", "{d}/new_run", *TRAIN)
PREDICT = ("predict", "--run", "{d}/run", "--data", "{d}/graph", "--out", "{d}/p.parquet")
SUGGEST = ("suggest", "--run", "{d}/run", "--data", "{d}/graph", "--out", "{d}/next.csv")

CASES = [
    # -- paths
    Case("tables_folder_missing", ("build", "--tables", "{d}/nope", "--out", "{d}/g"), ("--tables", "nope")),
    Case("tables_is_a_file", ("build", "--tables", "{d}/" + N, "--out", "{d}/g"), ("--tables",)),
    Case("out_is_a_file", ("build", "--tables", "{d}/tables", "--out", "{d}/" + N), ("--out",)),
    Case("out_under_a_file", ("train", "--data", "{d}/graph", "--out", "{d}/" + N + "/run", *TRAIN),
         ("--out", "neurons.parquet")),
    Case("data_neither_tables_nor_graph", ("train", "--data", "{d}/run", "--out", "{d}/r2", *TRAIN),
         ("neither a tables folder",)),
    Case("tables_folder_given_as_graph", ("baseline", "--graph", "{d}/tables", "--out", "{d}/b"),
         ("tables",)),
    Case("figures_runs_missing", ("figures", "--graph", "{d}/graph", "--runs", "{d}/nope"), ("--runs",)),
    Case("label_map_missing", (*BUILD, "--label-map", "{d}/nope.csv"), ("--label-map",)),
    # -- damaged tables
    Case("neurons_missing", BUILD, ("neurons.parquet",), raw(N, lambda b: None)),
    Case("connections_missing", BUILD, ("connections.parquet",), raw(C, lambda b: None)),
    Case("neurons_truncated", BUILD, ("neurons.parquet",), raw(N, truncate)),
    Case("synapses_truncated", BUILD, ("synapses.parquet",), raw(S, truncate)),
    Case("connections_not_parquet", BUILD, ("connections.parquet",), raw(C, lambda b: b"<html>")),
    Case("neurons_empty_file", BUILD, ("neurons.parquet",), raw(N, lambda b: b"")),
    Case("metadata_not_an_object", BUILD, ("synthetic.json",),
         lambda d: (d / "tables" / "synthetic.json").write_text("[1, 2]")),
    Case("column_bodyId_missing", BUILD, ("neurons.parquet", "bodyId"),
         edit(N, lambda df: df.drop(columns="bodyId"))),
    Case("column_weight_missing", BUILD, ("connections.parquet", "weight"),
         edit(C, lambda df: df.drop(columns="weight"))),
    Case("bodyId_as_text", BUILD, ("neurons.parquet", "bodyId"),
         edit(N, lambda df: df.assign(bodyId=df.bodyId.astype(str)))),
    Case("weight_as_text", BUILD, ("connections.parquet", "weight"),
         edit(C, lambda df: df.assign(weight=df.weight.astype(str)))),
    Case("coordinate_nan", BUILD, ("synapses.parquet", "x_pre"), edit(S, lambda df: at(df, "x_pre", 3, np.nan))),
    Case("coordinate_inf", BUILD, ("synapses.parquet", "z_post"), edit(S, lambda df: at(df, "z_post", 0, np.inf))),
    Case("coordinate_1e300", BUILD, ("synapses.parquet", "y_pre"), edit(S, lambda df: at(df, "y_pre", 7, 1e300))),
    Case("bodyId_uint64", BUILD, ("neurons.parquet", "bodyId"),
         edit(N, lambda df: df.assign(bodyId=df.bodyId.astype(np.uint64) + np.uint64(2**63)))),
    Case("bodyId_duplicate", BUILD, ("neurons.parquet", "bodyId"),
         edit(N, lambda df: pd.concat([df, df.iloc[:2]], ignore_index=True))),
    Case("unknown_body_in_connections", BUILD, ("connections.parquet", "bodyId_pre"),
         edit(C, lambda df: at(df, "bodyId_pre", 0, 123.0).astype({"bodyId_pre": np.int64}))),
    Case("negative_weight", BUILD, ("connections.parquet", "weight"),
         edit(C, lambda df: df.assign(weight=-df.weight))),
    Case("neurons_empty_table", BUILD, ("neurons.parquet",), edit(N, lambda df: df.iloc[:0])),
    Case("sites_bad_kind", BUILD, ("sites.parquet", "kind"), put("tables/sites.parquet", lambda d: pd.DataFrame(
        {"bodyId": ids(d)[:3], "kind": ["pre", "post", "axon"], "x": [1.0] * 3, "y": [2.0] * 3, "z": [3.0] * 3}))),
    # (a self-coupled gap junction is dropped with a count: tests/test_tables_normalise.py)
    Case("gap_junction_pair_listed_both_ways", BUILD, ("gap_junctions.parquet",), put(
        "tables/gap_junctions.parquet", lambda d: pd.DataFrame(
            {"bodyId_a": ids(d)[[0, 1]], "bodyId_b": ids(d)[[1, 0]], "weight": [1, 2]}))),
    # -- settings
    Case("unknown_model", ("train", "--data", "{d}/graph", "--out", "{d}/r", *TRAIN, "--model", "bogus"),
         ("--model", "bogus")),
    Case("unknown_label", ("train", "--data", "{d}/graph", "--out", "{d}/r", *TRAIN, "--label", "bogus"),
         ("bogus",)),
    Case("build_unknown_label", (*BUILD, "--label", "bogus"), ("bogus", "neurons")),
    Case("set_unknown_field", (*TRAIN_G, "--set", "bogus=1"), ("--set", "bogus")),
    Case("set_bad_value", (*TRAIN_G, "--set", "hidden=many"), ("--set", "hidden")),
    Case("set_bad_choice", (*TRAIN_G, "--set", "gnn=bogus"), ("--set", "gnn")),
    Case("mirror_names_no_individual", ("synth", "--neurons", "200", "--individuals", "2",
                                        "--mirror", "5", "--out", "{d}/ind"), ("--mirror", "5")),
    Case("mirror_without_individuals", ("synth", "--neurons", "200", "--mirror", "0",
                                        "--out", "{d}/one"), ("--mirror", "--individuals")),
    Case("set_bool_not_a_bool", (*TRAIN_G, "--set", "pair_stats=maybe"), ("--set", "pair_stats")),
    Case("set_fixed_by_model", (*TRAIN_G, "--model", "gat", "--set", "gnn=sage"), ("--set", "gat")),
    Case("set_malformed", (*TRAIN_G, "--set", "hidden"), ("--set", "hidden")),
    Case("seeds_zero", (*TRAIN_G, "--seeds", "0"), ("--seeds",)),
    Case("max_epochs_zero", (*TRAIN_G, "--max-epochs", "0"), ("--max-epochs",)),
    Case("splits_zero", (*TRAIN_G, "--splits", "0"), ("--splits",)),
    Case("negative_lr", (*TRAIN_G, "--lr", "-1"), ("lr",)),
    Case("loss_weight_not_a_number", (*TRAIN_G, "--loss-weight", "cell_class=heavy"), ("--loss-weight",)),
    Case("neurons_out_of_range", ("synth", "--neurons", "3", "--out", "{d}/s"), ("--neurons",)),
    Case("label_noise_out_of_range", ("synth", "--label-noise", "1.5", "--out", "{d}/s"), ("--label-noise",)),
    Case("test_connectome_with_one_folder", (*BUILD, "--test-connectome", "x"), ("--test-connectome",)),
    Case("synapse_model_without_synapses",
         ("train", "--data", "{d}/graph_nosyn", "--out", "{d}/r", *TRAIN, "--model", "hybrid"),
         ("hybrid", "synapse")),
    Case("baseline_unknown_label", ("baseline", "--graph", "{d}/graph", "--out", "{d}/b", "--label", "bogus"),
         ("bogus",)),
    # -- labels
    Case("single_class_label", TRAIN_T, ("cell_class", "2 classes"), edit(N, one_class)),
    Case("all_null_label", TRAIN_T, ("cell_class",), edit(N, lambda df: df.assign(cell_class=None))),
    # -- damaged graph folders
    Case("graph_pt_truncated", TRAIN_G, ("graph",), both(orphan_graph, raw("graph/graph.pt", truncate))),
    Case("graph_json_missing", TRAIN_G, ("graph",), raw("graph/graph.json", lambda b: None)),
    Case("graph_json_garbage", TRAIN_G, ("graph",), raw("graph/graph.json", lambda b: b"{not json")),
    Case("split_parquet_mismatched", TRAIN_G, ("split.parquet",),
         edit("graph/split.parquet", lambda df: df.iloc[::-1])),
    Case("split_parquet_bad_values", TRAIN_G, ("split.parquet", "split"),
         edit("graph/split.parquet", lambda df: df.assign(split="holdout"))),
    # -- runs
    Case("rerun_with_other_settings",
         ("train", "--data", "{d}/graph", "--out", "{d}/run", *TRAIN, "--max-epochs", "3"),
         ("max_epochs", "--overwrite")),
    Case("rerun_on_another_graph", ("train", "--data", "{d}/graph_nosyn", "--out", "{d}/run", *TRAIN),
         ("graph", "--overwrite")),
    # -- flags that would do nothing, or contradict each other (issue 21)
    Case("augment_on_a_wiring_only_model", (*TRAIN_G, "--augment", "rotate_z"), ("--augment", "mlp")),
    Case("fanouts_without_batch_size", (*TRAIN_G, "--fanouts", "5"), ("--fanouts", "--batch-size")),
    Case("more_fanouts_than_layers", (*TRAIN_G, "--model", "sage", "--batch-size", "32", "--fanouts",
                                      "5", "5", "5", "5", "5"), ("--fanouts", "sage")),
    Case("loss_weight_for_a_column_not_trained", (*TRAIN_G, "--loss-weight", "predictedNt=2"),
         ("--loss-weight", "predictedNt")),
    Case("task_with_another_label", (*TRAIN_G, "--task", "nt"), ("--task", "--label")),
    Case("label_twice", (*TRAIN_G, "--label", "cell_class", "cell_class"), ("--label", "twice")),
    Case("aux_weight_inf", (*TRAIN_G, "--aux-weight", "inf"), ("--aux-weight",)),
    Case("lr_nan", (*TRAIN_G, "--lr", "nan"), ("--lr",)),
    Case("weight_decay_inf", (*TRAIN_G, "--weight-decay", "inf"), ("--weight-decay",)),
    Case("out_empty", ("train", "--data", "{d}/graph", "--out", "", *TRAIN), ("--out",)),
    Case("seed_beyond_numpy", (*TRAIN_G, "--first-seed", str(2**32)), ("--first-seed",)),
    Case("precision_unknown", (*TRAIN_G, "--precision", "bogus"), ("--precision", "bogus")),
    # -- damaged runs and graphs, odd output paths
    Case("checkpoint_truncated", PREDICT, ("best.ckpt",), raw("run/seed0/best.ckpt", truncate)),
    Case("metrics_not_json", PREDICT, ("metrics.json",), raw("run/metrics.json", lambda b: b"{not json")),
    Case("metrics_not_json_suggest", SUGGEST, ("metrics.json",),
         raw("run/metrics.json", lambda b: b"{not json")),
    Case("split_parquet_corrupt", TRAIN_G, ("split.parquet",), raw("graph/split.parquet", truncate)),
    Case("split_parquet_without_test", TRAIN_G, ("split.parquet",),
         edit("graph/split.parquet", lambda df: df.assign(split=df["split"].replace("test", "train")))),
    Case("out_dangling_link", ("train", "--data", "{d}/graph", "--out", "{d}/link", *TRAIN), ("--out", "link"),
         lambda d: (d / "link").symlink_to(d / "nowhere")),
    Case("out_looping_link", ("train", "--data", "{d}/graph", "--out", "{d}/loop", *TRAIN), ("--out", "loop"),
         lambda d: (d / "loop").symlink_to(d / "loop")),
    Case("predict_out_dangling_link", (*PREDICT[:-1], "{d}/link.parquet"), ("--out", "link.parquet"),
         lambda d: (d / "link.parquet").symlink_to(d / "nowhere.parquet")),
    Case("out_name_too_long", ("train", "--data", "{d}/graph", "--out", "{d}/" + "x" * 300, *TRAIN),
         ("--out",)),
    Case("predict_out_name_too_long", (*PREDICT[:-1], "{d}/" + "x" * 300 + ".parquet"), ("--out",)),
    Case("view_given_a_tables_file", ("view", "--predictions", "{d}/" + N, "--tables", "{d}/tables",
                                      "--out", "{d}/v"), ("--predictions", "neurons.parquet")),
    Case("view_given_a_json_file", ("view", "--predictions", "{d}/run/metrics.json", "--tables",
                                    "{d}/tables", "--out", "{d}/v"), ("--predictions", "metrics.json")),
    *([] if torch.cuda.is_available() else [
        Case("accelerator_gpu_without_gpu", (*TRAIN_G, "--accelerator", "gpu"), ("--accelerator",))]),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Good tables, their graph (and one without synapses), and a finished run."""
    from synhelpers.graph import GraphConfig, build_cached
    from synhelpers.tables.synthetic import SyntheticConfig, write_synthetic
    from synhelpers.train import TrainConfig, run_training

    root = tmp_path_factory.mktemp("world")
    write_synthetic(SyntheticConfig(n_neurons=200, seed=0), root / "tables")
    WORLD_TABLES[:] = [root / "tables"]
    data = build_cached(root / "tables", root / "graph", GraphConfig())
    build_cached(root / "tables", root / "graph_nosyn", GraphConfig(synapses=False))
    cfg = TrainConfig(model="mlp", labels=("cell_class",), seeds=1, max_epochs=2, min_epochs=1,
                      num_threads=1, progress="none", model_overrides={"hidden": 16})
    run_training(data, cfg, root / "run")
    return root


def _run_case(world: Path, root: Path, case: Case) -> dict:
    d = root / case.name
    shutil.copytree(world, d, symlinks=True)
    if case.setup:
        case.setup(d)
    before = digests(d)
    p = cli(*(a.replace("{d}", str(d)) for a in case.argv))
    after = digests(d)
    changed = [f for f, h in before.items() if after.get(f) != h]
    return {"rc": p.returncode, "stderr": p.stderr, "changed": changed}


@pytest.fixture(scope="module")
def outcomes(world, tmp_path_factory, request) -> dict[str, dict]:
    """Every selected case, run in parallel (``-k`` selects cases)."""
    selected = {item.callspec.params["case"].name for item in request.session.items
                if "case" in getattr(getattr(item, "callspec", None), "params", {})}
    root = tmp_path_factory.mktemp("cases")
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {c.name: pool.submit(_run_case, world, root, c) for c in CASES
                   if c.name in selected}
        return {name: f.result() for name, f in futures.items()}


#: An exception class named in a message (``ValueError``, ``ArrowInvalid`` ...): the message
#: should say what to do instead.
CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Invalid|Interrupt)\b|Traceback")


def test_no_fault_case_is_unexpected(outcomes):
    """Every fault case of the suite (those selected) ends in one sentence, exit 2: never
    "unexpected <ExceptionType>", never an exception class name."""
    bad = {}
    for name, r in outcomes.items():
        lines = r["stderr"].strip().splitlines()
        if (r["rc"] != 2 or len(lines) != 1 or "unexpected" in r["stderr"]
                or CLASS_NAME.search(r["stderr"])):
            bad[name] = r["stderr"][-300:]
    assert outcomes and not bad, bad


def test_there_are_at_least_40_distinct_cases():
    assert len({c.name for c in CASES}) == len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gives_one_line_and_changes_nothing(outcomes, case):
    r = outcomes[case.name]
    lines = r["stderr"].strip().splitlines()
    assert r["rc"] == 2, (r["rc"], r["stderr"][-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), r["stderr"][-2000:]
    for text in case.names:
        assert text in lines[0], (text, lines[0])
    assert not r["changed"], f"files changed: {r['changed']}"

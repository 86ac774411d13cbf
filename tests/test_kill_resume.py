"""kill -9 of ``build`` and ``train`` at random points, then a rerun: the result must equal an
uninterrupted run's exactly.

Kill points are either a delay drawn from a seeded RNG (uniform over the uninterrupted run's
wall time, so it lands anywhere: imports, reading, building, training, writing) or the moment
the child reaches a point seen from outside: a temporary ``.graph.pt.*.tmp`` appears (the
graph is being written), ``graph.pt`` exists without ``graph.json`` (the finding of issue
item 1), a seed's folder appears (mid-seed), a seed's ``result.json`` appears (between seeds).

What is compared after the rerun:

- build: the files ``graph.pt``, ``split.parquet`` and ``graph.json`` byte for byte, the
  graph's fingerprint, and no temporary file left.
- train: ``metrics.json`` equal except the timing and memory fields (:data:`VOLATILE`):
  ``epoch_time_s`` and ``fit_time_s`` are wall-clock times, ``peak_memory_mb`` is the
  process's peak RSS, which depends on what the process did before (a resumed seed runs in
  a fresh process). Every checkpoint's weights are equal too.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from test_cli_faults import env

from synhelpers.io import read_json

#: metrics.json fields that hold wall-clock times or process memory (never compared).
VOLATILE = ("epoch_time_s", "fit_time_s", "peak_memory_mb", "val_wall_s", "val_cpu_s")
TRAIN = ["--label", "cell_class", "--model", "sage", "--seeds", "3", "--max-epochs", "3",
         "--min-epochs", "1", "--threads", "1", "--quiet", "--set", "hidden=16"]


def start(*argv) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "synhelpers", *map(str, argv)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env())


def finish(*argv) -> float:
    """Run a command to the end; returns its wall time. Fails on a non-zero exit."""
    t0 = time.perf_counter()
    p = start(*argv)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]
    return time.perf_counter() - t0


def kill_when(p: subprocess.Popen, reached, timeout: float = 600) -> bool:
    """SIGKILL ``p`` as soon as ``reached()`` is true; False if ``p`` ended first."""
    deadline = time.monotonic() + timeout
    while p.poll() is None and time.monotonic() < deadline:
        if reached():
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            return True
        time.sleep(0.002)
    p.wait()
    return False


def after(seconds: float):
    t_end = time.monotonic() + seconds
    return lambda: time.monotonic() >= t_end


def strip(metrics: dict) -> dict:
    """``metrics`` without the :data:`VOLATILE` fields."""
    # run_id: each run folder's own identity (a resumed run keeps the id of its run.json)
    out = {k: v for k, v in metrics.items() if k not in ("seeds", "mean", "std", "run_id")}
    out["seeds"] = [{k: v for k, v in s.items() if k not in VOLATILE} for s in metrics["seeds"]]
    for k in ("mean", "std"):
        out[k] = {m: v for m, v in metrics[k].items() if m not in VOLATILE}
    return out


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> Path:
    from synhelpers.tables.synthetic import SyntheticConfig, write_synthetic

    d = tmp_path_factory.mktemp("kill") / "tables"
    write_synthetic(SyntheticConfig(n_neurons=200, seed=0), d)
    return d


def _tmp_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*.tmp"))


def _graph_files(d: Path) -> dict[str, bytes]:
    return {f: (d / f).read_bytes() for f in ("graph.pt", "split.parquet", "graph.json")}


def _build_point(name: str, out: Path, delay: float):
    if name == "writing graph.pt":
        return lambda: any(out.glob(".graph.pt.*.tmp"))
    if name == "graph.pt without graph.json":
        return lambda: (out / "graph.pt").exists() and not (out / "graph.json").exists()
    return after(delay)


def test_killed_build_then_rerun_equals_an_uninterrupted_build(tables, tmp_path):
    from synhelpers.graph import graph_fingerprint, load_graph

    ref = tmp_path / "ref"
    wall = finish("build", "--tables", tables, "--out", ref, "--quiet")
    rng = random.Random(0)
    points = ["writing graph.pt", "graph.pt without graph.json", "random"]
    delays = [rng.uniform(0.2, 1.0) * wall for _ in points]

    def scenario(i: int, point: str) -> tuple[str, bool]:
        out = tmp_path / f"killed{i}"
        p = start("build", "--tables", tables, "--out", out, "--quiet")
        killed = kill_when(p, _build_point(point, out, delays[i]))
        finish("build", "--tables", tables, "--out", out, "--quiet")
        return point, killed

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda a: scenario(*a), enumerate(points)))
    assert sum(killed for _, killed in results) >= 2, results
    fp = graph_fingerprint(load_graph(ref))
    for i, (point, _) in enumerate(results):
        out = tmp_path / f"killed{i}"
        assert _graph_files(out) == _graph_files(ref), point
        assert graph_fingerprint(load_graph(out)) == fp, point
        assert _tmp_files(out) == [], point


def _train_point(name: str, out: Path, delay: float):
    """When to kill: at an event the run itself reports through its files (never at a fraction
    of another run's wall time, which a busy machine stretches or shrinks), except "random"."""
    if name == "in seed 0":  # seed 0 has validated at least once and is still training
        return lambda: ((out / "seed0" / "best.ckpt").exists()
                        and not (out / "seed0" / "result.json").exists())
    if name == "between seeds":
        return lambda: (out / "seed0" / "result.json").exists()
    if name == "in the last seed":
        return lambda: (out / "seed2").exists()
    return after(delay)


@pytest.fixture(scope="module")
def graph_dir(tables, tmp_path_factory) -> Path:
    from synhelpers.graph import GraphConfig, build_cached

    out = tmp_path_factory.mktemp("kill_graph") / "graph"
    build_cached(tables, out, GraphConfig())
    return out


def test_killed_train_then_rerun_equals_an_uninterrupted_run(graph_dir, tmp_path):
    ref = tmp_path / "ref"
    wall = finish("train", "--data", graph_dir, "--out", ref, *TRAIN)
    expected = read_json(ref / "metrics.json")
    rng = random.Random(1)
    points = ["in seed 0", "between seeds", "in the last seed", "random"]
    delays = [0.0, 0.0, 0.0, rng.uniform(0.3, 1.0) * wall]

    def scenario(i: int, point: str) -> tuple[str, bool]:
        for attempt in range(3):  # a short seed can end before the kill lands (busy CPU)
            out = tmp_path / f"killed{i}_{attempt}"
            p = start("train", "--data", graph_dir, "--out", out, *TRAIN)
            killed = kill_when(p, _train_point(point, out, delays[i]))
            # a kill that landed after metrics.json was written did not cut the run off
            killed = killed and not (out / "metrics.json").exists()
            finish("train", "--data", graph_dir, "--out", out, *TRAIN)
            if killed or point == "random":
                break
        return point, killed, out

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda a: scenario(*a), enumerate(points)))
    hit = {point for point, killed, _ in results if killed}
    assert {"in seed 0", "between seeds", "in the last seed"} <= hit, results
    for point, _, out in results:
        got = read_json(out / "metrics.json")
        assert strip(got) == strip(expected), point
        for s in expected["seeds"]:
            a = torch.load(ref / s["checkpoint"], weights_only=True)["state_dict"]
            b = torch.load(out / s["checkpoint"], weights_only=True)["state_dict"]
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), point
        assert _tmp_files(out) == [], point


# -- the run folder, in-process (fast) -------------------------------------------------------

@pytest.fixture(scope="module")
def small_graph():
    from synhelpers.testing.random_graph import make_random_graph

    return make_random_graph(num_nodes=60, num_edges=240, seed=2)


def _cfg(**kw):
    from synhelpers.train.config import TrainConfig

    base = dict(model="mlp", task="cell_class", seeds=2, max_epochs=2, min_epochs=1,
                progress="none", model_overrides={"hidden": 16})
    return TrainConfig(**{**base, **kw})


def _count_trainings(monkeypatch) -> list[int]:
    from synhelpers.train import run as train_mod

    calls, real = [], train_mod.train_one_seed
    monkeypatch.setattr(train_mod, "train_one_seed",
                        lambda data, cfg, seed, *a, **kw: calls.append(seed) or real(data, cfg, seed, *a, **kw))
    return calls


def test_a_cut_off_run_resumes_at_the_seed_it_was_in(small_graph, tmp_path, monkeypatch):
    from synhelpers.train.run import run_training

    expected = run_training(small_graph, _cfg(), tmp_path)
    (tmp_path / "metrics.json").unlink()  # killed in seed 1: its result was never written
    (tmp_path / "seed1" / "result.json").unlink()
    calls = _count_trainings(monkeypatch)
    got = run_training(small_graph, _cfg(progress="lines"), tmp_path)
    assert calls == [1]  # seed 0 read back, seed 1 trained again; progress changes no result
    assert got["config"].pop("progress") == "lines"
    expected["config"].pop("progress")
    assert strip(got) == strip(expected)
    assert read_json(tmp_path / "metrics.json")["config"]["progress"] == "lines"


def test_a_finished_run_is_returned_untouched(small_graph, tmp_path, monkeypatch):
    from synhelpers.train.run import run_training

    run_training(small_graph, _cfg(), tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    calls = _count_trainings(monkeypatch)
    run_training(small_graph, _cfg(), tmp_path)
    assert calls == [] and {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_other_settings_are_refused_unless_overwrite(small_graph, tmp_path):
    from synhelpers.errors import RunError
    from synhelpers.train.run import run_training

    run_training(small_graph, _cfg(), tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    before = (tmp_path / "metrics.json").read_bytes()
    with pytest.raises(RunError, match=r"max_epochs 2 -> 3.*--overwrite"):
        run_training(small_graph, _cfg(max_epochs=3), tmp_path)
    with pytest.raises(RunError, match="graph"):
        other = small_graph.clone()
        other.x = other.x + 1
        run_training(other, _cfg(), tmp_path)
    assert (tmp_path / "metrics.json").read_bytes() == before
    res = run_training(small_graph, _cfg(max_epochs=3, seeds=1), tmp_path, overwrite=True)
    assert res["config"]["max_epochs"] == 3 and [s["seed"] for s in res["seeds"]] == [0]
    assert not (tmp_path / "seed1").exists() and (tmp_path / "notes.txt").read_text() == "mine"


def test_a_setting_added_since_counts_as_its_default(small_graph, tmp_path, monkeypatch):
    """A run saved before a TrainConfig field existed is still the same run (the field's
    default is what it did); a removed field is ignored."""
    from synhelpers.io import write_json
    from synhelpers.train.run import run_training

    run_training(small_graph, _cfg(), tmp_path)
    record = read_json(tmp_path / "run.json")
    del record["config"]["aux_weight"]
    record["config"]["a_field_removed_since"] = 1
    write_json(tmp_path / "run.json", record)
    calls = _count_trainings(monkeypatch)
    run_training(small_graph, _cfg(), tmp_path)
    assert calls == []

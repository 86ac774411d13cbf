"""Data-parallel training with 2 CPU processes (gloo), launched as the README says:
``torchrun --nproc_per_node 2 -m synhelpers train ... --batch-size N``.

After the first optimiser step both ranks hold identical weights (and they changed); in every
epoch the two ranks saw disjoint sets of seed neurons that together cover the training seeds,
reshuffled from one epoch to the next; rank 0 alone writes metrics.json, which has the shape
of a single-process run's.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import torch

from synhelpers.graph import load_graph
from synhelpers.io import read_json
from synhelpers.train.config import TrainConfig
from synhelpers.train.distributed import RECORD_ENV
from synhelpers.train.minibatch import training_seeds
from synhelpers.train.run import run_training

SMALL = {"set_size": 8, "cloud_size": 8, "knn": 4, "hidden": 16, "point_dim": 8, "syn_dim": 8,
         "cloud_dim": 8}
BATCH, FANOUTS, EPOCHS = 32, (4, 3), 2


def _torchrun(graph_dir, out, record_dir) -> subprocess.CompletedProcess:
    sets = [x for k, v in SMALL.items() for x in ("--set", f"{k}={v}")]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "synhelpers", "train", "--data", str(graph_dir), "--out", str(out),
           "--task", "cell_class", "--batch-size", str(BATCH), "--fanouts", *map(str, FANOUTS),
           "--max-epochs", str(EPOCHS), "--min-epochs", str(EPOCHS), "--patience", "5",
           "--accelerator", "cpu", "--threads", "1", "--quiet", *sets]
    env = {**os.environ, RECORD_ENV: str(record_dir), "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _keys(tree):
    """The nested key structure of a metrics.json (lists of dicts: their first item)."""
    if isinstance(tree, dict):
        return {k: _keys(v) for k, v in tree.items() if k != "config"}
    if isinstance(tree, list) and tree and isinstance(tree[0], dict):
        return [_keys(tree[0])]
    return None


def test_ddp_two_cpu_processes(graph_dir, tmp_path):
    proc = _torchrun(graph_dir, tmp_path / "ddp", tmp_path / "ranks")
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [torch.load(tmp_path / "ranks" / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1] and ranks[0]["world_size"] == 2

    # identical weights after one step, and the step changed them
    after0, after1 = ranks[0]["after"], ranks[1]["after"]
    assert after0.keys() == after1.keys()
    assert all(torch.equal(after0[k], after1[k]) for k in after0)
    assert any(not torch.equal(after0[k], ranks[0]["before"][k]) for k in after0)

    # disjoint, covering shards of seed neurons, reshuffled per epoch
    graph = load_graph(graph_dir)
    seeds = training_seeds(graph, ["cell_class"])
    for epoch in range(EPOCHS):
        shard0, shard1 = (torch.cat(r["seeds"][epoch]) for r in ranks)
        assert not set(shard0.tolist()) & set(shard1.tolist()), "each rank its own seeds"
        assert torch.equal(torch.cat([shard0, shard1]).sort().values, seeds)
    assert set(torch.cat(ranks[0]["seeds"][0]).tolist()) != set(torch.cat(ranks[0]["seeds"][1]).tolist())

    # rank 0 alone wrote metrics.json, with the shape of a single-process run's
    ddp = read_json(tmp_path / "ddp" / "metrics.json")
    s = ddp["seeds"][0]
    assert s["world_size"] == 2 and s["test_evaluations"] == 1
    assert s["steps_per_epoch"] == math.ceil(math.ceil(seeds.numel() / 2) / BATCH)
    assert len(s["history"]["val_macro_f1"]) == EPOCHS
    single = run_training(graph_dir, TrainConfig(  # a folder, as the CLI passes it
        task="cell_class", batch_size=BATCH, fanouts=FANOUTS, max_epochs=EPOCHS, min_epochs=EPOCHS,
        patience=5, accelerator="cpu", num_threads=1, progress="none", model_overrides=SMALL),
        tmp_path / "single")
    assert _keys(ddp) == _keys(read_json(tmp_path / "single" / "metrics.json"))
    assert single["seeds"][0]["world_size"] == 1

"""Mini-batch training: layer-wise inference equals the full forward, losses on seeds only, an
epoch covers every training seed once, evaluation does not depend on chunking, one metrics.json
shape for both modes, launch settings from torchrun/SLURM, and clear errors."""

from __future__ import annotations

import argparse
import math

import pytest
import torch

from synhelpers.errors import ConfigError
from synhelpers.graph.batch import build_batch, edge_chunks
from synhelpers.graph.sampler import DirectedCSR, layerwise_batches
from synhelpers.io import read_json
from synhelpers.models import ModelConfig, build_model, get_spec
from synhelpers.models.synapse_encoder import PlanCache
from synhelpers.testing.random_graph import make_random_graph
from synhelpers.train import run as run_mod
from synhelpers.train.config import TrainConfig
from synhelpers.train.distributed import RECORD_ENV, resolve_launch
from synhelpers.train.inference import eval_chunk_size, whole_graph_logits
from synhelpers.train.minibatch import (
    check_scale,
    resolve_batch_size,
    sampling_fanouts,
    training_seeds,
)
from synhelpers.train.module import NodeClassifier, seed_mask
from synhelpers.train.run import run_training

SMALL = {"set_size": 8, "cloud_size": 8, "knn": 4, "hidden": 16, "point_dim": 8, "syn_dim": 8,
         "cloud_dim": 8, "table_dim": 16}


@pytest.fixture(scope="module")
def graph():
    return make_random_graph(num_nodes=60, num_edges=360, seed=4)


def with_gap_junctions(data, count: int = 30, seed: int = 0):
    """``data`` plus ``count`` random undirected gap junctions (both directions stored)."""
    g = torch.Generator().manual_seed(seed)
    n = int(data.num_nodes)
    a = torch.randint(0, n, (count,), generator=g)
    b = (a + torch.randint(1, n, (count,), generator=g)) % n
    out = data.clone()
    out.gap_index = torch.cat([torch.stack([a, b]), torch.stack([b, a])], dim=1)
    out.gap_weight = torch.rand(count, generator=g).repeat(2) * 5
    return out


def cfg(**kw):
    base = dict(model="hybrid", task="cell_class", max_epochs=2, min_epochs=1, patience=5,
                seeds=1, num_threads=2, model_overrides=SMALL, batch_size=12, fanouts=(4, 3),
                progress="none")
    base.update(kw)
    return TrainConfig(**base)


# --------------------------------------------------------------------------- inference


@pytest.mark.parametrize("name, overrides, gap", [
    ("hybrid", {}, False), ("hybrid", {"gnn": "gcn"}, False), ("hybrid", {"gnn": "gat"}, False),
    ("hybrid", {"gnn": "gatv2"}, False), ("hybrid", {"gnn": "gin"}, False),
    ("hybrid", {"gnn_layers": 3}, False), ("hybrid", {"gnn": "gcn"}, True),
    ("hybrid", {}, True), ("synapse_only", {}, False), ("mlp", {}, False),
    ("cloud_only", {}, False), ("hybrid_cloud", {}, False),
    ("hybrid", {"pair_stats": True, "edge_votes": True}, False),
    ("synapse_only", {"pair_stats": True, "edge_votes": True}, False),
])
def test_layerwise_inference_equals_forward(graph, name, overrides, gap):
    data = with_gap_junctions(graph) if gap else graph
    torch.manual_seed(0)
    model = build_model(name, ModelConfig.from_data(data, ["cell_class", "predictedNt"],
                                                    **SMALL, **overrides)).eval()
    with torch.no_grad():
        full = model(data)
    csr = DirectedCSR.from_data(data)
    syn_bounds, site_bounds = edge_chunks(data.syn_ptr, 300), edge_chunks(data.site_ptr, 200)
    assert len(syn_bounds) > 4 and len(site_bounds) > 4, "several chunks of each kind"
    chunked = model.inference(data, lambda: layerwise_batches(csr, 7), syn_bounds, site_bounds)
    assert set(chunked) == set(full)
    for c in full:
        assert chunked[c].shape == full[c].shape
        assert torch.allclose(chunked[c], full[c], atol=1e-5), (c, (chunked[c] - full[c]).abs().max())


def test_layerwise_inference_uses_full_degrees_for_gcn(graph):
    """Without the full-graph degrees a GCN's chunked output differs (so the test above can fail)."""
    torch.manual_seed(0)
    model = build_model("gcn", ModelConfig.from_data(graph, ["cell_class"], **SMALL)).eval()
    csr = DirectedCSR.from_data(graph)
    with torch.no_grad():
        full = model(graph)["cell_class"]
        plain = []
        for s in layerwise_batches(csr, 7):  # the neighbourhood subgraph as a graph of its own
            sub = build_batch(graph, s.n_id, s.e_id, s.batch_size)
            plain.append(model(sub)["cell_class"][:s.batch_size])
    assert not torch.allclose(torch.cat(plain), full, atol=1e-4)


def test_inference_refuses_training_mode(graph):
    model = build_model("hybrid", ModelConfig.from_data(graph, ["cell_class"], **SMALL)).train()
    with pytest.raises(RuntimeError, match="eval"):
        model.inference(graph, lambda: layerwise_batches(DirectedCSR.from_data(graph), 8))


def test_whole_graph_logits_full_and_chunked_agree(graph):
    torch.manual_seed(1)
    model = build_model("hybrid", ModelConfig.from_data(graph, ["cell_class"], **SMALL))
    a = whole_graph_logits(model, graph, None)
    b = whole_graph_logits(model, graph, 9)
    assert not model.training
    assert torch.allclose(a["cell_class"], b["cell_class"], atol=1e-5)
    assert eval_chunk_size(graph, free_bytes=2**34) is None
    assert 1 <= eval_chunk_size(graph, free_bytes=2**20) < graph.num_nodes


def test_batches_keep_the_gap_junctions_between_their_nodes(graph):
    data = with_gap_junctions(graph, count=200)
    n_id = torch.tensor([5, 9, 11, 30, 2, 44, 17])
    b = build_batch(data, n_id, torch.zeros(0, dtype=torch.long), 3)
    inside = torch.isin(data.gap_index, n_id).all(0)
    assert b.gap_index.shape[1] == int(inside.sum()) > 0
    assert torch.equal(n_id[b.gap_index], data.gap_index[:, inside])
    assert torch.equal(b.gap_weight, data.gap_weight[inside])


# --------------------------------------------------------------------------- losses, seeds


def _seed_loss(module, out, batch):
    return module.multitask_loss(out, batch, seed_mask(batch))


def test_the_loss_reads_the_seeds_only(graph):
    torch.manual_seed(0)
    module = NodeClassifier("hybrid", ModelConfig.from_data(graph, ["cell_class"], **SMALL),
                            cfg(), ["cell_class"]).eval()
    seeds = training_seeds(graph, ["cell_class"])[:6]
    batch = build_batch(graph, torch.cat([seeds, torch.tensor([n for n in range(60) if n not in
                                                                seeds.tolist()][:20])]),
                        torch.zeros(0, dtype=torch.long), 6)
    out = module(batch)
    base = _seed_loss(module, out, batch)[0]
    other = batch.clone()
    other.y_cell_class = batch.y_cell_class.clone()
    other.y_cell_class[6:] = (other.y_cell_class[6:] + 1) % 3  # non-seed labels: no effect
    assert torch.equal(_seed_loss(module, out, other)[0], base)
    other.y_cell_class[0] = (other.y_cell_class[0] + 1) % 3  # a seed's label: an effect
    assert not torch.equal(_seed_loss(module, out, other)[0], base)


def test_a_whole_graph_is_one_batch_of_its_training_nodes(graph):
    assert torch.equal(seed_mask(graph), graph.train_mask)
    batch = build_batch(graph, torch.arange(10), torch.zeros(0, dtype=torch.long), 4)
    assert seed_mask(batch).tolist() == [True] * 4 + [False] * 6


def test_an_unlabelled_batch_still_reaches_every_head(graph):
    cols = ["cell_class", "predictedNt"]
    module = NodeClassifier("hybrid", ModelConfig.from_data(graph, cols, **SMALL), cfg(), cols)
    batch = build_batch(graph, torch.arange(10), torch.zeros(0, dtype=torch.long), 4)
    batch.y_predictedNt = torch.full_like(batch.y_predictedNt, -1)
    main, aux = _seed_loss(module, module(batch), batch)
    (main + aux).backward()
    heads = module.model.heads.heads
    assert all(p.grad is not None for p in heads["col_predictedNt"].parameters())


def test_training_seeds_are_labelled_training_neurons(graph):
    seeds = training_seeds(graph, ["predictedNt"])
    assert bool(graph.train_mask[seeds].all()) and bool((graph.y_predictedNt[seeds] >= 0).all())
    assert seeds.numel() == int((graph.train_mask & (graph.y_predictedNt >= 0)).sum())


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def base_run(graph, tmp_path_factory):
    """One mini-batch run (2 epochs) with the rank recorder on; shared by the tests below."""
    out = tmp_path_factory.mktemp("minibatch")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(RECORD_ENV, str(out / "ranks"))
        res = run_training(graph, cfg(max_epochs=2, min_epochs=2), out / "run")
    return res, out


def test_minibatch_run_covers_every_seed_each_epoch(graph, base_run):
    res, out = base_run
    s = res["seeds"][0]
    seeds = training_seeds(graph, ["cell_class"])
    record = torch.load(out / "ranks" / "rank0.pt", weights_only=True)
    assert len(record["seeds"]) == 2
    for epoch in record["seeds"]:
        assert torch.equal(torch.cat(epoch).sort().values, seeds), "each seed once per epoch"
        assert max(b.numel() for b in epoch) <= 12
    assert set(record["seeds"][0][0].tolist()) != set(record["seeds"][1][0].tolist()), "reshuffled"
    assert s["steps_per_epoch"] == math.ceil(seeds.numel() / 12) == len(record["seeds"][0])
    assert s["batch_size"] == 12 and s["fanouts"] == [4, 3] and s["world_size"] == 1
    assert len(s["history"]["val_macro_f1"]) == len(s["val_wall_s"]) == len(s["val_cpu_s"]) == 2
    assert s["test_evaluations"] == 1 and s["epoch_time_s"] > 0
    assert s["val_wall_s"][1] > s["val_wall_s"][0]


def test_minibatch_and_full_graph_metrics_have_the_same_keys(graph, base_run, tmp_path):
    mb = read_json(base_run[1] / "run" / "metrics.json")
    run_training(graph, cfg(batch_size=None, max_epochs=2, min_epochs=2), tmp_path)
    full = read_json(tmp_path / "metrics.json")
    assert _keys(mb) == _keys(full)
    assert full["seeds"][0]["batch_size"] is None and full["seeds"][0]["steps_per_epoch"] == 1


def _keys(tree):
    if isinstance(tree, dict):
        return {k: _keys(v) for k, v in tree.items() if k not in ("config",)}
    if isinstance(tree, list) and tree and isinstance(tree[0], dict):
        return [_keys(tree[0])]
    return None


def test_evaluation_does_not_depend_on_chunking(graph, base_run, tmp_path):
    a = base_run[0]["seeds"][0]
    b = run_training(graph, cfg(max_epochs=2, min_epochs=2, eval_chunk_size=7), tmp_path)["seeds"][0]
    assert a["eval_chunk_size"] is None and b["eval_chunk_size"] == 7
    assert a["history"]["train_loss"] == b["history"]["train_loss"], "same training"
    assert a["history"]["val_macro_f1"] == b["history"]["val_macro_f1"]
    assert a["history"]["val_loss"] == pytest.approx(b["history"]["val_loss"], abs=1e-5)
    assert a["test_macro_f1"] == b["test_macro_f1"]


def test_no_test_label_leakage_in_minibatch_mode(graph, base_run, tmp_path, monkeypatch):
    """Corrupted test labels change nothing in training, validation or selection."""
    calls = []
    real = run_mod.evaluate_test
    monkeypatch.setattr(run_mod, "evaluate_test", lambda *a, **k: calls.append(1) or real(*a, **k))
    a = base_run[0]["seeds"][0]
    corrupted = graph.clone()
    y = corrupted.y_cell_class.clone()
    y[graph.test_mask] = (y[graph.test_mask] + 1) % 3
    corrupted.y_cell_class = y
    b = run_training(corrupted, cfg(max_epochs=2, min_epochs=2), tmp_path)["seeds"][0]
    assert calls == [1]
    assert a["history"] == b["history"] and a["best_epoch"] == b["best_epoch"]
    assert a["test_confusion_matrix"] != b["test_confusion_matrix"]


def test_plan_caches_keep_the_graph_and_not_the_one_off_batches(graph):
    """The set encoders cache a table's plan once it is seen twice (the whole graph, epoch
    after epoch); training batches, each seen once, never evict it. No training code swaps
    caches in or out."""
    module = NodeClassifier("hybrid", ModelConfig.from_data(graph, ["cell_class"], **SMALL),
                            cfg(), ["cell_class"], val_graph=graph)
    encoder = module.model.synapse_encoder
    module.whole_graph_logits()
    assert encoder.plans._items == {}  # seen once: not kept yet
    module.whole_graph_logits()
    kept = list(encoder.plans._items)
    assert len(kept) == 1
    module.model.train()
    for seeds in (torch.arange(5), torch.arange(5, 10), torch.arange(10, 15)):
        module(build_batch(graph, seeds, torch.arange(0), 5))
    assert list(encoder.plans._items) == kept


def test_a_plan_cache_checks_contents_not_only_addresses():
    ptr = torch.tensor([0, 2, 5])
    pos = torch.rand(5, 6)
    cache = PlanCache()
    cache.get(ptr, pos, 4, 64)
    first = cache.get(ptr, pos, 4, 64)
    ptr[1] = 3  # same tensor (same address), other contents: a new plan, not the stale one
    second = cache.get(ptr, pos, 4, 64)
    assert not torch.equal(first[1], second[1])


# --------------------------------------------------------------------------- settings


def test_resolve_batch_size(graph):
    n = 40
    assert resolve_batch_size(cfg(batch_size=None), graph, n) is None
    assert resolve_batch_size(cfg(batch_size=7), graph, n) == 7
    assert resolve_batch_size(cfg(batch_size="auto"), graph, n, free_bytes=2**40) is None
    assert resolve_batch_size(cfg(batch_size="auto"), graph, n, 2, free_bytes=2**40) == 20
    small = resolve_batch_size(cfg(batch_size="auto"), graph, n, free_bytes=2**21)
    assert 1 <= small < n


def test_scale_errors(graph):
    with pytest.raises(ConfigError, match="--batch-size"):
        check_scale(cfg(batch_size=None), get_spec("hybrid"), world_size=2)
    with pytest.raises(ConfigError, match="full graph only"):
        check_scale(cfg(model="original"), get_spec("original"), world_size=1)
    model = build_model("hybrid", ModelConfig.from_data(graph, ["cell_class"], gnn_layers=3))
    with pytest.raises(ConfigError, match="3 hops"):
        sampling_fanouts(cfg(fanouts=(5, 5)), model)
    with pytest.raises(ConfigError, match="gives 4 hops .* would do nothing"):  # issue 21
        sampling_fanouts(cfg(fanouts=(5, 4, 3, 2)), model)
    assert sampling_fanouts(cfg(fanouts=(5, 4, 3)), model) == [5, 4, 3]
    mlp = build_model("mlp", ModelConfig.from_data(graph, ["cell_class"]))
    assert sampling_fanouts(cfg(fanouts=TrainConfig().fanouts), mlp) == []  # the default
    with pytest.raises(ConfigError, match="reads 0; the extra fan-outs would do nothing"):
        sampling_fanouts(cfg(), mlp)  # fan-outs given for a model without message passing
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="fanouts"):
        TrainConfig(fanouts=(5, -2))


def test_original_design_refuses_minibatches_in_one_line(graph, tmp_path):
    with pytest.raises(ConfigError, match="drop --batch-size"):
        run_training(graph, cfg(model="original"), tmp_path)


def test_launch_from_torchrun_and_slurm():
    torchrun = {"TORCHELASTIC_RUN_ID": "1", "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4"}
    launch = resolve_launch(TrainConfig(), env=torchrun)
    assert (launch.devices, launch.num_nodes, launch.world_size, launch.launcher) == (4, 2, 8, "torchrun")
    assert launch.distributed and launch.strategy == "auto"  # Lightning then picks ddp
    slurm = {"SLURM_NTASKS": "6", "SLURM_NNODES": "3", "SLURM_NTASKS_PER_NODE": "2(x3)"}
    launch = resolve_launch(TrainConfig(), env=slurm)
    assert (launch.devices, launch.num_nodes, launch.launcher) == (2, 3, "slurm")
    assert resolve_launch(TrainConfig(), env={**slurm, "SLURM_JOB_NAME": "bash"}).world_size == 1
    assert resolve_launch(TrainConfig(devices=2), env={}).world_size == 2
    assert not resolve_launch(TrainConfig(), env={}).distributed
    with pytest.raises(ConfigError, match="--devices 3"):
        resolve_launch(TrainConfig(devices=3), env=torchrun)
    with pytest.raises(ConfigError, match="--num-nodes 4"):
        resolve_launch(TrainConfig(num_nodes=4), env=torchrun)


def test_batchnorm_becomes_syncbatchnorm_under_ddp_on_gpus():
    from synhelpers.train.distributed import Launch, trainer_kwargs

    ddp, single = Launch(2, 1, "auto", 2, "torchrun"), Launch(1, 1, "auto", 1, "lightning")
    assert trainer_kwargs(ddp, cuda=True)["sync_batchnorm"]
    assert not trainer_kwargs(ddp, cuda=False)["sync_batchnorm"]  # torch: GPU only
    assert not trainer_kwargs(single, cuda=True)["sync_batchnorm"]
    assert not trainer_kwargs(ddp, cuda=True)["use_distributed_sampler"]  # the loader shards
    model = build_model("hybrid", ModelConfig.from_data(make_random_graph(), ["cell_class"]))
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _parser():
    from synhelpers.train import cli

    p = argparse.ArgumentParser()
    cli.register(p.add_subparsers(dest="command", required=True))
    return p


def test_cli_scale_flags(tmp_path, capsys):
    base = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    args = _parser().parse_args(base + ["--batch-size", "auto", "--fanouts", "10", "-1",
                                        "--eval-chunk", "512", "--num-nodes", "2"])
    assert (args.batch_size, args.fanouts, args.eval_chunk, args.num_nodes) == ("auto", [10, -1], 512, 2)
    args = _parser().parse_args(base)
    from synhelpers.train.cli_options import scale_fields

    # not given: the default, and `--fanouts` without `--batch-size` can be refused
    assert args.batch_size is None and args.fanouts is None
    assert scale_fields(args)["fanouts"] == TrainConfig().fanouts
    for bad in (["--batch-size", "0"], ["--batch-size", "many"], ["--fanouts", "0"]):
        with pytest.raises(SystemExit):
            _parser().parse_args(base + bad)
        assert "expected a positive integer" in capsys.readouterr().err


def test_seed_sites_only_leaves_the_seeds_outputs_unchanged(graph):
    """HybridModel reads a neuron's sites for its own output only, so batches may carry the
    seeds' sites alone (the other nodes' clouds are then not encoded)."""
    from synhelpers.graph.sampler import sample_neighbours

    torch.manual_seed(0)
    model = build_model("hybrid", ModelConfig.from_data(graph, ["cell_class"], **SMALL)).eval()
    assert model.sites_reach_own_output_only
    s = sample_neighbours(DirectedCSR.from_data(graph), torch.tensor([4, 8, 15]), [4, 3],
                          torch.Generator().manual_seed(0))
    full = build_batch(graph, s.n_id, s.e_id, 3)
    seeds_only = build_batch(graph, s.n_id, s.e_id, 3, seed_sites_only=True)
    assert seeds_only.site_ptr.shape == full.site_ptr.shape
    assert torch.equal(seeds_only.site_ptr[:4], full.site_ptr[:4])
    assert seeds_only.site_ptr[-1] == full.site_ptr[3] < full.site_ptr[-1]
    with torch.no_grad():
        a, b = model(full)["cell_class"], model(seeds_only)["cell_class"]
    assert torch.allclose(a[:3], b[:3], atol=1e-6)
    assert not torch.allclose(a[3:], b[3:], atol=1e-3), "the other nodes did lose their sites"


@pytest.mark.parametrize("name", ["synhelpers.train.distributed", "synhelpers.train.inference"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("extra", [{"augment": "rotate_z,scale"},
                                   {"tta": 4, "tta_augment": "rotate_z:theta=20"},
                                   {"loss": "focal", "loss_params": {"gamma": 2.0}}],
                         ids=["augment", "tta", "focal"])
def test_minibatch_runs_take_every_training_option(graph, tmp_path, extra):
    """Mini-batch mode runs the same training step as full-graph mode, so augmentation,
    test-time augmentation and every loss work there too (two epochs of several steps)."""
    res = run_training(graph, cfg(max_epochs=2, min_epochs=2, **extra), tmp_path)["seeds"][0]
    assert res["batch_size"] == 12 and res["steps_per_epoch"] > 1 and res["epochs"] == 2
    assert res["test_evaluations"] == 1
    if "tta" in extra:
        assert res["per_task"]["cell_class"]["tta"]["views"] == 4

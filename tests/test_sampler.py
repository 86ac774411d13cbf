"""Mini-batch sampling: CSR gathers, per-direction fan-outs, full neighbourhoods, determinism,
seed order, data-parallel shards, chunked inference and the batch size estimate."""

from __future__ import annotations

import doctest

import pytest
import torch

from synhelpers.graph import batch as batch_module
from synhelpers.graph import sampler as sampler_module
from synhelpers.graph.batch import (
    build_batch,
    edge_chunks,
    estimate_batch_size,
    free_memory_bytes,
    gather_csr,
)
from synhelpers.graph.sampler import (
    DirectedCSR,
    NeighborBatchLoader,
    NeighborSampleDataset,
    SeedBatchSampler,
    layerwise_batches,
    sample_adjacent_edges,
    sample_neighbours,
)
from synhelpers.testing.random_graph import make_random_graph


@pytest.fixture(scope="module")
def data():
    return make_random_graph(num_nodes=80, num_edges=900, seed=3)


@pytest.fixture(scope="module")
def csr(data):
    return DirectedCSR.from_data(data)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _sample(csr, seeds, fanouts, seed=0):
    return sample_neighbours(csr, torch.as_tensor(seeds), fanouts, _gen(seed))


def test_csr_groups_every_edge_by_its_end(data, csr):
    n, e = data.num_nodes, data.edge_index.shape[1]
    for ptr, eid, end in ((csr.in_ptr, csr.in_eid, data.edge_index[1]),
                          (csr.out_ptr, csr.out_eid, data.edge_index[0])):
        assert ptr.shape == (n + 1,) and ptr[-1] == e
        assert torch.equal(eid.sort().values, torch.arange(e)), "a permutation of the edges"
        owner = torch.repeat_interleave(torch.arange(n), ptr.diff())
        assert torch.equal(end[eid], owner)


def test_batch_tensors_and_csr_match_the_full_graph(data, csr):
    s = _sample(csr, [5, 1, 30], [4, 3])
    b = build_batch(data, s.n_id, s.e_id, s.batch_size)
    assert b.num_nodes == s.n_id.numel() and torch.equal(b.n_id, s.n_id)
    assert torch.equal(b.e_id, s.e_id) and torch.equal(b.edge_index, s.edge_index)
    assert torch.equal(b.n_id[b.edge_index], data.edge_index[:, b.e_id])
    assert torch.equal(b.edge_weight, data.edge_weight[s.e_id])
    assert torch.equal(b.edge_roi, data.edge_roi[s.e_id])
    for key in ("x", "body_id", "y_cell_class", "y_predictedNt", "train_mask", "test_mask"):
        assert torch.equal(b[key], data[key][s.n_id]), key
    assert b.roi_names == data.roi_names and b.label_names == data.label_names
    assert torch.equal(b.pos_center, data.pos_center) and b.pos_scale == data.pos_scale
    assert b.syn_ptr.shape == (s.e_id.numel() + 1,) and b.syn_ptr[-1] == b.syn_pos.shape[0]
    assert b.syn_roi.shape[0] == b.syn_conf.shape[0] == b.syn_pos.shape[0]
    assert b.site_ptr.shape == (b.num_nodes + 1,) and b.site_ptr[-1] == b.site_pos.shape[0]
    # reference: slice every owner's rows one at a time
    for j, e in enumerate(s.e_id.tolist()):
        old = slice(int(data.syn_ptr[e]), int(data.syn_ptr[e + 1]))
        new = slice(int(b.syn_ptr[j]), int(b.syn_ptr[j + 1]))
        for key in ("syn_pos", "syn_roi", "syn_conf"):
            assert torch.equal(b[key][new], data[key][old]), (key, e)
    for j, v in enumerate(s.n_id.tolist()):
        old = slice(int(data.site_ptr[v]), int(data.site_ptr[v + 1]))
        new = slice(int(b.site_ptr[j]), int(b.site_ptr[j + 1]))
        assert torch.equal(b.site_pos[new], data.site_pos[old])
        assert torch.equal(b.site_is_post[new], data.site_is_post[old])


def test_gather_csr_keeps_owner_order_and_repeats():
    ptr = torch.tensor([0, 2, 2, 5, 6])
    rows, new_ptr = gather_csr(ptr, torch.tensor([3, 1, 2, 3]))
    assert rows.tolist() == [5, 2, 3, 4, 5] and new_ptr.tolist() == [0, 1, 1, 4, 5]
    rows, new_ptr = gather_csr(ptr, torch.zeros(0, dtype=torch.long))
    assert rows.numel() == 0 and new_ptr.tolist() == [0]


def test_fanout_respected_per_node_and_direction(data, csr):
    nodes = torch.arange(data.num_nodes)
    in_deg, out_deg = csr.in_ptr.diff(), csr.out_ptr.diff()
    assert int(in_deg.max()) > 4 and int(out_deg.max()) > 4, "the test needs high degrees"
    e_in, e_out = sample_adjacent_edges(csr, nodes, 4, _gen(1))
    src, dst = data.edge_index
    n = data.num_nodes
    assert torch.equal(torch.bincount(dst[e_in], minlength=n), in_deg.clamp(max=4))
    assert torch.equal(torch.bincount(src[e_out], minlength=n), out_deg.clamp(max=4))
    assert e_in.unique().numel() == e_in.numel(), "without replacement"
    assert e_out.unique().numel() == e_out.numel()


def test_fanout_respected_over_hops(data, csr):
    """Node v reached at hop l < L: among the sampled edges joining it to nodes that are never
    expanded, each direction holds min(degree, k_l) at most, and at least that many in all."""
    fanouts = [3, 2]
    s = _sample(csr, [0, 7, 11, 42], fanouts)
    hop = torch.repeat_interleave(torch.arange(len(s.num_sampled_nodes)),
                                  torch.tensor(s.num_sampled_nodes))
    src, dst = s.edge_index
    in_deg, out_deg = csr.in_ptr.diff()[s.n_id], csr.out_ptr.diff()[s.n_id]
    leaf = hop == len(fanouts)  # reached at the last hop: never expanded
    n = s.n_id.numel()
    for level, k in enumerate(fanouts):
        here = hop == level
        assert bool(here.any())
        in_from_leaf = torch.bincount(dst[leaf[src]], minlength=n)
        out_to_leaf = torch.bincount(src[leaf[dst]], minlength=n)
        assert bool((in_from_leaf[here] <= in_deg[here].clamp(max=k)).all())
        assert bool((out_to_leaf[here] <= out_deg[here].clamp(max=k)).all())
        assert bool((torch.bincount(dst, minlength=n)[here] >= in_deg[here].clamp(max=k)).all())
        assert bool((torch.bincount(src, minlength=n)[here] >= out_deg[here].clamp(max=k)).all())


def test_sampling_is_uniform_without_replacement():
    hub = torch.tensor([[*range(1, 11)], [0] * 10])  # 10 edges into node 0
    csr = DirectedCSR.from_edge_index(hub, 11)
    g = _gen(0)
    counts = torch.zeros(10)
    for _ in range(3000):
        e_in, e_out = sample_adjacent_edges(csr, torch.tensor([0]), 3, g)
        assert e_in.numel() == 3 and e_in.unique().numel() == 3 and e_out.numel() == 0
        counts[e_in] += 1
    assert torch.allclose(counts / 3000, torch.full((10,), 0.3), atol=0.03)


def test_full_fanout_gives_the_k_hop_neighbourhood(data, csr):
    n, hops = data.num_nodes, 2
    adj = torch.zeros(n, n, dtype=torch.bool)
    adj[data.edge_index[0], data.edge_index[1]] = True
    both = (adj | adj.T).float()
    seeds = torch.tensor([9, 2])
    dist = torch.full((n,), hops + 1)
    reach = torch.zeros(n)
    reach[seeds] = 1
    for d in range(hops + 1):  # breadth-first by dense matrix products
        dist[(reach > 0) & (dist > hops)] = d
        reach = reach + both @ reach
    expanded = dist < hops
    ref_edges = (expanded[data.edge_index[0]] | expanded[data.edge_index[1]]).nonzero().flatten()
    s = _sample(csr, seeds, [-1] * hops)
    assert torch.equal(s.e_id, ref_edges)
    assert torch.equal(s.n_id.sort().values, (dist <= hops).nonzero().flatten())
    assert bool((dist[s.n_id].diff() >= 0).all()), "nodes in order of their hop"


def test_determinism_and_seed_dependence(csr):
    seeds, fanouts = torch.tensor([3, 8, 20]), [3, 3]
    a, b = _sample(csr, seeds, fanouts, 5), _sample(csr, seeds, fanouts, 5)
    assert torch.equal(a.n_id, b.n_id) and torch.equal(a.e_id, b.e_id)
    others = [_sample(csr, seeds, fanouts, s).e_id for s in range(6, 10)]
    assert any(not torch.equal(a.e_id, o) for o in others)


def test_seeds_come_first_and_batch_size(data, csr):
    seeds = torch.tensor([17, 4, 60, 33])
    s = _sample(csr, seeds, [2, 2])
    b = build_batch(data, s.n_id, s.e_id, s.batch_size)
    assert b.batch_size == 4 and torch.equal(b.n_id[:4], seeds)
    assert s.n_id.unique().numel() == s.n_id.numel() and s.num_sampled_nodes[0] == 4
    assert sum(s.num_sampled_nodes) == s.n_id.numel()
    mask = torch.zeros(data.num_nodes, dtype=torch.bool)
    mask[seeds] = True
    assert torch.equal(_sample(csr, mask, [2]).n_id[:4], seeds.sort().values)


def test_shards_are_disjoint_cover_all_and_change_per_epoch(data):
    seeds = data.train_mask.nonzero().flatten()  # 56 seeds
    samplers = [SeedBatchSampler(seeds, 5, seed=2, num_replicas=3, rank=r) for r in range(3)]
    for epoch in range(3):
        per_rank = [s.batches(epoch) for s in samplers]
        assert len({len(b) for b in per_rank}) == 1, "every rank has as many batches"
        assert all(0 < x.numel() <= 5 for b in per_rank for x in b)
        shards = [torch.cat(b) for b in per_rank]
        union = torch.cat(shards)
        assert union.numel() == seeds.numel(), "disjoint"
        assert torch.equal(union.sort().values, seeds), "covering"
    assert not torch.equal(samplers[0].batches(0)[0], samplers[0].batches(1)[0])
    assert set(samplers[0].batches(0)[0].tolist()) != set(samplers[0].batches(1)[0].tolist())


def test_loader_yields_reproducible_sharded_batches(data):
    seeds = data.train_mask.nonzero().flatten()
    loaders = [NeighborBatchLoader(data, data.train_mask, [3, 2], 8, seed=1, num_replicas=2,
                                   rank=r) for r in range(2)]
    epoch0 = [list(loader) for loader in loaders]
    got = torch.cat([b.n_id[:b.batch_size] for batches in epoch0 for b in batches])
    assert torch.equal(got.sort().values, seeds)
    assert all(b.syn_ptr[-1] == b.syn_pos.shape[0] for b in epoch0[0])
    again = list(loaders[0])  # the next epoch: a new permutation
    assert not torch.equal(again[0].n_id[:again[0].batch_size], epoch0[0][0].n_id[:8])
    loaders[0].set_epoch(0)
    replay = list(loaders[0])
    assert all(torch.equal(a.e_id, b.e_id) for a, b in zip(replay, epoch0[0]))


def test_loader_batches_do_not_depend_on_workers(data):
    kwargs = dict(seeds=data.train_mask, fanouts=[3, 3], batch_size=10, seed=4)
    plain = list(NeighborBatchLoader(data, **kwargs))
    worked = list(NeighborBatchLoader(data, num_workers=1, **kwargs))
    assert len(plain) == len(worked) == 6  # ceil(56 train seeds / 10)
    assert all(torch.equal(a.e_id, b.e_id) and torch.equal(a.n_id, b.n_id)
               for a, b in zip(plain, worked))


def test_dataset_item_is_a_batch(data):
    ds = NeighborSampleDataset(data, [2])
    b = ds[(7, torch.tensor([3, 9]))]
    assert b.batch_size == 2 and b.n_id[:2].tolist() == [3, 9]


def test_layerwise_batches_cover_all_nodes_with_every_edge(data, csr):
    chunks = list(layerwise_batches(csr, 25))
    targets = torch.cat([s.n_id[:s.batch_size] for s in chunks])
    assert torch.equal(targets, torch.arange(data.num_nodes))
    src, dst = data.edge_index
    for s in chunks:
        t = torch.zeros(data.num_nodes, dtype=torch.bool)
        t[s.n_id[:s.batch_size]] = True
        assert torch.equal(s.e_id, (t[src] | t[dst]).nonzero().flatten())
        assert torch.equal(s.n_id[s.edge_index], data.edge_index[:, s.e_id])


def test_edge_chunks_cover_edges_under_the_budget(data):
    bounds = edge_chunks(data.syn_ptr, 30)
    e = data.edge_index.shape[1]
    assert bounds[0] == 0 and bounds[-1] == e and bool((bounds.diff() > 0).all())
    syn = data.syn_ptr[bounds[1:]] - data.syn_ptr[bounds[:-1]]
    assert bool(((syn <= 30) | (bounds.diff() == 1)).all()), "over budget only for one edge"
    # greedy: adding the next edge would break the budget
    nxt = bounds[1:-1] + 1
    assert bool((data.syn_ptr[nxt] - data.syn_ptr[bounds[:-2]] > 30).all())


def test_estimate_batch_size():
    sizes = dict(num_nodes=25_000, num_edges=3_000_000, num_synapses=20_000_000, fanouts=[10, 10])
    small = estimate_batch_size(**sizes, free_bytes=2**30)
    large = estimate_batch_size(**sizes, free_bytes=16 * 2**30)
    assert 1 <= small < large < 25_000
    assert estimate_batch_size(**sizes, free_bytes=1) == 1
    assert estimate_batch_size(**sizes, free_bytes=2**50, num_seeds=700) == 700
    assert free_memory_bytes() > 0
    with pytest.raises(ValueError, match="fraction"):
        estimate_batch_size(**sizes, free_bytes=2**30, fraction=0)


def test_clear_errors(data, csr):
    with pytest.raises(ValueError, match="fanouts"):
        _sample(csr, [1], [2, -3])
    with pytest.raises(ValueError, match="repeated"):
        _sample(csr, [1, 1], [2])
    with pytest.raises(ValueError, match="outside"):
        _sample(csr, [data.num_nodes], [2])
    with pytest.raises(ValueError, match="not in n_id"):
        build_batch(data, torch.tensor([0]), torch.tensor([0, 1]), 1)
    with pytest.raises(ValueError, match="empty batch"):
        SeedBatchSampler(torch.arange(5), 1, num_replicas=2)
    with pytest.raises(ValueError, match="rank"):
        SeedBatchSampler(torch.arange(5), 2, num_replicas=2, rank=2)


@pytest.mark.parametrize("module", [sampler_module, batch_module])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

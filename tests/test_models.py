"""Models: forward/backward of every registry model, padding invariance, point-set ops."""

from __future__ import annotations

import pytest
import torch

from synhelpers.models import ModelConfig, build_model, list_models
from synhelpers.models.cloud_encoder import SynapseCloudEncoder
from synhelpers.models.pointset import (
    build_set_plan,
    farthest_point_sample,
    fps_subsample_csr,
    knn_mask,
    random_subsample_csr,
)
from synhelpers.models.synapse_encoder import SynapseSetEncoder
from synhelpers.testing.random_graph import make_random_graph

UNIT = torch.full((5,), 160.0)  # micrometres per normalised unit, per set


@pytest.fixture(scope="module")
def graph():
    return make_random_graph(num_nodes=30, num_edges=120, seed=1)


def small_cfg(data, columns=("cell_class", "predictedNt"), **kw):
    kw.setdefault("set_size", 8)
    kw.setdefault("cloud_size", 8)
    kw.setdefault("knn", 4)
    kw.setdefault("table_dim", 32)
    return ModelConfig.from_data(data, columns, **kw)


def test_registry_lists_all_families():
    names = {m.name for m in list_models()}
    for n in ("hybrid", "mlp", "gcn", "gat", "gatv2", "sage", "gin", "synapse_only", "original"):
        assert n in names
    from synhelpers.models import GNN_KINDS

    assert not any(f"hybrid_{k}" in names for k in GNN_KINDS), "one model, one name"
    assert not {m.name: m for m in list_models()}["original"].inductive


@pytest.mark.parametrize("name", [m.name for m in list_models()])
def test_forward_backward(graph, name):
    torch.manual_seed(0)
    model = build_model(name, small_cfg(graph))
    model.train()
    out = model(graph)
    main = {"cell_class", "predictedNt"}
    fused = name in ("hybrid", "hybrid_cloud")  # two views, hence aux heads
    assert set(out) == main
    assert sorted(out.aux) == (["synapse", "wiring"] if fused else [])
    assert all(set(view) == main for view in out.aux.values())
    every = [*out.values(), *(o for view in out.aux.values() for o in view.values())]
    assert all(o.shape == (30, 3) for o in every)
    loss = sum(o.logsumexp(-1).mean() for o in every)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is None or torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0
    model.eval()
    with torch.no_grad():
        a, b = model(graph), model(graph)
    assert set(a) == main and a.aux == {}  # evaluation and metrics see the fused heads only
    assert torch.equal(a["cell_class"], b["cell_class"])  # evaluation (FPS) is deterministic


def test_original_design_refuses_unseen_neurons(graph):
    model = build_model("original", small_cfg(graph))
    from synhelpers.testing.random_graph import make_random_graph as mk

    with pytest.raises(ValueError, match="inductive"):
        model(mk(num_nodes=31, num_edges=100))


def test_same_seed_same_model(graph):
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        m = build_model("hybrid", small_cfg(graph))
        m.train()
        torch.manual_seed(4)
        outs.append(m(graph)["cell_class"])
    assert torch.equal(outs[0], outs[1])


def _random_sets(b=5, p=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(p)[None] < torch.tensor([1, 2, 3, 6, 4])[:b, None]
    pos = torch.randn(b, p, 6, generator=g) * 0.01
    roi = torch.randint(-1, 3, (b, p), generator=g)
    conf = torch.rand(b, p, 2, generator=g)
    return pos, roi, conf, mask


def test_padded_points_never_change_synapse_encoder_output(graph):
    torch.manual_seed(0)
    enc = SynapseSetEncoder(small_cfg(graph)).eval()
    pos, roi, conf, mask = _random_sets()
    centroid = torch.randn(5, 6) * 0.1
    size = mask.sum(1)
    rc = graph.roi_center
    ref = enc.encode_padded(pos, roi, conf, mask, centroid, size, rc, UNIT)
    # garbage (huge values) in the padded slots: output bit-identical
    pos2, roi2, conf2 = pos.clone(), roi.clone(), conf.clone()
    pos2[~mask] = 1e4
    roi2[~mask] = 2
    conf2[~mask] = -7.0
    out = enc.encode_padded(pos2, roi2, conf2, mask, centroid, size, rc, UNIT)
    assert torch.equal(out, ref)
    # more padding columns: same values (up to float summation order)
    pad = 5
    pos3 = torch.cat([pos, torch.randn(5, pad, 6)], 1)
    roi3 = torch.cat([roi, torch.zeros(5, pad, dtype=torch.long)], 1)
    conf3 = torch.cat([conf, torch.rand(5, pad, 2)], 1)
    mask3 = torch.cat([mask, torch.zeros(5, pad, dtype=torch.bool)], 1)
    out3 = enc.encode_padded(pos3, roi3, conf3, mask3, centroid, size, rc, UNIT)
    torch.testing.assert_close(out3, ref, rtol=1e-5, atol=1e-6)
    # and each set encoded alone, without any padding
    for i in range(5):
        n = int(mask[i].sum())
        alone = enc.encode_padded(pos[i:i + 1, :n], roi[i:i + 1, :n], conf[i:i + 1, :n],
                                  mask[i:i + 1, :n], centroid[i:i + 1], size[i:i + 1], rc,
                                  UNIT[i:i + 1])
        torch.testing.assert_close(alone, ref[i:i + 1], rtol=1e-5, atol=1e-6)


def test_padded_points_never_change_cloud_encoder_output(graph):
    torch.manual_seed(0)
    enc = SynapseCloudEncoder(small_cfg(graph)).eval()
    pos, _, _, mask = _random_sets()
    pos = pos[..., :3]
    post = torch.rand(5, 6) < 0.5
    centroid = torch.randn(5, 3) * 0.1
    ref = enc.encode_padded(pos, post, mask, centroid, mask.sum(1), UNIT)
    pos2, post2 = pos.clone(), post.clone()
    pos2[~mask] = -3e3
    post2[~mask] = ~post2[~mask]
    assert torch.equal(enc.encode_padded(pos2, post2, mask, centroid, mask.sum(1), UNIT), ref)


def test_knn_mask_excludes_padding():
    pos = torch.randn(3, 7, 3)
    mask = torch.arange(7)[None] < torch.tensor([2, 7, 5])[:, None]
    allowed = knn_mask(pos, mask, k=3)
    real_q = mask[:, :, None].expand_as(allowed)
    assert not (allowed & real_q & ~mask[:, None, :]).any()  # real query never sees padding
    assert allowed.any(-1).all()  # no empty row
    counts = allowed.sum(-1)[mask]
    assert counts.max() <= 3


def test_fps_and_random_subsampling():
    pos = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0.1, 0, 0], [5, 0, 0], [9, 9, 9]]])
    mask = torch.tensor([[True, True, True, True, False]])
    idx = farthest_point_sample(pos, mask, 3)
    assert set(idx[0].tolist()) == {0, 1, 3} or set(idx[0].tolist()) == {2, 3, 0}
    assert 4 not in idx[0].tolist()  # a padded point is never sampled
    ptr = torch.tensor([0, 3, 10, 30])
    sets = torch.tensor([1, 2])
    sel = random_subsample_csr(ptr, sets, 4)
    assert sel.shape == (2, 4)
    assert ((sel[0] >= 3) & (sel[0] < 10)).all() and ((sel[1] >= 10) & (sel[1] < 30)).all()
    assert len(set(sel[1].tolist())) == 4
    flat_pos = torch.randn(30, 6)
    f = fps_subsample_csr(ptr, flat_pos, sets, 4, point_budget=8)
    assert ((f[0] >= 3) & (f[0] < 10)).all() and len(set(f[1].tolist())) == 4


def test_fps_each_pick_is_farthest_from_earlier_picks():
    """The definition, checked step by step: pick t maximises the distance to picks < t."""
    g = torch.Generator().manual_seed(3)
    pos = torch.rand(5, 40, 3, generator=g) * 1e4  # nm-scale coordinates
    sizes = torch.tensor([40, 7, 12, 25, 6])
    mask = torch.arange(40)[None] < sizes[:, None]
    idx = farthest_point_sample(pos, mask, 6)
    for b in range(5):
        real = pos[b, : sizes[b]]
        assert int(idx[b, 0]) == int(((real - real.mean(0)) ** 2).sum(-1).argmin())
        assert len(set(idx[b].tolist())) == 6 and int(idx[b].max()) < int(sizes[b])
        for t in range(1, 6):
            far = torch.cdist(real, real[idx[b, :t]]).min(1).values
            assert far[idx[b, t]] >= far.max() * (1 - 1e-6)


def test_set_plan_covers_every_set_once():
    sizes = torch.tensor([0, 1, 2, 3, 5, 8, 9, 40, 1])
    ptr = torch.zeros(len(sizes) + 1, dtype=torch.long)
    ptr[1:] = sizes.cumsum(0)
    plan = build_set_plan(ptr, k=8, point_budget=16)
    chunks = plan.chunks(training=True)
    seen = torch.cat([c.sets for c in chunks]).sort().values
    assert seen.tolist() == [i for i in range(len(sizes)) if sizes[i] > 0]
    for c in chunks:
        assert c.index.shape == c.mask.shape and c.index.shape[1] <= 8
        start = ptr[c.sets][:, None]
        end = ptr[c.sets + 1][:, None]
        assert ((c.index >= start) & (c.index < end))[c.mask].all()
        assert (c.mask.sum(1) == torch.minimum(sizes[c.sets], torch.tensor(8))).all()


@pytest.mark.parametrize("gnn", ["sage", "gat"])
@pytest.mark.parametrize("name", ["hybrid", "original"])
def test_bf16_autocast_forward_backward(graph, name, gnn):
    """The mixed-precision path (bf16 autocast, as on CUDA) has no dtype mismatch."""
    torch.manual_seed(0)
    model = build_model(name, small_cfg(graph, gnn=gnn)).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(graph)
    loss = sum(o.float().logsumexp(-1).mean() for o in out.values())
    loss.backward()
    assert torch.isfinite(loss)


def test_directed_conv_tells_inputs_from_outputs():
    """A neuron that sends to j and one that receives from j must not look alike (Dir-GNN)."""
    from synhelpers.models.connectome import ConnectomeEncoder

    torch.manual_seed(0)
    enc = ConnectomeEncoder(in_dim=4, edge_dim=2, hidden=8, layers=1, kind="sage", dropout=0.0).eval()
    x = torch.zeros(3, 4)
    x[2] = 1.0  # node 2 is the distinctive partner
    attr = torch.ones(1, 2)
    out_edge = enc(x, torch.tensor([[0], [2]]), attr)  # 0 -> 2: node 0 *sends* to the partner
    in_edge = enc(x, torch.tensor([[2], [0]]), attr)   # 2 -> 0: node 0 *receives* from it
    assert not torch.allclose(out_edge[0], in_edge[0])


def test_aux_heads_false_builds_no_aux_heads(graph):
    cfg = small_cfg(graph)
    cfg.aux_heads = False
    model = build_model("hybrid", cfg).train()
    assert set(model(graph)) == {"cell_class", "predictedNt"}


def test_any_label_column_name_works_as_a_head(graph):
    """Label columns named like nn.Module attributes ('type', 'train') or with a dot."""
    cfg = small_cfg(graph)
    cfg.num_classes = {"type": 3, "train": 2, "a.b": 4}
    out = build_model("hybrid", cfg).eval()(graph)
    assert {k: v.shape[1] for k, v in out.items()} == {"type": 3, "train": 2, "a.b": 4}

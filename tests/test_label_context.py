"""Label context (the known types of a neuron's partners) and the label trick: the maths, and
proofs that no label reaches a row it must not reach."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synhelpers.graph.label_context import (
    label_context,
    label_trick_context,
    label_trick_split,
)

C = 4


def _graph(n=40, e=200, seed=0, autapses=5):
    """A random weighted directed graph with a few autapses (u -> u), labels in [0, C) with some
    unlabelled, and a 70/15/15 split."""
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    loops = torch.randint(0, n, (autapses,), generator=g)
    ei = torch.cat([ei, torch.stack([loops, loops])], 1)
    w = torch.randint(1, 10, (ei.shape[1],), generator=g).float()
    y = torch.randint(0, C, (n,), generator=g)
    y[torch.randperm(n, generator=g)[:4]] = -1
    split = torch.randint(0, 100, (n,), generator=g)
    train, val = split < 70, (split >= 70) & (split < 85)
    return ei, w, y, train, val, ~(train | val)


def _dense_reference(ei, w, y, known, n, self_loops=False):
    """The same maths written differently: a dense adjacency times a one-hot label matrix."""
    a = np.zeros((n, n))
    for (u, v), wt in zip(ei.T.tolist(), w.tolist()):
        if self_loops or u != v:
            a[u, v] += wt
    onehot = np.zeros((n, C + 1))
    lab = np.where(known.numpy() & (y.numpy() >= 0), y.numpy(), C)
    onehot[np.arange(n), lab] = 1
    out = []
    for m in (a.T, a):  # inputs: a[u, v] summed over u; outputs: over v
        comp = m @ onehot
        tot = comp.sum(1, keepdims=True)
        comp = np.where(tot > 0, comp / np.where(tot > 0, tot, 1), 0)
        comp[tot[:, 0] == 0, C] = 1
        out.append(comp)
    return np.hstack(out)


@pytest.mark.parametrize("self_loops", [False, True])
def test_matches_a_dense_reference(self_loops):
    ei, w, y, train, _, _ = _graph()
    ctx = label_context(ei, w, y, train, C, self_loops=self_loops)
    assert ctx.shape == (40, 2 * (C + 1)) and ctx.dtype == torch.float32
    np.testing.assert_allclose(ctx.numpy(), _dense_reference(ei, w, y, train, 40, self_loops), atol=1e-6)
    np.testing.assert_allclose(ctx[:, : C + 1].sum(1), 1, atol=1e-6)
    np.testing.assert_allclose(ctx[:, C + 1:].sum(1), 1, atol=1e-6)


def test_zero_degree_rows_are_all_unknown():
    ei = torch.tensor([[0], [1]])
    ctx = label_context(ei, torch.tensor([2.0]), torch.tensor([1, 0, 0]), torch.ones(3, dtype=torch.bool), 2)
    assert ctx.tolist() == [[0, 0, 1, 1, 0, 0],   # no input; output to class 0
                            [0, 1, 0, 0, 0, 1],   # input from class 1; no output
                            [0, 0, 1, 0, 0, 1]]   # isolated


def test_bad_inputs_are_refused():
    ei, w, y, train, _, _ = _graph()
    with pytest.raises(ValueError, match="num_classes"):
        label_context(ei, w, y, train, 2)
    with pytest.raises(ValueError, match="known"):
        label_context(ei, w, y, train.long(), C)


def _flip(y, i):
    y2 = y.clone()
    y2[i] = (int(y[i]) + 1) % C
    return y2


def test_own_label_never_in_own_row_and_exactly_the_partners_rows_change():
    """Flip a KNOWN neuron's label (one with an autapse): its own row is unchanged (leave-one-out
    by construction), exactly its partners' rows change, each by w / total in the old and new
    class columns only. With self_loops=True its own row changes: the test can fail."""
    ei, w, y, train, _, _ = _graph()
    i = int(ei[0, ei[0] == ei[1]][0])
    y[i] = 0
    known = torch.ones_like(train)
    y2 = _flip(y, i)
    before, after = label_context(ei, w, y, known, C), label_context(ei, w, y2, known, C)
    changed = set(torch.nonzero((before != after).any(1)).flatten().tolist())
    no_loop = ei[0] != ei[1]
    posts = ei[1, (ei[0] == i) & no_loop]
    pres = ei[0, (ei[1] == i) & no_loop]
    assert i not in changed
    assert changed == set(posts.tolist()) | set(pres.tolist())
    diff = (after - before).double()
    for v in changed:  # in-part: v receives from i; out-part: v sends to i
        w_in = w[(ei[0] == i) & (ei[1] == v)].sum() / w[(ei[1] == v) & (ei[0] != v)].sum()
        w_out = w[(ei[1] == i) & (ei[0] == v)].sum() / w[(ei[0] == v) & (ei[1] != v)].sum()
        expect = torch.zeros(2 * (C + 1), dtype=torch.float64)
        expect[[0, 1]] = torch.tensor([-w_in, w_in], dtype=torch.float64)
        expect[[C + 1, C + 2]] = torch.tensor([-w_out, w_out], dtype=torch.float64)
        torch.testing.assert_close(diff[v], expect, atol=1e-6, rtol=0)
    with_loops = label_context(ei, w, y2, known, C, self_loops=True)
    assert not torch.equal(with_loops[i], label_context(ei, w, y, known, C, self_loops=True)[i])


def _two_hop(ctx, ei, w):
    """What a two-layer message-passing model sees: the context mixed over in- and out-partners
    twice (i -> j -> i paths included)."""
    n = ctx.shape[0]
    a = torch.sparse_coo_tensor(ei, w, (n, n)).to_dense()
    a = a + a.T + torch.eye(n)
    a = a / a.sum(1, keepdim=True)
    return a @ (a @ ctx)


def test_label_trick_a_target_label_reaches_no_row_and_no_two_hop_output():
    """Flip a TARGET's label: every row of the context is identical (it is in nobody's row), so
    anything computed from it, two hops of message passing included, is identical. The same
    flip with the target's label as an input changes its own two-hop output: the test can fail."""
    ei, w, y, train, _, _ = _graph()
    train_idx = torch.nonzero(train & (y >= 0)).flatten()
    inp, tgt = label_trick_split(train_idx, 0.5, torch.Generator().manual_seed(3))
    for i in tgt.tolist():
        y2 = _flip(y, i)
        a, b = (label_trick_context(ei, w, yy, inp, C, allowed=train & (y >= 0)) for yy in (y, y2))
        assert torch.equal(a, b)
        assert torch.equal(_two_hop(a, ei, w)[i], _two_hop(b, ei, w)[i])
    i = int(tgt[0])
    leaky = torch.cat([inp, tgt[:1]])  # the target's own label used as an input
    a, b = (label_trick_context(ei, w, yy, leaky, C) for yy in (y, _flip(y, i)))
    assert not torch.allclose(_two_hop(a, ei, w)[i], _two_hop(b, ei, w)[i])


def test_validation_and_test_labels_never_enter():
    ei, w, y, train, val, test = _graph()
    lab_train = train & (y >= 0)
    corrupt = y.clone()
    g = torch.Generator().manual_seed(9)
    corrupt[val | test] = torch.randint(-1, C, (int((val | test).sum()),), generator=g)
    assert not torch.equal(corrupt, y)
    assert torch.equal(label_context(ei, w, y, lab_train, C), label_context(ei, w, corrupt, lab_train, C))
    inp, _ = label_trick_split(torch.nonzero(lab_train).flatten(), 0.6, torch.Generator().manual_seed(0))
    assert torch.equal(label_trick_context(ei, w, y, inp, C, allowed=lab_train),
                       label_trick_context(ei, w, corrupt, inp, C, allowed=lab_train))
    with pytest.raises(ValueError, match="not allowed"):
        label_trick_context(ei, w, y, torch.nonzero(val).flatten(), C, allowed=lab_train)


def test_label_trick_split_is_a_seeded_partition():
    idx = torch.arange(100, 160)
    inp, tgt = label_trick_split(idx, 0.7, torch.Generator().manual_seed(1))
    assert len(inp) == 42 and len(tgt) == 18
    assert not set(inp.tolist()) & set(tgt.tolist())
    assert sorted(inp.tolist() + tgt.tolist()) == idx.tolist()
    again, _ = label_trick_split(idx, 0.7, torch.Generator().manual_seed(1))
    other, _ = label_trick_split(idx, 0.7, torch.Generator().manual_seed(2))
    assert torch.equal(inp, again) and not torch.equal(inp, other)
    with pytest.raises(ValueError, match="frac"):
        label_trick_split(idx, 1.0)


def test_on_the_synthetic_graph(graph):
    """The real graph: rows sum to one; hiding the training labels moves mass to unknown."""
    y = graph.y_cell_class
    c = len(graph.label_names["cell_class"])
    known = graph.train_mask & (y >= 0)
    ctx = label_context(graph.edge_index, graph.edge_weight, y, known, c)
    np.testing.assert_allclose(ctx.view(-1, 2, c + 1).sum(2), 1, atol=1e-5)
    none = label_context(graph.edge_index, graph.edge_weight, y, torch.zeros_like(known), c)
    assert torch.all(none[:, [c, 2 * c + 1]] == 1)
    assert float(ctx[:, c].mean()) < 0.6


def test_fill_shares_unread_partners_over_classes():
    """A fill equal to the one-hot true labels gives the context of knowing every label; a
    uniform fill puts no mass on unknown except for neurons without partners."""
    ei, w, y, train, _, _ = _graph()
    y[y < 0] = 0
    onehot = torch.nn.functional.one_hot(y, C).float()
    filled = label_context(ei, w, y, train, C, fill=onehot)
    torch.testing.assert_close(filled, label_context(ei, w, y, torch.ones_like(train), C))
    uniform = label_context(ei, w, y, train, C, fill=torch.full((40, C), 1 / C))
    assert not torch.equal(uniform, label_context(ei, w, y, train, C))
    has_in = torch.zeros(40, dtype=torch.bool)
    has_in[ei[1, ei[0] != ei[1]]] = True
    assert torch.all(uniform[has_in, C] == 0) and torch.all(uniform[~has_in, C] == 1)
    with pytest.raises(ValueError, match="fill"):
        label_context(ei, w, y, train, C, fill=onehot[:, :2])


def _bench_peers():
    import importlib.util
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "benchmarks"
    sys.path.insert(0, str(root))
    spec = importlib.util.spec_from_file_location("bench_peers", root / "bench_peers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cross_fitted_fill_hides_each_training_label_from_its_own_row(graph):
    """The benchmark's one round of filling in (a model's soft predictions for unlabelled
    partners): a labelled training neuron's row is unchanged when its label flips (not read
    in one hop, nor through a partner's prediction), and no validation, test or out-of-budget
    training label is read."""
    from synhelpers.graph.split import apply_label_budget, label_budget

    bench = _bench_peers()
    y = graph.y_cell_class
    few = apply_label_budget(graph, label_budget(y.numpy(), graph.train_mask.numpy(), per_class=6))
    base = bench.filled_features(few, 1.0)
    lab = torch.nonzero(few.train_mask & (y >= 0)).flatten()[:3].tolist()
    for i in lab:
        flipped = few.clone()
        flipped.y_cell_class = y.clone()
        flipped.y_cell_class[i] = (int(y[i]) + 1) % len(graph.label_names["cell_class"])
        feats = bench.filled_features(flipped, 1.0)
        assert np.array_equal(feats[i], base[i])
        assert not np.array_equal(feats, base)  # other rows do read it: the test can fail
    corrupt = few.clone()
    corrupt.y_cell_class = y.clone()
    hidden = few.val_mask | few.test_mask | (graph.train_mask & ~few.train_mask)  # + out of budget
    corrupt.y_cell_class[hidden] = torch.randint(-1, 3, (int(hidden.sum()),))
    assert np.array_equal(bench.filled_features(corrupt, 1.0), base)

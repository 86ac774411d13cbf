"""Active-learning ranking and the pool helpers of a simulated annotation loop."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch
from torch import nn

import synhelpers.answers.active as active_mod
from synhelpers.answers.active import (
    STRATEGIES,
    bald_scores,
    initial_labelled,
    mc_dropout_probs,
    rank_candidates,
    reveal,
)

# node 2 is the uncertain one for every probability-based strategy
PROBS = torch.tensor([[0.9, 0.05, 0.05], [0.7, 0.2, 0.1], [0.34, 0.33, 0.33],
                      [0.05, 0.9, 0.05], [0.6, 0.3, 0.1]])
NONE_LABELLED = torch.zeros(5, dtype=torch.bool)
ALL = torch.ones(5, dtype=torch.bool)


def _rank(strategy, **kw):
    kw.setdefault("labelled_mask", NONE_LABELLED)
    kw.setdefault("candidate_mask", ALL)
    kw.setdefault("n", 5)
    return rank_candidates(strategy, **kw)


@pytest.mark.parametrize("strategy", ["margin", "entropy"])
def test_uncertain_example_first(strategy):
    out = _rank(strategy, probs=PROBS)
    assert list(out.columns) == ["index", "score", "rank"]
    assert out["index"].iloc[0] == 2 and out["rank"].tolist() == [1, 2, 3, 4, 5]
    assert out["score"].is_monotonic_decreasing
    assert out["index"].iloc[-1] in (0, 3)  # the confident ones last


def test_margin_and_entropy_values():
    out = _rank("margin", probs=PROBS).set_index("index")["score"]
    assert out[1] == pytest.approx(1 - (0.7 - 0.2)) and out[2] == pytest.approx(0.99)
    ent = _rank("entropy", probs=PROBS).set_index("index")["score"]
    assert ent[0] == pytest.approx(-(0.9 * math.log(0.9) + 2 * 0.05 * math.log(0.05)), rel=1e-5)


def test_bald_ranks_disagreement_first_and_is_zero_when_samples_agree():
    agree = PROBS.expand(8, 5, 3)
    assert torch.allclose(bald_scores(agree), torch.zeros(5), atol=1e-6)
    assert (bald_scores(agree) >= 0).all()
    mc = agree.clone()
    # node 4: confident samples that disagree (one-hot on class 0 half the time, class 1 else)
    mc[:4, 4] = torch.tensor([0.98, 0.01, 0.01])
    mc[4:, 4] = torch.tensor([0.01, 0.98, 0.01])
    out = _rank("bald", mc_probs=mc)
    assert out["index"].iloc[0] == 4
    expected = -(2 * 0.495 * math.log(0.495) + 0.01 * math.log(0.01)) - (
        -(0.98 * math.log(0.98) + 2 * 0.01 * math.log(0.01)))
    assert out["score"].iloc[0] == pytest.approx(expected, rel=1e-4)
    assert out["score"].iloc[1:].abs().max() < 1e-6


def test_margin_falls_back_to_mean_of_mc_probs():
    mc = PROBS.expand(3, 5, 3)
    assert _rank("margin", mc_probs=mc)["index"].tolist() == _rank("margin", probs=PROBS)[
        "index"].tolist()


def test_labelled_and_non_candidates_never_returned_and_n_clipped():
    labelled = torch.tensor([False, False, True, False, False])
    cands = torch.tensor([True, True, True, True, False])
    for strategy in STRATEGIES:
        out = rank_candidates(strategy, probs=PROBS, mc_probs=PROBS.expand(2, 5, 3),
                              embeddings=PROBS, labelled_mask=labelled, candidate_mask=cands,
                              n=10, seed=1)
        assert sorted(out["index"].tolist()) == [0, 1, 3], strategy
        assert out["index"].dtype == np.int64 and out["rank"].tolist() == [1, 2, 3]


def test_random_is_seeded():
    a = _rank("random", seed=3)["index"].tolist()
    assert a == _rank("random", seed=3)["index"].tolist()
    assert sorted(a) == [0, 1, 2, 3, 4]
    seeds = {tuple(_rank("random", seed=s)["index"]) for s in range(6)}
    assert len(seeds) > 1


def test_numpy_masks_accepted_and_bad_inputs_named():
    out = rank_candidates("entropy", probs=PROBS, labelled_mask=np.zeros(5, bool),
                          candidate_mask=np.ones(5, bool), n=1)
    assert out["index"].tolist() == [2]
    with pytest.raises(ValueError, match=r"unknown strategy 'least'.*'bald'"):
        _rank("least", probs=PROBS)
    with pytest.raises(ValueError, match=r"strategy 'bald' needs mc_probs \(T, N, C\), got"):
        _rank("bald", probs=PROBS)
    with pytest.raises(ValueError, match=r"labelled_mask must be an \(N,\) bool mask with N=5"):
        _rank("margin", probs=PROBS, labelled_mask=torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="n must be >= 0"):
        _rank("margin", probs=PROBS, n=-1)


def _clusters(seed=0, n=300, dim=16):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(6, dim, generator=g) * 10
    return centres[torch.arange(n) % 6] + torch.randn(n, dim, generator=g)


def test_coreset_first_pick_is_farthest_and_picks_are_unique():
    emb = _clusters()
    labelled = torch.zeros(300, dtype=torch.bool)
    labelled[[0, 1, 2]] = True  # clusters 0-2 labelled, 3-5 not
    cands = ~labelled
    cands[-20:] = False
    out = rank_candidates("coreset", embeddings=emb, labelled_mask=labelled,
                          candidate_mask=cands, n=50)
    assert list(out.columns) == ["index", "score", "rank", "nearest_labelled", "distance"]
    dist = torch.cdist(emb, emb[labelled]).min(1)
    farthest = int(torch.nonzero(cands).squeeze(1)[dist.values[cands].argmax()])
    assert out["index"].iloc[0] == farthest
    assert out["score"].iloc[0] == pytest.approx(float(dist.values[farthest]), rel=1e-4)
    assert out["index"].is_unique and len(out) == 50
    picked = torch.as_tensor(out["index"].to_numpy().copy())
    assert not labelled[picked].any() and cands[picked].all()
    assert out["score"].is_monotonic_decreasing
    # one pick in each of the unlabelled clusters 3-5 before any cluster repeats
    assert sorted(int(i) % 6 for i in out["index"].iloc[:3]) == [3, 4, 5]
    near = torch.nonzero(labelled).squeeze(1)[dist.indices[picked]]
    assert out["nearest_labelled"].tolist() == near.tolist()
    assert np.allclose(out["distance"], dist.values[picked].numpy(), rtol=1e-4)


def test_coreset_blocks_give_the_same_answer(monkeypatch):
    emb = _clusters(seed=1, n=200)
    labelled = torch.zeros(200, dtype=torch.bool)
    labelled[:20] = True  # 3 blocks of 7 labelled rows below
    full = _rank("coreset", embeddings=emb, labelled_mask=labelled,
                 candidate_mask=~labelled, n=30)
    monkeypatch.setattr(active_mod, "BLOCK_ELEMENTS", 49)  # 7 x 7 blocks
    small = _rank("coreset", embeddings=emb, labelled_mask=labelled,
                  candidate_mask=~labelled, n=30)
    assert full["index"].tolist() == small["index"].tolist()
    assert full["nearest_labelled"].tolist() == small["nearest_labelled"].tolist()


def test_coreset_exhausts_candidates_without_repeats_and_without_labels():
    emb = _clusters(seed=2, n=60)
    none = torch.zeros(60, dtype=torch.bool)
    out = rank_candidates("coreset", embeddings=emb, labelled_mask=none,
                          candidate_mask=~none, n=100, seed=4)
    assert sorted(out["index"].tolist()) == list(range(60))
    assert math.isinf(out["score"].iloc[0]) and (out["nearest_labelled"] == -1).all()
    again = rank_candidates("coreset", embeddings=emb, labelled_mask=none,
                            candidate_mask=~none, n=5, seed=4)
    assert again["index"].tolist() == out["index"].iloc[:5].tolist()


def test_coreset_never_repeats_with_duplicate_embeddings():
    emb = torch.zeros(12, 8)
    emb[6:] = 1.0  # two groups of identical neurons
    labelled = torch.zeros(12, dtype=torch.bool)
    labelled[0] = True
    out = _rank("coreset", embeddings=emb, labelled_mask=labelled, candidate_mask=~labelled, n=11)
    assert sorted(out["index"].tolist()) == list(range(1, 12))
    assert out["index"].iloc[0] == 6 and out["score"].iloc[0] == pytest.approx(8**0.5)
    assert (out["score"].iloc[1:] == 0).all()


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 32), nn.BatchNorm1d(32), nn.LayerNorm(32),
                                  nn.Dropout(0.5), nn.Linear(32, 3))

    def forward(self, x):
        return {"cell_class": self.body(x)}


def test_mc_dropout_only_dropout_in_train_mode_and_modes_restored():
    net = _Net().train()
    net.body[1].eval()
    before = {name: m.training for name, m in net.named_modules()}
    running = net.body[1].running_mean.clone()
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    seen = []

    def model_fn():
        seen.append({type(m).__name__: m.training for m in net.body})
        return net(x)["cell_class"]

    mc = mc_dropout_probs(model_fn, net, T=6, seed=5)
    assert mc.shape == (6, 10, 3) and mc.dtype == torch.float32
    assert torch.allclose(mc.sum(-1), torch.ones(6, 10))
    assert seen[0] == {"Linear": False, "BatchNorm1d": False, "LayerNorm": False, "Dropout": True}
    assert {name: m.training for name, m in net.named_modules()} == before
    assert torch.equal(net.body[1].running_mean, running)  # BatchNorm statistics untouched
    assert not torch.allclose(mc[0], mc[1])  # dropout really on
    torch.rand(3)  # move the global RNG on: the samples depend on the seed only
    assert torch.equal(mc, mc_dropout_probs(model_fn, net, T=6, seed=5))
    assert not torch.equal(mc, mc_dropout_probs(model_fn, net, T=6, seed=6))
    assert bald_scores(mc).max() > 0


def test_mc_dropout_errors():
    net = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.0))
    with pytest.raises(ValueError, match="no nn.Dropout layer with p > 0"):
        mc_dropout_probs(lambda: net(torch.randn(2, 4)), net, T=2)
    net = _Net()
    with pytest.raises(TypeError, match=r"model_fn must return an \(N, C\) logits tensor"):
        mc_dropout_probs(lambda: net(torch.randn(2, 4)), net, T=2)
    assert net.training and net.body[3].training  # restored after the error


def test_initial_labelled_stratified_and_from_pool_only():
    rng = np.random.default_rng(0)
    y = rng.integers(-1, 5, 500)
    y[y == 4] = 3  # class 4 absent, class 3 large
    y[np.flatnonzero(y == 2)[3:]] = -1  # class 2 has only 3 labelled nodes
    pool = rng.random(500) < 0.7
    pool[np.flatnonzero(y == 2)] = True
    chosen = initial_labelled(y, 5, seed=1, pool=pool)
    assert chosen.dtype == bool and chosen.shape == (500,)
    assert not chosen[~pool].any() and (y[chosen] >= 0).all()
    assert np.bincount(y[chosen], minlength=4).tolist() == [5, 5, 3, 5]
    assert np.array_equal(chosen, initial_labelled(y, 5, seed=1, pool=pool))
    assert not np.array_equal(chosen, initial_labelled(y, 5, seed=2, pool=pool))
    assert initial_labelled(y, 0, seed=1, pool=pool).sum() == 0


def test_initial_labelled_torch_in_torch_out():
    y = torch.tensor([0, 0, 1, 1, 1, -1])
    pool = torch.tensor([True, True, True, True, False, True])
    chosen = initial_labelled(y, 1, seed=0, pool=pool)
    assert chosen.dtype == torch.bool and torch.bincount(y[chosen]).tolist() == [1, 1]
    assert not chosen[4]
    with pytest.raises(ValueError, match="per_class >= 0"):
        initial_labelled(y, -1, pool=pool)


def test_reveal_returns_new_mask():
    mask = torch.tensor([True, False, False, False])
    out = reveal(mask, np.array([2, 3]))
    assert out.tolist() == [True, False, True, True] and mask.tolist() == [True, False, False, False]
    ranked = rank_candidates("entropy", probs=PROBS[:4], labelled_mask=mask,
                             candidate_mask=~mask, n=2)
    assert reveal(mask, ranked["index"]).sum() == 3
    with pytest.raises(IndexError, match=r"out of range \[0, 4\): \[7\]"):
        reveal(mask, [1, 7])


def test_docstring_examples():
    result = doctest.testmod(active_mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

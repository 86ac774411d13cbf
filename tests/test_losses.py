"""Loss registry: hand-computed values, reductions to CE, masking, dtypes, absent classes."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import WeightedRandomSampler

import synhelpers.train.losses as losses_mod
from synhelpers.train.losses import (
    class_balanced_sampler_weights,
    class_weights,
    get_loss,
    list_losses,
    register_loss,
)

LOGITS = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 1.0]])
TARGET = torch.tensor([0, 1, 0, 2])
COUNTS = torch.tensor([6, 3, 1])


def _ce(logits, target):
    return float(F.cross_entropy(logits, target))


def test_registry_lists_names_and_rejects_unknown():
    assert list_losses() == ["ce", "focal", "logit_adjusted", "weighted_ce"]
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'.*'focal'"):
        get_loss("hinge")
    with pytest.raises(TypeError, match=r"loss 'focal': bad parameters \['tau'\]"):
        get_loss("focal", tau=1.0)
    with pytest.raises(ValueError, match="already registered"):
        register_loss("ce")(torch.nn.Identity)


def test_ce_matches_hand_computed_value():
    # row 0: -log(e^2 / (e^2 + 1 + e^-1))
    hand = -(2.0 - math.log(math.exp(2) + 1 + math.exp(-1)))
    loss = get_loss("ce")(LOGITS[:1], TARGET[:1])
    assert float(loss) == pytest.approx(hand, rel=1e-6)
    assert float(get_loss()(LOGITS, TARGET, COUNTS)) == pytest.approx(_ce(LOGITS, TARGET), rel=1e-6)


def test_reductions_to_ce():
    ce = _ce(LOGITS, TARGET)
    assert float(get_loss("focal", gamma=0.0)(LOGITS, TARGET, COUNTS)) == pytest.approx(ce, rel=1e-6)
    uniform = torch.tensor([4, 4, 4])
    assert float(get_loss("weighted_ce")(LOGITS, TARGET, uniform)) == pytest.approx(ce, rel=1e-6)
    assert float(get_loss("weighted_ce", beta=0.9)(LOGITS, TARGET, uniform)) == pytest.approx(
        ce, rel=1e-6)
    tau0 = get_loss("logit_adjusted", tau=0.0)
    assert float(tau0(LOGITS, TARGET, COUNTS)) == pytest.approx(ce, rel=1e-6)


def test_weighted_ce_hand_computed():
    # inverse frequency 1/[6,3,1] scaled so sum n_c w_c = 10: scale = 10/3 -> [5/9, 10/9, 10/3]
    w = torch.tensor([5 / 9, 10 / 9, 10 / 3])
    assert torch.allclose(class_weights(COUNTS), w)
    per_node = F.cross_entropy(LOGITS, TARGET, reduction="none")
    hand = float((w[TARGET] * per_node).mean())
    assert float(get_loss("weighted_ce")(LOGITS, TARGET, COUNTS)) == pytest.approx(hand, rel=1e-6)


def test_effective_number_weights_cui_2019():
    beta = 0.9
    raw = torch.tensor([(1 - beta) / (1 - beta**n) for n in (6, 3, 1)])
    expected = raw * 10 / float((COUNTS * raw).sum())
    assert torch.allclose(class_weights(COUNTS, beta), expected.float())
    assert torch.allclose(class_weights(COUNTS, 0.0), torch.ones(3))
    assert float((COUNTS * class_weights(COUNTS, 0.99)).sum()) == pytest.approx(10.0, rel=1e-6)
    with pytest.raises(ValueError, match=r"beta must be None .* got 1.0"):
        get_loss("weighted_ce", beta=1.0)


def test_focal_hand_computed_with_alpha():
    gamma, alpha = 2.0, [0.25, 0.5, 1.0]
    logp = F.log_softmax(LOGITS, -1).gather(1, TARGET[:, None]).squeeze(1)
    a = torch.tensor(alpha)[TARGET]
    hand = float((-a * (1 - logp.exp()) ** gamma * logp).mean())
    loss = get_loss("focal", gamma=gamma, alpha=alpha)(LOGITS, TARGET, COUNTS)
    assert float(loss) == pytest.approx(hand, rel=1e-6)
    balanced = get_loss("focal", gamma=0.0, alpha="balanced")(LOGITS, TARGET, COUNTS)
    assert float(balanced) == pytest.approx(float(get_loss("weighted_ce")(LOGITS, TARGET, COUNTS)),
                                            rel=1e-6)
    with pytest.raises(ValueError, match="alpha must have C=3"):
        get_loss("focal", alpha=[1.0, 2.0])(LOGITS, TARGET, COUNTS)


def test_logit_adjusted_hand_computed():
    tau = 1.5
    prior = COUNTS.float() / COUNTS.sum()
    hand = _ce(LOGITS + tau * prior.log(), TARGET)
    loss = get_loss("logit_adjusted", tau=tau)(LOGITS, TARGET, COUNTS)
    assert float(loss) == pytest.approx(hand, rel=1e-6)
    # rare-class targets cost more than with plain CE (the adjustment lowers their logit)
    rare = torch.tensor([2, 2, 2, 2])
    assert float(get_loss("logit_adjusted")(LOGITS, rare, COUNTS)) > _ce(LOGITS, rare)


@pytest.mark.parametrize("name", ["ce", "weighted_ce", "focal", "logit_adjusted"])
def test_masked_labels_are_ignored(name):
    loss = get_loss(name)
    target = torch.tensor([0, -1, 0, -1])
    keep = target >= 0
    full = loss(LOGITS, target, COUNTS)
    # changing the logits of masked nodes changes nothing; the value is that of the kept rows
    noisy = LOGITS.clone()
    noisy[~keep] = torch.randn(2, 3, generator=torch.Generator().manual_seed(0)) * 50
    assert float(loss(noisy, target, COUNTS)) == pytest.approx(float(full), rel=1e-6)
    assert float(loss(LOGITS[keep], target[keep], COUNTS)) == pytest.approx(float(full), rel=1e-6)
    all_masked = LOGITS.clone().requires_grad_()
    nothing = loss(all_masked, torch.full((4,), -1), COUNTS)
    nothing.backward()
    assert float(nothing.detach()) == 0.0 and torch.equal(all_masked.grad, torch.zeros(4, 3))


@pytest.mark.parametrize("name", ["ce", "weighted_ce", "focal", "logit_adjusted"])
def test_gradients_finite_and_bf16_accepted(name):
    logits = (LOGITS * 40).to(torch.bfloat16).requires_grad_()  # very confident rows, p -> 1
    loss = get_loss(name)(logits, TARGET, COUNTS)
    assert loss.dtype == torch.float32 and loss.ndim == 0
    loss.backward()
    assert logits.grad.dtype == torch.bfloat16
    assert torch.isfinite(logits.grad.float()).all() and torch.isfinite(loss)
    ref = get_loss(name)(logits.detach().float(), TARGET, COUNTS)
    assert float(loss) == pytest.approx(float(ref), rel=1e-6)


def test_focal_gamma_below_one_has_finite_gradient_when_p_is_one():
    logits = torch.tensor([[100.0, 0.0]], requires_grad=True)
    get_loss("focal", gamma=0.5)(logits, torch.tensor([0]), torch.tensor([1, 1])).backward()
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("name", ["weighted_ce", "focal", "logit_adjusted"])
def test_class_absent_from_training_is_finite(name):
    counts = torch.tensor([6, 4, 0])  # class 2 never seen in training, but a val target
    logits = LOGITS.clone().requires_grad_()
    params = {"alpha": "balanced"} if name == "focal" else {}
    loss = get_loss(name, **params)(logits, TARGET, counts)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert torch.isfinite(class_weights(counts)).all()


def test_counts_required_and_shapes_checked():
    with pytest.raises(ValueError, match="needs class_counts"):
        get_loss("weighted_ce")(LOGITS, TARGET, None)
    with pytest.raises(ValueError, match=r"class_counts must be \(C,\) = \(3,\), got \(2,\)"):
        get_loss("logit_adjusted")(LOGITS, TARGET, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"logits must be \(n, C\) and target \(n,\)"):
        get_loss("ce")(LOGITS, TARGET[:2])


def test_sampler_weights_balance_classes():
    y = torch.tensor([0] * 90 + [1] * 10 + [2] * 5 + [-1] * 5)
    mask = torch.ones(110, dtype=torch.bool)
    mask[100:105] = False  # class 2 outside the split: never drawn
    w = class_balanced_sampler_weights(y, mask)
    assert w.dtype == torch.float64 and w.shape == (110,)
    assert float(w.sum()) == pytest.approx(1.0)
    assert torch.all(w[100:] == 0)
    per_class = torch.stack([w[y == c].sum() for c in range(3)])
    assert torch.allclose(per_class, torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64))
    drawn = y[list(WeightedRandomSampler(w, 4000, generator=torch.Generator().manual_seed(0)))]
    assert set(drawn.tolist()) == {0, 1}
    assert abs(float((drawn == 1).float().mean()) - 0.5) < 0.05


def test_sampler_weights_empty_mask_and_shape_error():
    y = torch.tensor([0, 1, -1])
    assert torch.equal(class_balanced_sampler_weights(y, torch.zeros(3, dtype=torch.bool)),
                       torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"y and mask must both be \(N,\)"):
        class_balanced_sampler_weights(y, torch.ones(2, dtype=torch.bool))


def test_docstring_examples():
    result = doctest.testmod(losses_mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

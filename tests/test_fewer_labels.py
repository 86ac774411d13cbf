"""Learning from fewer labels, integrated: augmentation hooks in the encoders, TTA evaluation,
class-balanced losses in training, and the CLI flags."""

from __future__ import annotations

import argparse
import doctest
import importlib

import pytest
import torch

from synhelpers.augment import get_augmentation
from synhelpers.models import ModelConfig, build_model
from synhelpers.models.cloud_encoder import SynapseCloudEncoder
from synhelpers.models.synapse_encoder import SynapseSetEncoder
from synhelpers.testing.random_graph import TINY_MODEL, make_random_graph
from synhelpers.train.augmenting import ForwardAugment, point_augmentation
from synhelpers.train.config import TrainConfig
from synhelpers.train.losses import get_loss
from synhelpers.train.module import NodeClassifier, label_mask, train_class_counts
from synhelpers.train.run import run_training

SMALL = TINY_MODEL


@pytest.fixture(scope="module")
def graph():
    return make_random_graph(num_nodes=60, num_edges=240, seed=2)


def _cfg(**kw):
    base = dict(model="hybrid", task="cell_class", max_epochs=3, min_epochs=1, patience=10, seeds=1,
                num_threads=2, progress="none", model_overrides=SMALL)
    base.update(kw)
    return TrainConfig(**base)


def _syn_args(g):
    return (g.syn_ptr, g.syn_pos, g.syn_roi, g.syn_conf, g.roi_center,
            torch.full((g.edge_index.shape[1],), 160.0))


@pytest.mark.parametrize("name", ["synhelpers.train.augmenting", "synhelpers.answers.active_loop",
                                  "synhelpers.answers"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_identity_hook_leaves_encoders_bit_identical(graph):
    """The hook path gathers and encodes exactly as the plain path (eval mode: FPS, no draws)."""
    cfg = ModelConfig.from_data(graph, ["cell_class"], **SMALL)
    torch.manual_seed(0)
    syn, cloud = SynapseSetEncoder(cfg).eval(), SynapseCloudEncoder(cfg).eval()
    unit = torch.full((graph.num_nodes,), 160.0)
    ref_syn = syn(*_syn_args(graph))
    ref_cloud = cloud(graph.site_ptr, graph.site_pos, graph.site_is_post, unit)
    calls = []

    def identity(b):
        calls.append(1)
        return b

    assert torch.equal(syn(*_syn_args(graph), augment=identity), ref_syn)
    assert torch.equal(cloud(graph.site_ptr, graph.site_pos, graph.site_is_post, unit,
                             augment=identity), ref_cloud)
    assert len(calls) >= 2  # the augmentation did run


def test_augmentation_is_an_argument_drawn_once_per_forward(graph):
    model = build_model("hybrid", ModelConfig.from_data(graph, ["cell_class"], **SMALL,
                                                        point_budget=64)).eval()
    ref = model(graph)["cell_class"]
    aug = ForwardAugment(get_augmentation("rotate_z:theta=30,scale:s=0.2"), torch.Generator().manual_seed(1))
    aug.begin()
    params = aug.params
    out = model(graph, augment=aug)["cell_class"]
    assert aug.params is params  # every chunk used the one draw of this forward
    assert not torch.allclose(out, ref)  # the augmentation reached the encoders
    assert not any(hasattr(m, "point_augment") for m in model.modules())  # no hidden hook
    assert torch.equal(model(graph)["cell_class"], ref)  # a call without it is plain


def test_the_training_step_draws_the_augmentation_once_per_step(graph):
    module = NodeClassifier("hybrid", ModelConfig.from_data(graph, ["cell_class"], **SMALL),
                            _cfg(augment="rotate_z,scale"), ["cell_class"])
    torch.manual_seed(0)
    module.training_step(graph, 0)
    first = dict(module._augment.params)
    module.training_step(graph, 1)
    assert module._augment.params != first


def test_augmentation_runs_outside_activation_checkpoint(graph):
    """Checkpointed chunks recompute in backward; the augmented points must be the same then,
    so gradients with and without checkpointing agree."""
    grads = []
    for ckpt in (False, True):
        cfg = ModelConfig.from_data(graph, ["cell_class"], **SMALL, checkpoint_chunks=ckpt)
        torch.manual_seed(0)
        enc = SynapseSetEncoder(cfg).train()
        fa = ForwardAugment(get_augmentation("rotate_z,jitter,dropout:q=0.3", length_unit_nm=1e5),
                            torch.Generator().manual_seed(3))
        fa.begin()
        torch.manual_seed(5)  # same random subsampling of large sets
        enc(*_syn_args(graph), augment=fa).square().sum().backward()
        grads.append([p.grad.clone() for p in enc.parameters() if p.grad is not None])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


def test_graph_augmentations_are_refused():
    with pytest.raises(ValueError, match="edge_dropout.*not available"):
        point_augmentation("rotate_z,edge_dropout")
    with pytest.raises(ValueError, match="unknown augmentation"):
        point_augmentation("spin")


def test_tta_needs_view_augmentation():
    with pytest.raises(ValueError, match="tta=4 needs an augmentation"):
        TrainConfig(tta=4)
    assert TrainConfig(tta=4, tta_augment="rotate_z").tta == 4
    with pytest.raises(ValueError, match="tta must be >= 1"):
        TrainConfig(tta=0)


def test_class_counts_come_from_training_labels_only(graph):
    counts = train_class_counts(graph, "cell_class")
    m = label_mask(graph, "cell_class", "train")
    assert counts.tolist() == torch.bincount(graph.y_cell_class[m], minlength=3).tolist()
    g = graph.clone()  # corrupt every validation and test label: counts unchanged
    y = g.y_cell_class.clone()
    y[g.val_mask | g.test_mask] = 0
    g.y_cell_class = y
    assert torch.equal(train_class_counts(g, "cell_class"), counts)


@pytest.mark.parametrize("loss,params", [("weighted_ce", {}), ("focal", {"gamma": 2.0}),
                                         ("logit_adjusted", {"tau": 1.0})])
def test_module_uses_the_configured_loss(graph, loss, params):
    cfg = _cfg(loss=loss, loss_params=params, model="mlp")
    module = NodeClassifier("mlp", ModelConfig.from_data(graph, ["cell_class"], **SMALL), cfg,
                            ["cell_class"], {"cell_class": train_class_counts(graph, "cell_class").tolist()})
    out = module(graph)
    main, _ = module.multitask_loss(out, graph, graph.train_mask)
    m = label_mask(graph, "cell_class", "train")
    expected = get_loss(loss, **params)(out["cell_class"][m], graph.y_cell_class[m],
                                        train_class_counts(graph, "cell_class"))
    torch.testing.assert_close(main, expected)
    plain = get_loss("ce")(out["cell_class"][m], graph.y_cell_class[m])
    assert not torch.allclose(main, plain)  # the configured loss is not plain CE


def test_training_with_augmentation_and_tta(graph, tmp_path):
    """One test evaluation per seed; view 0 of the TTA evaluation is the plain evaluation."""
    plain = run_training(graph, _cfg(), tmp_path / "plain")["seeds"][0]
    tta = run_training(graph, _cfg(tta=3, tta_augment="rotate_z:theta=20,scale:s=0.1"),
                       tmp_path / "tta")["seeds"][0]
    assert tta["test_evaluations"] == 1
    report = tta["per_task"]["cell_class"]["tta"]
    assert report["views"] == 3 and set(report) >= {"val_macro_f1", "val_macro_f1_view0"}
    assert report["test_macro_f1_view0"] == pytest.approx(plain["test_macro_f1"])
    aug = run_training(graph, _cfg(augment="rotate_z,jitter,dropout"), tmp_path / "aug")["seeds"][0]
    assert aug["history"]["train_loss"] != plain["history"]["train_loss"]  # training saw it
    again = run_training(graph, _cfg(augment="rotate_z,jitter,dropout"), tmp_path / "aug2")["seeds"][0]
    assert again["history"] == aug["history"]  # and it is reproducible


def _train_args(**kw):
    base = dict(augment="none", tta=1, tta_augment=None, loss="ce", loss_param=[])
    base.update(kw)
    return argparse.Namespace(**base)


def test_cli_fewer_flags_are_checked():
    from synhelpers.errors import ConfigError
    from synhelpers.train.cli_options import with_fewer_args as _with_fewer_args

    cfg = _with_fewer_args(TrainConfig(), _train_args(loss="focal", loss_param=["gamma=2"],
                                                       augment="rotate_z,jitter", tta=4))
    assert (cfg.loss, cfg.loss_params, cfg.augment, cfg.tta) == ("focal", {"gamma": 2}, "rotate_z,jitter", 4)
    for kw, msg in [({"loss": "hinge"}, "unknown loss 'hinge'"),
                    ({"loss_param": ["gamma"]}, "KEY=VALUE"),
                    ({"augment": "edge_dropout"}, "not available"),
                    ({"tta": 2}, "needs an augmentation")]:
        with pytest.raises(ConfigError, match=msg):
            _with_fewer_args(TrainConfig(), _train_args(**kw))

"""Opt-in transmitter features of the fused model: the per-neuron histogram of T-bar -> PSD
distances (``pair_stats``) and per-connection votes on the presynaptic label (``edge_votes``)."""

from __future__ import annotations

import math

import pytest
import torch

from synhelpers.models import ModelConfig, build_model
from synhelpers.models.pair_stats import pair_distance_histogram, pair_features_dim
from synhelpers.testing.random_graph import make_random_graph


@pytest.fixture(scope="module")
def graph():
    return make_random_graph(num_nodes=30, num_edges=120, seed=1)


def _hist(data, pos=None):
    unit = torch.full((data.edge_index.shape[1],), float(data.pos_unit_um))
    return pair_distance_histogram(data.syn_ptr, data.syn_pos if pos is None else pos,
                                   data.edge_index, int(data.num_nodes), unit, 0.256)


def test_histogram_shape_flags_and_normalisation(graph):
    h = _hist(graph)
    n, k = int(graph.num_nodes), (pair_features_dim() - 2) // 2
    assert h.shape == (n, pair_features_dim())
    sizes = graph.syn_ptr[1:] - graph.syn_ptr[:-1]
    for col, owner in ((k, graph.edge_index[0]), (2 * k + 1, graph.edge_index[1])):
        has = torch.zeros(n).index_add_(0, owner, sizes.float()) > 0
        assert torch.equal(h[:, col] > 0, has)
        assert (h[~has, col - k:col] == 0).all(), "a neuron without pairs gets zeros"


def test_histogram_ignores_rigid_motions_and_mirrors(graph):
    angle = math.radians(40)
    rot = torch.tensor([[math.cos(angle), -math.sin(angle), 0.0],
                        [math.sin(angle), math.cos(angle), 0.0], [0.0, 0.0, -1.0]])  # with a mirror
    pos = graph.syn_pos.view(-1, 2, 3) @ rot.T + torch.tensor([0.1, -0.2, 0.05])
    assert torch.allclose(_hist(graph), _hist(graph, pos.reshape(-1, 6)), atol=1e-4)  # float32 rounding


def test_histogram_tells_short_from_long_pairs(graph):
    """All pairs 22 voxels long vs all 50 voxels long: the histograms peak in different bins."""
    def with_length(voxels):
        unit_um = float(graph.pos_unit_um)
        pos = graph.syn_pos.clone()
        pos[:, 3:] = pos[:, :3] + torch.tensor([voxels * 0.008 / unit_um, 0.0, 0.0])
        return _hist(graph, pos)
    k = (pair_features_dim() - 2) // 2
    short, long_ = with_length(22), with_length(50)
    has = short[:, k] > 0
    assert (short[has, :k].argmax(1) < long_[has, :k].argmax(1)).all()


@pytest.mark.parametrize("name", ["hybrid", "synapse_only"])
def test_options_train_and_add_an_edge_head(graph, name):
    cfg = ModelConfig.from_data(graph, ["cell_class", "predictedNt"], set_size=8, cloud_size=8,
                                knn=4, pair_stats=True, edge_votes=True)
    model = build_model(name, cfg).train()
    out = model(graph)
    assert set(out.aux["edges"]) == {"cell_class", "predictedNt"}
    assert out["predictedNt"].shape == (int(graph.num_nodes), len(graph.label_names["predictedNt"]))
    sum(t.sum() for t in out.values()).backward()
    assert model.edge_votes["col_predictedNt"].weight.grad.abs().sum() > 0
    model.eval()
    assert model(graph).aux == {}, "auxiliary outputs only in training"


def test_options_off_by_default_build_the_same_parameters(graph):
    base = ModelConfig.from_data(graph, ["cell_class"], set_size=8, cloud_size=8, knn=4)
    assert base.pair_stats is False and base.edge_votes is False
    names = {k for k, _ in build_model("hybrid", base).named_parameters()}
    assert not any(k.startswith("edge_votes") for k in names)

"""Shared fixtures: a small synthetic connectome and its graph, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from synhelpers.graph import GraphConfig, build_cached
from synhelpers.tables.synthetic import SyntheticConfig, write_synthetic

SHARED = Path(__file__).resolve().parents[2] / "shared"
HEMIBRAIN_META = SHARED / "data" / "hemibrain_meta.csv"


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    """A 300-neuron synthetic connectome folder (tables, synthetic.json, truth)."""
    d = tmp_path_factory.mktemp("synthetic")
    write_synthetic(SyntheticConfig(n_neurons=300, seed=1), d)
    return d


@pytest.fixture(scope="session")
def graph_dir(synthetic_dir) -> Path:
    out = synthetic_dir / "graph"
    build_cached(synthetic_dir, out, GraphConfig(min_class_count=5))
    return out


@pytest.fixture(scope="session")
def graph(graph_dir):
    from synhelpers.graph import load_graph

    return load_graph(graph_dir)


@pytest.fixture
def hemibrain_meta_path() -> Path:
    if not HEMIBRAIN_META.exists():
        pytest.skip("../shared/data/hemibrain_meta.csv is not present")
    return HEMIBRAIN_META


@pytest.fixture(autouse=True)
def _profile_unchanged():
    """A test (or a doctest it runs) that changes ``$SYNHELPERS_PROFILE`` would make every
    later notebook of the session run in another profile: fail that test instead."""
    import os

    before = os.environ.get("SYNHELPERS_PROFILE")
    yield
    assert os.environ.get("SYNHELPERS_PROFILE") == before, "the test changed $SYNHELPERS_PROFILE"

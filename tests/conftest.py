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


def pytest_configure(config):
    """Small-profile notebooks and commands of this session write to a fresh scratch folder, so
    that runs saved by an earlier session (perhaps by older code) are never reused by a test;
    and they compute on one thread each (see below)."""
    import os
    import tempfile

    if "SYNHELPERS_SCRATCH" not in os.environ:
        config._synhelpers_scratch = tempfile.mkdtemp(prefix="synhelpers-small-")
        os.environ["SYNHELPERS_SCRATCH"] = config._synhelpers_scratch
    # One compute thread per process (this one, the notebook kernels, the CLI subprocesses),
    # unless the caller set one: the test models are tiny, and on a 2-core machine with one core
    # taken, OpenMP's spinning threads made notebook 03 take 311 s instead of 13 s.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_unconfigure(config):
    import os
    import shutil

    scratch = getattr(config, "_synhelpers_scratch", None)
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)
        os.environ.pop("SYNHELPERS_SCRATCH", None)

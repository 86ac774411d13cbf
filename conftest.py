"""Session settings for every test and notebook that pytest collects (``tests/`` and
``notebooks/``, also when a single notebook is run: ``pytest --nbval-lax notebooks/07_views.ipynb``)."""

from __future__ import annotations


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

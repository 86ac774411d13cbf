"""Session settings for every test and notebook that pytest collects (``tests/`` and
``notebooks/``, also when a single notebook is run: ``pytest --nbval notebooks/07_views.ipynb``)."""

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
    # `pytest --nbval` compares the small profile's outputs with the committed ones (the default
    # profile's) after nbval_sanitize.cfg has replaced paths, counts, scores and times: the file
    # is used unless --nbval-sanitize-with names another.
    if getattr(config.option, "nbval_sanitize_with", "") is None:
        from pathlib import Path

        config.option.nbval_sanitize_with = str(Path(__file__).with_name("nbval_sanitize.cfg"))
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_unconfigure(config):
    import os
    import shutil

    scratch = getattr(config, "_synhelpers_scratch", None)
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)
        os.environ.pop("SYNHELPERS_SCRATCH", None)

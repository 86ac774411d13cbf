"""Settings of the graph builder (pure Python: cheap to import for the CLI)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

__all__ = ["GraphConfig", "BUILDER_VERSION", "SPLITS", "DEFAULT_LABELS", "build_command"]

#: Bumped whenever the graph layout or its computation changes (invalidates caches).
BUILDER_VERSION = 3
#: Names of the three splits, in the order of their integer codes 0, 1, 2.
SPLITS = ("train", "val", "test")
#: Label columns used when none are named.
DEFAULT_LABELS = ("cell_class", "predictedNt")


@dataclass(frozen=True)
class GraphConfig:
    """Settings of the graph builder.

    Attributes:
        labels: neuron columns that become integer labels ``y_<column>``; ``None``: the
            well-known label columns the neurons table has (``cell_class``, ``class``, ``type``,
            ``predictedNt`` ..., see :mod:`synhelpers.tables.labels`).
        min_class_count: classes with fewer labelled neurons are masked (-1), never merged.
        split: train/val/test fractions.
        split_seed: seed of the stratified split.
        stratify_by: label column the split is stratified on (default: the first label).
        synapses: attach the synapse point sets and sites (``synapses``/``sites`` tables).
        test_connectome: with several connectomes, the one (name, folder name or index) that
            is the whole test split; the others are split into train and validation.
        label_map: a two-column CSV mapping ``connectome:label`` to a shared label name, to
            harmonise class names across connectomes (its content is part of the cache key).

    Example:
        >>> GraphConfig(labels=["cell_class"]).labels
        ('cell_class',)
    """

    labels: tuple[str, ...] | None = None
    min_class_count: int = 10
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    split_seed: int = 0
    stratify_by: str | None = None
    synapses: bool = True
    test_connectome: str | None = None
    label_map: str | None = None

    def __post_init__(self) -> None:
        if self.labels is not None:
            object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "split", tuple(float(f) for f in self.split))
        if len(self.split) != 3 or abs(sum(self.split) - 1) > 1e-6 or min(self.split) < 0:
            raise ValueError(f"split must be three fractions summing to 1, got {self.split}")
        if self.min_class_count < 1:
            raise ValueError(f"min_class_count must be >= 1, got {self.min_class_count}")


def build_command(tables, out, cfg: GraphConfig, *, force: bool = True) -> str:
    """The ``build`` command line that makes the graph of ``tables`` with ``cfg`` in ``out``
    (named in messages that ask for a rebuild; ``split``/``stratify_by`` have no flag).

    Example:
        >>> build_command(["data/t"], "data/t/graph", GraphConfig(labels=["cell_class"], split_seed=2))
        'python -m synhelpers build --tables data/t --out data/t/graph --label cell_class --split-seed 2 --force'
    """
    d, q = GraphConfig(), shlex.quote
    tables = tables if isinstance(tables, (list, tuple)) else [tables]
    parts = ["python -m synhelpers build --tables", *(q(str(t)) for t in tables), "--out", q(str(out))]
    if cfg.labels is not None:
        parts += ["--label", *(q(c) for c in cfg.labels)]
    if cfg.min_class_count != d.min_class_count:
        parts.append(f"--min-class-count {cfg.min_class_count}")
    if cfg.split_seed != d.split_seed:
        parts.append(f"--split-seed {cfg.split_seed}")
    if not cfg.synapses:
        parts.append("--no-synapses")
    if cfg.test_connectome is not None:
        parts.append(f"--test-connectome {q(str(cfg.test_connectome))}")
    if cfg.label_map:
        parts.append(f"--label-map {q(str(cfg.label_map))}")
    return " ".join(parts + (["--force"] if force else []))

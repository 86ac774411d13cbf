"""Checks made before a run starts: which label columns, can this model read this graph, are
the labels usable. Each failure is one line naming the column, the model or the view."""

from __future__ import annotations

from ..errors import ConfigError, RunError
from ..graph.build import check_labels
from ..models import TASK_COLUMNS, get_spec, graph_views, list_models
from .config import TrainConfig

__all__ = ["label_columns_for", "check_views", "check_settings_apply", "check_run"]


def label_columns_for(data, cfg: TrainConfig) -> list[str]:
    """The label columns a run predicts: ``cfg.labels``, else ``cfg.task``'s, else every label
    column of the graph.

    Raises:
        ConfigError: a column is not a label of the graph (the message lists the graph's labels).
    """
    if cfg.labels:
        columns = list(cfg.labels)
    elif cfg.task:
        columns = list(TASK_COLUMNS[cfg.task])
    else:
        columns = list(data.label_columns)
    have = list(getattr(data, "label_columns", []))
    missing = [c for c in columns if c not in have]
    if missing or not columns:
        raise ConfigError(f"label column(s) {missing or '(none)'} not in the graph; its labels are "
                          f"{have or 'none'} (choose with --label, or rebuild with build --label COL)")
    return columns


def check_views(model: str, data) -> None:
    """Raise :class:`RunError` if ``model`` needs a view the graph lacks (one line: what is
    missing and which models can run)."""
    spec, have = get_spec(model), graph_views(data)
    missing = [v for v in spec.needs if v not in have]
    if missing:
        runnable = [m.name for m in list_models() if set(m.needs) <= set(have)]
        raise RunError(f"model {model!r} needs {' and '.join(missing)}, which this graph lacks "
                       f"(it has {', '.join(have) or 'nothing'}); models that can run on it: "
                       f"{', '.join(runnable) or 'none'}")


def check_settings_apply(cfg: TrainConfig, columns: list[str]) -> None:
    """Refuse settings that would do nothing (one line naming the flag): point-set
    augmentation or test-time augmentation on a model without point-set encoders, a loss
    weight for a column the run does not train."""
    spec = get_spec(cfg.model)
    points = {"synapses", "sites"} & set(spec.needs)
    on = [f for f, v in (("--augment", cfg.augment), ("--tta-augment", cfg.tta_augment))
          if v is not None and str(v).strip().lower() not in ("", "none")]
    if cfg.tta > 1:
        on.append("--tta")
    if on and not points:
        raise ConfigError(f"{' and '.join(on)}: model {cfg.model!r} reads the wiring only (no "
                          "synapse point sets), so point-set augmentation would do nothing; "
                          "drop the flag or choose a model that reads synapses or sites")
    unknown = sorted(set(cfg.loss_weights) - set(columns))
    if unknown:
        raise ConfigError(f"--loss-weight {', '.join(unknown)}: not a label column this run "
                          f"trains ({', '.join(columns)}); the weight would do nothing")


def check_split(data, columns: list[str]) -> None:
    """Refuse a split with no labelled neuron of a column in train, val or test (an edited
    ``split.parquet``): a run could neither select nor score a model (one line)."""
    for c in columns:
        labelled = data[f"y_{c}"] >= 0
        empty = [s for s in ("train", "val", "test") if not bool((data[f"{s}_mask"] & labelled).any())]
        if empty:
            raise ConfigError(f"the graph's split has no labelled {c} neuron in {' or '.join(empty)} "
                              "(an edited split.parquet?); rebuild the graph or fix its split")


def check_run(data, cfg: TrainConfig) -> list[str]:
    """Every check before training; returns the label columns."""
    columns = label_columns_for(data, cfg)
    check_views(cfg.model, data)
    check_settings_apply(cfg, columns)
    check_labels(data, columns, str(getattr(data, "dataset_name", "graph")))
    check_split(data, columns)
    return columns

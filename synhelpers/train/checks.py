"""Checks made before a run starts: which label columns, can this model read this graph, are
the labels usable. Each failure is one line naming the column, the model or the view."""

from __future__ import annotations

from ..errors import ConfigError, RunError
from ..graph.build import check_labels
from ..models import TASK_COLUMNS, get_spec, graph_views, list_models
from .config import TrainConfig

__all__ = ["label_columns_for", "check_views", "check_run"]


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


def check_run(data, cfg: TrainConfig) -> list[str]:
    """Every check before training; returns the label columns."""
    columns = label_columns_for(data, cfg)
    check_views(cfg.model, data)
    check_labels(data, columns, str(getattr(data, "dataset_name", "graph")))
    return columns

"""TensorBoard's HPARAMS page: every run, the baseline included, with its settings and its final
validation and test scores, so runs can be compared side by side (``tensorboard --logdir runs``).

- :func:`hparam_values`: a run's settings as TensorBoard takes them (numbers, strings, bools).
- :func:`log_final_scores`: the hparams summary of one trained seed, into its logger's folder.
- :func:`write_hparams_event`: the same for anything else (the baseline), in a folder of its own.

Metrics are named ``hp/val_macro_f1``, ``hp/test_macro_f1`` and ``hp/test_accuracy``.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["hparam_values", "log_final_scores", "write_hparams_event", "final_metrics"]


def hparam_values(settings: dict) -> dict:
    """``settings`` flattened to ``{name: int | float | str | bool}``: nested dicts join their
    keys with ``.``, lists and None become JSON strings.

    Example:
        >>> hparam_values({"model": "sage", "fanouts": (10, 5), "loss_params": {"gamma": 2.0},
        ...                "batch_size": None})
        {'model': 'sage', 'fanouts': '[10, 5]', 'loss_params.gamma': 2.0, 'batch_size': 'null'}
    """
    out: dict = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in hparam_values(value).items()})
        elif isinstance(value, (bool, int, float, str)):
            out[key] = value
        else:
            out[key] = json.dumps(value)
    return out


def final_metrics(seed_result: dict) -> dict:
    """The scores a seed ends with, as HPARAMS metrics."""
    keys = {"best_val_macro_f1": "hp/val_macro_f1", "test_macro_f1": "hp/test_macro_f1",
            "test_accuracy": "hp/test_accuracy"}
    return {name: float(seed_result[k]) for k, name in keys.items() if k in seed_result}


def log_final_scores(logger, settings: dict, seed_result: dict) -> None:
    """Write the hparams summary of one trained seed through its Lightning TensorBoard logger."""
    if logger is None:
        return
    logger.log_hyperparams(hparam_values(settings), final_metrics(seed_result))
    logger.finalize("success")


def write_hparams_event(log_dir, settings: dict, metrics: dict) -> Path:
    """An event file in ``log_dir`` with the hparams summary of ``settings`` and ``metrics``
    (``{name: float}``), e.g. for the baseline, which trains no Lightning module."""
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    log_dir = Path(log_dir)
    writer = SummaryWriter(str(log_dir))
    try:
        for summary in hparams(hparam_values(settings), metrics):
            writer.file_writer.add_summary(summary)
        for name, value in metrics.items():
            writer.add_scalar(name, value, 0)
    finally:
        writer.close()
    return log_dir

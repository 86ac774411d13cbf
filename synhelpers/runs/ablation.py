"""The ablation used by notebooks 03 and 04: several models, both modes, N seeds, saved runs.

A run folder whose ``metrics.json`` already holds the same configuration *and* was trained on
the same graph (``data_fingerprint``) is reused, so the notebooks' tables and figures are
regenerated from saved runs. After a change to the model code, pass ``retrain=True``.
"""

from __future__ import annotations

from pathlib import Path

from ..graph import graph_fingerprint
from ..io import read_json
from .config import TrainConfig
from .train import run_training

__all__ = ["run_ablation"]


def run_ablation(data, runs_dir, task: str, models, modes=("transductive",), *, seeds: int = 3,
                 max_epochs: int = 200, patience: int = 30, lr: float = 8e-3, retrain: bool = False,
                 verbose: bool = True, **train_kw) -> dict[str, Path]:
    """Train every (model, mode) for ``seeds`` seeds; returns ``{"model/mode": run folder}``.

    ``modes`` maps to models either as a tuple (all models in all modes) or as a dict
    ``{mode: [models]}``.
    """
    plan = modes if isinstance(modes, dict) else {m: list(models) for m in modes}
    fingerprint = graph_fingerprint(data)
    out: dict[str, Path] = {}
    for mode, names in plan.items():
        for name in names:
            cfg = TrainConfig(model=name, task=task, mode=mode, seeds=seeds, max_epochs=max_epochs,
                              patience=patience, lr=lr, **train_kw)
            run_dir = Path(runs_dir) / f"{name}_{mode}"
            f = run_dir / "metrics.json"
            saved = read_json(f) if f.exists() and not retrain else {}
            if saved.get("config") == cfg.to_dict() and saved.get("data_fingerprint") == fingerprint:
                res = saved
                how = "reused"
            else:
                res = run_training(data, cfg, run_dir)
                how = "trained"
            out[f"{name}/{mode}"] = run_dir
            if verbose:
                if res.get("not_applicable"):
                    print(f"{name:13s} {mode:12s} not applicable: per-neuron table, no unseen neurons")
                else:
                    m, s = res["mean"], res["std"]
                    print(f"{name:13s} {mode:12s} {how}: test macro-F1 {m['test_macro_f1']:.3f} ± "
                          f"{s['test_macro_f1']:.3f} ({len(res['seeds'])} seeds, "
                          f"{m['epoch_time_s']:.2f} s/epoch)", flush=True)
    return out

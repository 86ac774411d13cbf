"""The quickstart's quick model: a logistic regression on wiring and synapse-summary features.

It is a sanity baseline, not the hybrid encoder (see :mod:`synhelpers.models`). It follows
the project's evaluation rules, which the hybrid models follow too:

* the regularisation strength is chosen on the **validation** split (macro-F1);
* the **test** split is scored exactly once, with the chosen model;
* masked labels (-1) count in neither fitting nor metrics.

Features per neuron: the graph's wiring features ``x`` plus the mean and standard
deviation of the neuron's own T-bar and postsynaptic-site positions (normalised frame).

``metrics.json`` has the same shape as the training runs':
``{"model", "task", "config", "seeds": [{...}], "mean": {...}, "std": {...}}``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from ..errors import ConfigError
from ..graph.build import check_labels
from ..graph.cache import load_graph
from ..graph.split import budgeted_split, split_frame
from ..io import write_json, write_parquet
from ..outputs import claim_folder, record_file
from .config import BaselineConfig
from .metrics import classification_metrics, summarise_seeds
from .model_card import synthetic_ceiling
from .tensorboard import write_hparams_event

__all__ = ["BaselineConfig", "baseline_features", "fit_quick_baseline", "run_baseline"]


def _segment_mean_std(ptr: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    n = len(ptr) - 1
    lengths = (ptr[1:] - ptr[:-1]).float()
    owner = torch.repeat_interleave(torch.arange(n), ptr[1:] - ptr[:-1])
    s = torch.zeros(n, values.shape[1]).index_add_(0, owner, values)
    s2 = torch.zeros(n, values.shape[1]).index_add_(0, owner, values**2)
    cnt = lengths.clamp_min(1)[:, None]
    mean = s / cnt
    std = (s2 / cnt - mean**2).clamp_min(0).sqrt()
    return torch.cat([mean, std], 1)


def baseline_features(data: Data) -> np.ndarray:
    """(N, F + 12) features: wiring features, then mean/std of own pre and post sites (xyz)."""
    feats = [data.x]
    if "site_ptr" in data:
        is_post = data.site_is_post
        n = data.num_nodes
        owner = torch.repeat_interleave(torch.arange(n), data.site_ptr[1:] - data.site_ptr[:-1])
        for kind in (False, True):
            sel = is_post == kind
            ptr = torch.zeros(n + 1, dtype=torch.long)
            torch.cumsum(torch.bincount(owner[sel], minlength=n), 0, out=ptr[1:])
            feats.append(_segment_mean_std(ptr, data.site_pos[sel]))
    return torch.cat(feats, 1).numpy()


def fit_quick_baseline(data: Data, cfg: BaselineConfig = BaselineConfig(),
                       features: np.ndarray | None = None) -> dict:
    """Fit, select on validation, test once. Returns the per-seed metrics dict.

    ``features`` (N, F): the feature matrix to fit instead of :func:`baseline_features`
    (benchmarks probe other feature sets with the same selection rules).

    Example:
        >>> from synhelpers.tables.synthetic import generate, SyntheticConfig
        >>> from synhelpers.graph import build_graph
        >>> g = build_graph(generate(SyntheticConfig(n_neurons=300)))
        >>> m = fit_quick_baseline(g)
        >>> 0 <= m["test_accuracy"] <= 1
        True
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    y = data[f"y_{cfg.label}"].numpy()
    names = data.label_names[cfg.label]
    X = baseline_features(data) if features is None else features
    lab = y >= 0
    tr = data.train_mask.numpy() & lab
    va = data.val_mask.numpy() & lab
    te = data.test_mask.numpy() & lab
    best, not_converged = None, []
    for c in cfg.c_grid:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=cfg.max_iter,
                                                                   random_state=cfg.seed))
        with warnings.catch_warnings():  # recorded in the metrics below instead of printed
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X[tr], y[tr])
        if model[-1].n_iter_.max() >= cfg.max_iter:
            not_converged.append(c)
        f1 = f1_score(y[va], model.predict(X[va]), average="macro",
                      labels=np.arange(len(names)), zero_division=0)
        if best is None or f1 > best[0]:
            best = (f1, c, model)
    val_f1, c_best, model = best
    # the one and only look at the test split
    pred = model.predict(X[te])
    out = {"seed": cfg.seed, **classification_metrics(y[te], pred, names, prefix="test_")}
    # C values whose solver stopped at max_iter (a warning would otherwise flood notebook output)
    out.update({"best_val_macro_f1": float(val_f1), "selected_C": c_best, "not_converged_C": not_converged,
                "fit_seconds": round(time.perf_counter() - t0, 3)})
    return out


def _budgeted(data: Data, cfg: BaselineConfig, k: int, out) -> Data:
    """Split ``k`` with the label budget (:func:`~synhelpers.graph.split.budgeted_split`, the
    same labelled neurons as ``train``'s), saved as ``out/splits/split<k>.parquet``."""
    few = budgeted_split(data, k, cfg.label, cfg.labelled, cfg.labels_per_class)
    if "labelled_mask" in few:
        write_parquet(split_frame(few), Path(out) / "splits" / f"split{k}.parquet")
    return few


def run_baseline(graph_dir: str | Path, out: str | Path, cfg: BaselineConfig = BaselineConfig()) -> dict:
    """Load a graph, fit the quick baseline, write ``out/metrics.json``. Returns its contents.

    ``out`` is a run folder of this baseline's own (purpose ``"baseline LABEL"``): a training
    run's folder, a baseline of another label, a graph or the user's folder is refused in one
    line (:class:`~synhelpers.errors.OutputError`) before any work, nothing deleted."""
    graph_dir = Path(graph_dir)
    data = load_graph(graph_dir)
    have = list(getattr(data, "label_columns", []))
    if cfg.label not in have:
        raise ConfigError(f"--label {cfg.label!r}: not a label column of the graph in {graph_dir}; "
                          f"its labels are {have or 'none'}")
    check_labels(data, [cfg.label], str(graph_dir))
    claim_folder(out, "run", purpose=f"baseline {cfg.label}")
    seed_metrics = [{"split": k, **fit_quick_baseline(_budgeted(data, cfg, k, out), cfg)}
                    for k in range(cfg.splits)]
    result = {
        "model": "logreg_baseline",
        "task": cfg.label,
        "dataset": data.dataset_name,
        "graph": str(graph_dir),
        "config": asdict(cfg),
        "class_names": data.label_names[cfg.label],
        "seeds": seed_metrics,
        **summarise_seeds(seed_metrics),
    }
    ceiling = synthetic_ceiling(graph_dir, cfg.label)
    if ceiling is not None:
        result["ceiling"] = ceiling
    write_json(Path(out) / "metrics.json", result)
    for name in ("metrics.json", "tb", "splits"):
        record_file(Path(out) / name, "run")
    write_hparams_event(Path(out) / "tb", {"model": "logreg_baseline", **asdict(cfg)},
                        {"hp/test_macro_f1": result["mean"]["test_macro_f1"],
                         "hp/test_accuracy": result["mean"]["test_accuracy"]})
    return result

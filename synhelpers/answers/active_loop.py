"""Simulated active learning on a fully labelled connectome: reveal labels step by step.

For each seed: start from ``initial_per_class`` labelled neurons of each class, drawn from
the *training pool* only (:func:`~synhelpers.answers.active.initial_labelled`); train; score the
fixed test split once; let each strategy pick the next ``batch`` neurons among the pool's
still unlabelled ones (:func:`~synhelpers.answers.active.rank_candidates`); reveal their labels;
retrain with a warm start (the previous round's selected weights, a fresh optimiser); repeat
for ``rounds`` rounds. Validation labels (the fixed validation split) are used only for early
stopping; test labels only for scoring. Round 0 is shared by every strategy of a seed (same
labels, same initial model). "Fully supervised" is the same model trained from scratch on every
training label, with the same seeds.

Each round trains through the same Lightning module as every other run (one loss, one
validation, one optimiser set-up: :mod:`synhelpers.train.module`), with a cheap Trainer: no
logger and no checkpoint file (the best weights are kept in memory), since a simulation trains
hundreds of short rounds.

Output of :func:`simulate`: one row per (strategy, seed, round) with ``labels`` (labelled
neurons) and ``test_macro_f1``, plus rows with ``strategy == "supervised"``.
:func:`labels_to_reach` reads off how many labels each strategy needs to reach a fraction of
the fully supervised macro-F1.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import lightning as L
import numpy as np
import pandas as pd
import torch

from ..models import ModelConfig
from ..train.config import TrainConfig
from ..train.metrics import macro_f1
from ..train.module import GraphDataModule, NodeClassifier, label_mask, train_class_counts
from ..train.run import fit_quietly
from .active import STRATEGIES, initial_labelled, mc_dropout_probs, rank_candidates, reveal

__all__ = ["ActiveConfig", "simulate", "simulate_seed", "labels_to_reach", "round_graph",
           "fit_round", "supervised_reference"]


@dataclass
class ActiveConfig:
    """Settings of an active-learning simulation.

    Attributes:
        column: label column. model / model_overrides / lr / weight_decay / loss: as in
            :class:`~synhelpers.train.config.TrainConfig`, whose ``lr`` and ``weight_decay``
            defaults are these defaults (one home).
        strategies: names from :data:`synhelpers.answers.active.STRATEGIES`.
        seeds / first_seed: seeds ``first_seed ..``; a seed fixes the initial labels, the
            initial weights and every random draw of its rounds.
        initial_per_class: labelled neurons per class at the start (training pool only).
        batch: labels revealed per round. rounds: rounds after the initial one.
        max_epochs / patience / min_epochs: early stopping on validation macro-F1, per round.
        mc_samples: Monte-Carlo dropout passes for ``bald``.
        num_threads: torch CPU threads (None: leave as is).
    """

    column: str = "cell_class"
    model: str = "sage"
    model_overrides: dict[str, bool | int | float | str] = field(default_factory=dict)
    strategies: tuple[str, ...] = STRATEGIES
    seeds: int = 3
    first_seed: int = 0
    initial_per_class: int = 2
    batch: int = 12
    rounds: int = 25
    max_epochs: int = 150
    patience: int = 20
    min_epochs: int = 10
    lr: float = TrainConfig.lr
    weight_decay: float = TrainConfig.weight_decay
    loss: str = "ce"
    mc_samples: int = 10
    num_threads: int | None = None

    def __post_init__(self) -> None:
        self.strategies = tuple(self.strategies)
        bad = [s for s in self.strategies if s not in STRATEGIES]
        if bad:
            raise ValueError(f"unknown strategies {bad}; allowed: {list(STRATEGIES)}")
        for name in ("seeds", "batch", "max_epochs", "patience", "mc_samples"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.rounds < 0 or self.initial_per_class < 1:
            raise ValueError("rounds must be >= 0 and initial_per_class >= 1")
        self.model_overrides = self.train_config().model_overrides  # checked and typed there

    def train_config(self) -> TrainConfig:
        return TrainConfig(model=self.model, labels=(self.column,), lr=self.lr,
                           weight_decay=self.weight_decay, loss=self.loss,
                           model_overrides=self.model_overrides)

    def to_dict(self) -> dict:
        return asdict(self)


def round_graph(data, labelled: torch.Tensor, column: str):
    """A shallow copy of ``data`` for one round: ``train_mask`` = ``labelled`` and every label
    outside ``labelled`` and the validation split hidden (-1), test labels included."""
    out = copy.copy(data)
    keep = labelled | data.val_mask
    y = data[f"y_{column}"].clone()
    y[~keep] = -1
    out[f"y_{column}"] = y
    out.train_mask = labelled.clone()
    return out


def _split_f1(module, graph, column: str, split: str) -> float:
    """Macro-F1 of ``module`` on one split of ``graph`` (eval mode, no gradients)."""
    module.eval()
    with torch.no_grad():
        out = module(graph)[column]
    m = label_mask(graph, column, split)
    return macro_f1(graph[f"y_{column}"][m].numpy(), out[m].argmax(-1).numpy())


class _BestInMemory(L.Callback):
    """The best validation weights kept in memory (a simulation trains hundreds of short rounds,
    where checkpoint files would cost more than the steps) and restored when the fit ends. The
    starting weights count: a warm start may already be the best."""

    def __init__(self, start_f1: float, start_state: dict):
        self.best, self.best_epoch, self.state = start_f1, -1, start_state

    def on_validation_end(self, trainer, pl_module):
        f1 = float(trainer.callback_metrics["val_macro_f1"])
        if f1 > self.best:
            self.best, self.best_epoch = f1, int(trainer.current_epoch)
            self.state = copy.deepcopy(pl_module.state_dict())

    def on_fit_end(self, trainer, pl_module):
        pl_module.load_state_dict(self.state)


def fit_round(graph, cfg: ActiveConfig, warm: NodeClassifier | None = None
              ) -> tuple[NodeClassifier, dict]:
    """Train one round on ``graph`` (:func:`round_graph`) with the module and the Trainer of
    every other run (:mod:`synhelpers.train.module`), in a cheap configuration: no logger, no
    checkpoint file, early stopping on validation macro-F1. ``warm``: start from its weights
    (a fresh optimiser); None: fresh weights from the current torch seed.

    Returns the trained module, holding its best weights, and
    ``{"best_val_macro_f1", "best_epoch", "epochs"}``.
    """
    c = cfg.column
    model_cfg = ModelConfig.from_data(graph, [c], **cfg.model_overrides)
    module = NodeClassifier(cfg.model, model_cfg, cfg.train_config(), [c],
                            {c: train_class_counts(graph, c).tolist()}, val_graph=graph)
    if warm is not None:
        module.load_state_dict(warm.state_dict())
    keep = _BestInMemory(_split_f1(module, graph, c, "val"), copy.deepcopy(module.state_dict()))
    stop = L.pytorch.callbacks.EarlyStopping(monitor="val_macro_f1", mode="max",
                                             patience=cfg.patience)
    trainer = L.Trainer(max_epochs=cfg.max_epochs, min_epochs=min(cfg.min_epochs, cfg.max_epochs),
                        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, log_every_n_steps=1, callbacks=[stop, keep])
    fit_quietly(trainer, module, GraphDataModule(graph))
    return module, {"best_val_macro_f1": float(keep.best), "best_epoch": keep.best_epoch,
                    "epochs": int(trainer.current_epoch)}


def _threads(cfg: ActiveConfig) -> None:
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)


def _pick(strategy: str, module, graph, labelled, pool, cfg: ActiveConfig, seed: int) -> np.ndarray:
    """Node indices of the next batch chosen by ``strategy`` (labels are not looked at)."""
    module.eval()
    c = cfg.column
    kw = {}
    with torch.no_grad():
        if strategy in ("margin", "entropy"):
            kw["probs"] = module(graph)[c].float().softmax(-1)
        elif strategy == "coreset":
            kw["embeddings"] = module.model.embed(graph)["fused"]
    if strategy == "bald":
        kw["mc_probs"] = mc_dropout_probs(lambda: module(graph)[c], module.model,
                                          T=cfg.mc_samples, seed=seed)
    table = rank_candidates(strategy, labelled_mask=labelled, candidate_mask=pool & ~labelled,
                            n=cfg.batch, seed=seed, **kw)
    return table["index"].to_numpy()


def _row(strategy, seed, rnd, labelled, module, data, stats, cfg) -> dict:
    return {"strategy": strategy, "seed": seed, "round": rnd, "labels": int(labelled.sum()),
            "test_macro_f1": _split_f1(module, data, cfg.column, "test"), **stats}


def simulate_seed(data, cfg: ActiveConfig, seed: int, progress=None) -> list[dict]:
    """Every strategy's rounds for one seed (round 0 shared); rows as in :func:`simulate`."""
    _threads(cfg)
    y = data[f"y_{cfg.column}"]
    # candidates: training-pool neurons whose label the simulation can reveal
    pool = data.train_mask & (y >= 0)
    labelled = initial_labelled(y, cfg.initial_per_class, seed, pool=pool)
    torch.manual_seed(seed)
    start, stats = fit_round(round_graph(data, labelled, cfg.column), cfg)
    first = _row("", seed, 0, labelled, start, data, stats, cfg)
    rows = []
    for k, strategy in enumerate(cfg.strategies):
        rows.append({**first, "strategy": strategy})
        module, lab = start, labelled.clone()
        for rnd in range(1, cfg.rounds + 1):
            if not (pool & ~lab).any():
                break
            pick_seed = seed * 100_003 + rnd * 101 + k
            lab = reveal(lab, _pick(strategy, module, round_graph(data, lab, cfg.column), lab,
                                    pool, cfg, pick_seed))
            torch.manual_seed(pick_seed)
            module, stats = fit_round(round_graph(data, lab, cfg.column), cfg, warm=module)
            rows.append(_row(strategy, seed, rnd, lab, module, data, stats, cfg))
            if progress:
                progress(rows[-1])
    return rows


def supervised_reference(data, cfg: ActiveConfig, seed: int) -> dict:
    """The same model trained from scratch on every training label (same seed)."""
    _threads(cfg)
    y = data[f"y_{cfg.column}"]
    pool = data.train_mask & (y >= 0)
    torch.manual_seed(seed)
    module, stats = fit_round(round_graph(data, pool, cfg.column), cfg)
    return _row("supervised", seed, -1, pool, module, data, stats, cfg)


def simulate(data, cfg: ActiveConfig, progress=None) -> pd.DataFrame:
    """Run every seed: rows ``strategy, seed, round, labels, test_macro_f1, best_val_macro_f1,
    best_epoch, epochs``; the fully supervised reference has ``strategy == "supervised"``."""
    rows = []
    for seed in range(cfg.first_seed, cfg.first_seed + cfg.seeds):
        rows.append(supervised_reference(data, cfg, seed))
        if progress:
            progress(rows[-1])
        rows += simulate_seed(data, cfg, seed, progress)
    return pd.DataFrame(rows)


def labels_to_reach(curves: pd.DataFrame, fraction: float = 0.9) -> pd.DataFrame:
    """Labels each strategy needs for ``fraction`` of the fully supervised test macro-F1.

    The target is ``fraction`` x the mean supervised macro-F1 over seeds; a strategy's
    number is the first ``labels`` at which its *mean curve over seeds* reaches it (NaN if it
    never does; ``per_seed`` gives each seed's own first crossing). Returns one row per
    strategy: ``strategy, labels_needed, per_seed, target, final_macro_f1``, and
    ``vs_random`` (labels_needed / random's).

    Example:
        >>> df = pd.DataFrame({"strategy": ["supervised", "a", "a", "random", "random"],
        ...                    "seed": 0, "labels": [100, 10, 20, 10, 20],
        ...                    "test_macro_f1": [1.0, 0.5, 0.95, 0.5, 0.7]})
        >>> labels_to_reach(df)[["strategy", "labels_needed"]].values.tolist()
        [['a', 20.0], ['random', nan]]
    """
    target = fraction * curves.loc[curves.strategy == "supervised", "test_macro_f1"].mean()
    rows = []
    for strategy, g in curves[curves.strategy != "supervised"].groupby("strategy", sort=False):
        mean = g.groupby("labels")["test_macro_f1"].mean().sort_index()
        hit = mean.index[mean.to_numpy() >= target]
        per_seed = [float(s.sort_values("labels").loc[s.test_macro_f1 >= target, "labels"].min())
                    for _, s in g.groupby("seed")]
        rows.append({"strategy": strategy, "labels_needed": float(hit[0]) if len(hit) else np.nan,
                     "per_seed": per_seed, "target": float(target),
                     "final_macro_f1": float(mean.iloc[-1])})
    out = pd.DataFrame(rows)
    rand = out.loc[out.strategy == "random", "labels_needed"]
    out["vs_random"] = out["labels_needed"] / (float(rand.iloc[0]) if len(rand) else np.nan)
    return out

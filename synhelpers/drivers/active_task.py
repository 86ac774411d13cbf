"""The active-learning simulation of notebook 08 on the profile's synthetic connectome, with
saved results reused (one CSV per seed), and its figure.

Each seed's rows are saved as ``runs_dir/seed<k>.csv`` beside ``active.json`` (the settings
and the graph's fingerprint); a later call with the same settings and graph reads them back
instead of simulating again, so seeds can run in parallel processes
(``python benchmarks/bench_active.py --first-seed K --seeds 1``) and the notebook only draws.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..answers.active_loop import ActiveConfig, labels_to_reach, simulate
from ..graph import GraphConfig, build_cached, graph_fingerprint
from ..io import read_json, write_json
from ..tables.synthetic import SyntheticConfig, ensure_synthetic
from . import profile as profiles

__all__ = ["ActiveResult", "run_active", "run_active_task", "plot_active_curves"]

STRATEGY_COLORS = {"margin": "#4c72b0", "entropy": "#55a868", "bald": "#c44e52",
                   "coreset": "#8172b2", "random": "#7f7f7f"}


@dataclass
class ActiveResult:
    """Curves (one row per strategy, seed, round), labels needed, and what they came from."""

    curves: pd.DataFrame
    reach: pd.DataFrame
    config: ActiveConfig
    dataset: str
    fraction: float

    @property
    def supervised(self) -> tuple[float, float]:
        """Mean and std (over seeds) of the fully supervised test macro-F1."""
        s = self.curves.loc[self.curves.strategy == "supervised", "test_macro_f1"]
        return float(s.mean()), float(s.std(ddof=1)) if len(s) > 1 else 0.0


def _settings(data, cfg: ActiveConfig) -> dict:
    one = replace(cfg, seeds=1, first_seed=0, num_threads=None)  # what a seed's rows depend on
    return json.loads(json.dumps({"config": one.to_dict(), "data_fingerprint": graph_fingerprint(data)}))


def run_active(data, cfg: ActiveConfig, runs_dir, *, retrain: bool = False, fraction: float = 0.9,
               verbose: bool = True) -> ActiveResult:
    """Simulate the seeds of ``cfg`` not yet saved in ``runs_dir`` (all with ``retrain``) and
    return every seed's curves with :func:`~synhelpers.answers.active_loop.labels_to_reach`."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    settings, meta_file = _settings(data, cfg), runs_dir / "active.json"
    if retrain or not meta_file.exists() or read_json(meta_file) != settings:
        for old in runs_dir.glob("seed*.csv"):
            old.unlink()
        write_json(meta_file, settings)
    parts = []
    for seed in range(cfg.first_seed, cfg.first_seed + cfg.seeds):
        f = runs_dir / f"seed{seed}.csv"
        if not f.exists():
            df = simulate(data, replace(cfg, seeds=1, first_seed=seed))
            df.to_csv(f.with_suffix(".tmp"), index=False)
            f.with_suffix(".tmp").replace(f)
            how = "simulated"
        else:
            how = "reused"
        parts.append(pd.read_csv(f))
        if verbose:
            print(f"seed {seed}: {how} ({f})", flush=True)
    curves = pd.concat(parts, ignore_index=True)
    return ActiveResult(curves, labels_to_reach(curves, fraction), cfg,
                        str(getattr(data, "dataset_name", "graph")), fraction)


def run_active_task(*, profile: str | None = None, retrain: bool = False, fraction: float = 0.9,
                    **overrides) -> ActiveResult:
    """:func:`run_active` on the profile's synthetic connectome (2,000 neurons by default), seeds
    from the profile, into ``runs_dir/active_<column>``. ``overrides``: :class:`ActiveConfig`
    fields. The small profile uses a short schedule (2 rounds, a few epochs)."""
    P = profiles.resolve(profile)
    tables = P.data_dir / "synthetic"
    ensure_synthetic(SyntheticConfig(n_neurons=P.n_neurons, seed=0), tables)
    data = build_cached(tables, tables / "graph", GraphConfig(min_class_count=P.min_class_count))
    base = {"seeds": P.seeds}
    if P.is_small:
        base.update(rounds=2, batch=5, max_epochs=P.max_epochs, min_epochs=1, patience=2, mc_samples=3)
    cfg = ActiveConfig(**{**base, **overrides})
    return run_active(data, cfg, P.runs_dir / f"active_{cfg.column}", retrain=retrain,
                      fraction=fraction)


def plot_active_curves(result: ActiveResult, title: str = ""):
    """Test macro-F1 against labelled neurons: mean over seeds per strategy with a band
    (min..max over seeds), the fully supervised mean and the ``fraction`` target as lines."""
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    c = result.curves
    for strategy, g in c[c.strategy != "supervised"].groupby("strategy", sort=False):
        stats = g.groupby("labels")["test_macro_f1"].agg(["mean", "min", "max"]).sort_index()
        color = STRATEGY_COLORS.get(strategy)
        ax.plot(stats.index, stats["mean"], marker=".", color=color, label=strategy)
        ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.15, lw=0)
    sup, _ = result.supervised
    n_pool = int(c.loc[c.strategy == "supervised", "labels"].max())
    ax.axhline(sup, color="k", lw=1, label=f"fully supervised ({n_pool} labels)")
    ax.axhline(result.fraction * sup, color="k", lw=1, ls="--",
               label=f"{result.fraction:.0%} of fully supervised")
    for _, r in result.reach.iterrows():
        if np.isfinite(r.labels_needed):
            ax.plot(r.labels_needed, result.fraction * sup, "v", ms=8,
                    color=STRATEGY_COLORS.get(r.strategy), mec="k", mew=0.5)
    seeds = c["seed"].nunique()
    ax.set(xlabel="labelled neurons", ylabel="test macro-F1",
           title=title or f"{result.config.model}, {result.config.column}: {seeds} seed(s), "
                          "band = min..max over seeds")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig

"""The answers behind notebook 06: saved runs of a task, one run's predictions and embeddings,
and its answers on another individual of the synthetic design.

:func:`task_answers` reads every run that notebook 03 (or 04) saved for the task on the
profile's synthetic connectome (``runs/train_<task>/<model>_<mode>``, trained on this graph);
when the chosen model has no saved transductive run it trains that model in both modes with
:func:`~synhelpers.drivers.ablation.run_task` (saved runs with the same settings are reused),
so the notebook also runs on a fresh checkout. Predictions and embeddings are written next to
the run (``predictions.parquet``, ``embeddings.parquet``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..answers.embed import embed, write_embeddings
from ..answers.load import load_run
from ..answers.predict import predict, test_scores, write_predictions
from ..graph import GraphConfig, build_cached, graph_fingerprint
from ..io import read_json
from ..tables.synthetic import SyntheticConfig, ensure_synthetic
from . import profile as profiles
from .ablation import CEILING_KEYS, run_task

__all__ = ["Answers", "saved_runs", "task_answers", "individual_answers"]


@dataclass
class Answers:
    """One task's saved runs and one run's answers (see :func:`task_answers`)."""

    task: str
    model: str
    dataset: str
    data: object                   # the graph
    runs: dict[str, dict]          # "model/mode" -> metrics.json, every saved run of the task
    run_dir: Path                  # the run whose answers these are
    predictions: pd.DataFrame
    embeddings: pd.DataFrame
    ceiling: dict
    class_dependency: dict | None  # synthetic class -> "synapse" | "wiring" | "both"
    tables_dir: Path

    @property
    def seeds(self) -> int:
        """Seeds of the answering run."""
        return len(self.runs[f"{self.model}/transductive"]["seeds"])


def saved_runs(runs_dir, fingerprint: str | None = None) -> dict[str, dict]:
    """``{"model/mode": metrics}`` of every ``runs_dir/<model>_<mode>/metrics.json`` (trained
    on the graph with ``fingerprint``, when given), transductive runs first."""
    out = {}
    for f in sorted(Path(runs_dir).glob("*_*/metrics.json")):
        m = read_json(f)
        if fingerprint is None or m.get("data_fingerprint") == fingerprint:
            out[f"{m['model']}/{m.get('mode', 'transductive')}"] = m
    order = {"transductive": 0, "inductive": 1}
    return dict(sorted(out.items(), key=lambda kv: order.get(kv[0].split("/")[1], 2)))


def _answers_of(run_dir: Path, data, combine: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    run = load_run(run_dir)
    predictions, embeddings = predict(run, data, combine=combine), embed(run, data)
    write_predictions(predictions, run_dir / "predictions.parquet")
    write_embeddings(embeddings, run_dir / "embeddings.parquet")
    return predictions, embeddings


def task_answers(task: str = "cell_class", *, profile: str | None = None, model: str = "hybrid",
                 combine: str = "mean", train_if_missing: bool = True) -> Answers:
    """Saved runs of ``task`` on the profile's synthetic connectome, and ``model``'s
    transductive run's predictions (seeds combined by ``combine``) and embeddings.

    Raises:
        FileNotFoundError: ``model`` has no saved run and ``train_if_missing`` is False.
    """
    P = profiles.resolve(profile)
    tables_dir = P.data_dir / "synthetic"
    ensure_synthetic(SyntheticConfig(n_neurons=P.n_neurons, seed=0), tables_dir)
    data = build_cached(tables_dir, tables_dir / "graph", GraphConfig(min_class_count=P.min_class_count))
    runs_dir = P.runs_dir / f"train_{task}"
    runs = saved_runs(runs_dir, graph_fingerprint(data))
    if f"{model}/transductive" not in runs:
        if not train_if_missing:
            raise FileNotFoundError(f"{runs_dir}: no saved {model} run for {task}; run notebook "
                                    f"03/04 or pass train_if_missing=True")
        run_task(task, profile=profile, models=(model,), inductive_models=(model,))
        runs = saved_runs(runs_dir, graph_fingerprint(data))
    predictions, embeddings = _answers_of(runs_dir / f"{model}_transductive", data, combine)
    meta = read_json(tables_dir / "synthetic.json")
    f1_key, acc_key = CEILING_KEYS[task]
    return Answers(task, model, data.dataset_name, data, runs, runs_dir / f"{model}_transductive",
                   predictions, embeddings, {"macro_f1": meta[f1_key], "accuracy": meta[acc_key]},
                   meta.get("class_dependency") if task == "cell_class" else None, tables_dir)


def individual_answers(answers: Answers, individual: int = 1, *,
                       profile: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Predictions of the answering run on another individual of the same synthetic design
    (tables the run never saw, through the inductive path), and ``{column: (macro-F1, n)}``."""
    P = profiles.resolve(profile)
    cfg = SyntheticConfig(n_neurons=P.n_neurons, seed=0, individual=individual)
    tables = ensure_synthetic(cfg, P.data_dir / f"synthetic_individual{individual}")
    df = predict(answers.run_dir, tables, new_connectome=True)
    return df, test_scores(df, df.attrs["synhelpers"]["label_names"])

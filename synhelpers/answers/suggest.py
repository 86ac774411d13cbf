"""``suggest``: rank a trained run's unlabelled neurons for annotation (active learning).

The strategies are those of :mod:`synhelpers.answers.active` (``margin``, ``entropy``, ``bald``
with Monte-Carlo dropout, ``coreset`` on the fused representation, ``random``). The table
(:func:`suggest`) has one row per suggested neuron, best first: ``rank``, ``bodyId``,
``connectome``, ``score`` (higher = ask first), ``prediction`` and ``probability`` (the
run's current prediction and its softmax probability) and, for ``coreset``,
``nearest_labelled_bodyId``, ``nearest_labelled_class`` and ``nearest_labelled_distance``
(Euclidean, in units of the fused embedding).

Candidates are the neurons without a label in the column (``y < 0``); "labelled" (for
``coreset``) is every neuron with one, in any split.

Example::

    python -m synhelpers suggest --run runs/quickstart/hybrid --n 50 --strategy margin --out next.csv
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ..errors import RunError
from ..graph.cache import graph_fingerprint, load_data
from .active import mc_dropout_probs, rank_candidates
from .config import STRATEGIES, SuggestConfig
from .load import load_run, read_metrics, with_run_context

__all__ = ["suggest", "load_trained", "SUGGEST_COLUMNS"]

#: Columns of every suggestion table (``coreset`` adds three ``nearest_labelled_*`` columns).
SUGGEST_COLUMNS = ("rank", "bodyId", "connectome", "score", "prediction", "probability")
_D = SuggestConfig()  # the defaults (shared with the command line)


def load_trained(run_dir, data=None, seed_index: int = 0):
    """``(model, metrics, data)``: the selected checkpoint of one seed of a saved run (the
    registry model, eval mode, through :func:`~synhelpers.answers.load.load_run`, so Lightning is
    never imported), and its graph (``data``, else the run's recorded ``data_path``).

    Raises:
        RunError: no ``metrics.json``, no such seed, no graph to load, or a graph that is not
            the one the run was trained on (fingerprints differ).
    """
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.json").exists():
        raise RunError(f"{run_dir}: no metrics.json (not a run folder from `train`)")
    metrics = read_metrics(run_dir)
    seeds = metrics.get("seeds", [])
    if not 0 <= seed_index < len(seeds):
        raise RunError(f"{run_dir}: seed index {seed_index} not in the run's {len(seeds)} seed(s)")
    if data is None:
        if "data_path" not in metrics:
            raise RunError(f"{run_dir}/metrics.json records no data_path; pass --data GRAPH_FOLDER")
        data = metrics["data_path"]
    if not hasattr(data, "edge_index"):
        data = load_data(data)
    if graph_fingerprint(data) != metrics.get("data_fingerprint"):
        raise RunError(f"{run_dir}: the graph differs from the one the run was trained on "
                       f"(fingerprint {graph_fingerprint(data)} != {metrics.get('data_fingerprint')})")
    entry = seeds[seed_index]
    run = load_run(run_dir, split=int(entry.get("split", 0)), seeds=[int(entry["seed"])])
    return run.model, metrics, with_run_context(run, data, data.train_mask)


def _inputs(model, data, column: str, strategy: str, mc_samples: int, seed: int) -> dict:
    """The strategy's input: probs, MC-dropout probs or fused embeddings."""
    if strategy == "bald":
        return {"mc_probs": mc_dropout_probs(lambda: model(data)[column], model, T=mc_samples, seed=seed)}
    if strategy == "coreset":
        if not hasattr(model, "embed"):
            raise RunError(f"strategy 'coreset' needs a model with embed(); {type(model).__name__} "
                           "has none (use margin, entropy, bald or random)")
        with torch.no_grad():
            return {"embeddings": model.embed(data)["fused"]}
    return {}


def suggest(run_dir, *, n: int = _D.n, strategy: str = _D.strategy, data=None,
            label: str | None = None, seed_index: int = 0, mc_samples: int = _D.mc_samples,
            seed: int = _D.seed) -> pd.DataFrame:
    """The ``n`` unlabelled neurons to annotate first (columns in the module docstring).

    Args:
        run_dir: a run folder from ``train``.
        n: how many neurons to suggest.
        strategy: one of :data:`~synhelpers.answers.active.STRATEGIES`.
        data: its graph (None: ``metrics.json``'s ``data_path``).
        label: the label column (default: the run's first).
        seed_index: which seed's checkpoint. mc_samples: MC-dropout passes for ``bald``.
        seed: for ``random``, ``bald`` and ``coreset``.

    Returns:
        A DataFrame of ``n`` rows (fewer if fewer neurons lack a label), best first:
        :data:`SUGGEST_COLUMNS` (``rank`` 1 = ask first), plus ``nearest_labelled_bodyId``,
        ``nearest_labelled_class`` and ``nearest_labelled_distance`` for ``coreset``.

    Raises:
        RunError: an unknown strategy or label column; see :func:`load_trained`.

    Example:
        >>> STRATEGIES
        ('margin', 'entropy', 'bald', 'coreset', 'random')

        With a trained run:

        >>> table = suggest("runs/hybrid", n=3, strategy="margin")  # doctest: +SKIP
        >>> table.columns.tolist(), table["rank"].tolist()  # doctest: +SKIP
        (['rank', 'bodyId', 'connectome', 'score', 'prediction', 'probability'], [1, 2, 3])
    """
    if strategy not in STRATEGIES:
        raise RunError(f"unknown strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}")
    model, metrics, data = load_trained(run_dir, data, seed_index)
    column = label or metrics["label_columns"][0]
    if column not in metrics["label_columns"]:
        raise RunError(f"--label {column!r}: the run predicts {metrics['label_columns']}")
    y = data[f"y_{column}"]
    with torch.no_grad():
        probs = model(data)[column].float().softmax(-1)
    table = rank_candidates(strategy, probs=probs, labelled_mask=y >= 0, candidate_mask=y < 0,
                            n=n, seed=seed, **_inputs(model, data, column, strategy, mc_samples, seed))
    return _as_table(table, data, column, probs)


def _as_table(table: pd.DataFrame, data, column: str, probs: torch.Tensor) -> pd.DataFrame:
    names = list(data.label_names[column])
    idx = torch.as_tensor(table["index"].to_numpy().copy())
    conn = data.connectome[idx] if "connectome" in data else torch.zeros_like(idx)
    conn_names = list(getattr(data, "connectome_names", None) or [str(getattr(data, "dataset_name", ""))])
    best = probs[idx].max(-1)
    out = pd.DataFrame({
        "rank": table["rank"].to_numpy(), "bodyId": data.body_id[idx].numpy(),
        "connectome": [conn_names[int(c)] for c in conn], "score": table["score"].to_numpy(),
        "prediction": [names[int(i)] for i in best.indices], "probability": best.values.numpy(),
    })
    if "nearest_labelled" in table:
        near = torch.as_tensor(table["nearest_labelled"].to_numpy().copy())
        ok = near >= 0
        safe = near.clamp_min(0)
        out["nearest_labelled_bodyId"] = torch.where(ok, data.body_id[safe], -1).numpy()
        out["nearest_labelled_class"] = [names[int(c)] if k else "" for c, k in
                                         zip(data[f"y_{column}"][safe], ok)]
        out["nearest_labelled_distance"] = table["distance"].to_numpy()
    return out

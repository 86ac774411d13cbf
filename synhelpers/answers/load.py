"""Reload a saved run, and check (or align) the graph it is asked to answer about.

:func:`load_run` reads ``metrics.json`` and the selected checkpoint of every seed of one split
(``torch.load(..., weights_only=True)``: a checkpoint holds tensors and plain values only, so a
crafted file cannot run code) and rebuilds each registry model from the saved hyperparameters,
without Lightning (importing it costs seconds, and answering needs no trainer). The Lightning
way works too, since the module saves its hyperparameters as plain dicts::

    NodeClassifier.load_from_checkpoint("runs/hybrid/seed0/best.ckpt", weights_only=True)

:func:`prepare_graph` decides what a run may answer about:

- the graph it was trained on (the same :func:`~synhelpers.graph.cache.graph_fingerprint`):
  every neuron keeps its split (``train``/``val``/``test``, ``unlabelled`` where it has no
  label in any of the run's label columns);
- another graph: refused in one line, unless ``new_connectome=True`` and the model can embed
  neurons it never saw (``ModelSpec.inductive``); then the graph is aligned to the run's
  vocabularies (:func:`~synhelpers.train.vocab.align_graph`) and every labelled neuron is
  ``test`` (the run saw none of them). Every class the run knows is scored there: the new
  connectome's graph keeps classes with few neurons (``min_class_count`` is not applied to it
  alone), so the score agrees with a graph built with ``--test-connectome``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import RunError
from ..graph.cache import graph_fingerprint, load_data
from ..graph.config import SPLITS
from ..graph.label_context import with_label_context
from ..io import read_json
from ..models import ModelConfig, build_model, get_spec
from ..train.checks import check_views
from ..train.config import TrainConfig
from ..train.vocab import Alignment, align_graph, label_strings

__all__ = ["LoadedRun", "load_run", "load_model", "prepare_graph", "PreparedGraph",
           "with_run_context", "read_metrics", "check_identity"]


@dataclass
class LoadedRun:
    """A saved run, ready to answer.

    Attributes:
        path: the run folder. metrics: its ``metrics.json``.
        model_name / mode / label_columns: what was trained, how, on which label columns.
        fingerprint: the graph fingerprint it was trained on.
        vocabulary: ``roi_names``, ``label_names`` ... it was trained with (``None`` for runs
            trained before runs recorded them).
        train_config / model_config: the configurations, as dataclasses.
        models: one registry model (``nn.Module``) per seed of ``split``, in eval mode.
        seeds: their seed values. split: the split they were trained on (0: the graph's own).
    """

    path: Path
    metrics: dict
    model_name: str
    mode: str
    label_columns: list[str]
    fingerprint: str
    vocabulary: dict | None
    train_config: TrainConfig
    model_config: ModelConfig
    models: list[torch.nn.Module]
    seeds: list[int]
    split: int = 0

    @property
    def model(self) -> torch.nn.Module:
        """The first seed's model."""
        return self.models[0]

    @property
    def inductive(self) -> bool:
        """Whether the model can embed neurons it never saw (a new connectome)."""
        return get_spec(self.model_name).inductive

    def __repr__(self) -> str:
        return (f"LoadedRun({self.model_name!r}, {str(self.path)!r}, labels={self.label_columns}, "
                f"mode={self.mode!r}, seeds={self.seeds}, split={self.split})")

    def predict(self, data, *, combine: str = "mean", new_connectome: bool = False,
                coverage: float | None = None):
        """Per-neuron predictions, as ``python -m synhelpers predict`` writes them.

        ``data``: a graph or graph folder, a tables folder, or a
        :class:`~synhelpers.tables.contract.Connectome` (e.g. ``synhelpers.from_frames(neurons,
        connections, synapses)``). Returns a DataFrame; see
        :func:`synhelpers.answers.predict.predict` for the columns and the other arguments.

        Example:
            >>> run = load_run("runs/quickstart/hybrid")  # doctest: +SKIP
            >>> run.predict("data/synthetic/graph")["cell_class__pred"].head(3)  # doctest: +SKIP
        """
        from .predict import predict

        return predict(self, data, combine=combine, new_connectome=new_connectome,
                       coverage=coverage)

    def embed(self, data, *, seed: int | None = None, new_connectome: bool = False):
        """Per-neuron representations, as ``python -m synhelpers embed`` writes them (``data``
        as in :meth:`predict`); see :func:`synhelpers.answers.embed.embed`."""
        from .embed import embed

        return embed(self, data, seed=seed, new_connectome=new_connectome)


def load_model(checkpoint, device="cpu") -> tuple[torch.nn.Module, dict]:
    """The registry model saved in a Lightning checkpoint of
    :class:`~synhelpers.train.module.NodeClassifier` (eval mode), and its hyperparameters
    (``model_name``, ``model_cfg``, ``train_cfg``, ``columns``).

    Raises:
        RunError: the file is missing, holds no hyperparameters, or holds weights of another
            version of the model (a run saved before the model changed: retrain it).
    """
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise RunError(f"checkpoint {checkpoint} not found (was the run folder moved or pruned?)")
    try:
        ckpt = torch.load(checkpoint, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a damaged file
        raise RunError(f"{checkpoint}: not a readable checkpoint (truncated or damaged: "
                       f"{one_line(e)[:80]}); retrain the run (train --overwrite)") from None
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not hp or "model_name" not in hp or "state_dict" not in ckpt:
        raise RunError(f"{checkpoint}: no saved hyperparameters (not a synhelpers checkpoint)")
    model = build_model(hp["model_name"], ModelConfig(**hp["model_cfg"]))
    # NodeClassifier keeps the registry model as ``self.model``: its keys start with "model."
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
    wanted = model.state_dict()
    differ = sorted(set(state) ^ set(wanted)) or sorted(
        k for k in state if state[k].shape != wanted[k].shape)
    if differ:
        raise RunError(f"{checkpoint}: weights of another version of model {hp['model_name']!r} "
                       f"({len(differ)} differ, e.g. {differ[0]}); retrain the run "
                       "(train --overwrite)")
    model.load_state_dict(state)
    return model.to(device).eval(), hp


def one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def read_metrics(path: Path) -> dict:
    """``path/metrics.json`` as a dict (RunError in one line when it is not)."""
    try:
        metrics = read_json(path / "metrics.json")
    except (OSError, ValueError) as e:
        raise RunError(f"{path / 'metrics.json'}: not readable JSON ({one_line(e)[:80]}); the "
                       "run is damaged: retrain it (train --overwrite)") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("seeds", []), list):
        raise RunError(f"{path / 'metrics.json'}: not a run's metrics (no list of seeds); "
                       "retrain the run (train --overwrite)")
    return metrics


def _checkpoint_path(path: Path, record: dict) -> Path:
    """The seed's checkpoint, which must lie inside the run folder (a path recorded in
    metrics.json that leads elsewhere is refused, never followed)."""
    name = str(record.get("checkpoint") or "")
    f = path / name
    if not name or Path(name).is_absolute() or not f.resolve().is_relative_to(path.resolve()):
        raise RunError(f"{path / 'metrics.json'}: checkpoint {name!r} of seed {record.get('seed')} "
                       "is not inside the run folder; refused (retrain the run)")
    return f


def check_identity(path: Path, metrics: dict, record: dict, hp: dict) -> None:
    """Refuse a checkpoint that is not this run's: its saved graph fingerprint, run id or seed
    tag differ from the run's (a checkpoint of another run with the same shapes copied in).

    Checkpoints of runs trained before checkpoints carried their identity (metrics.json has no
    ``run_id``) are accepted as they are: there is nothing to check them against. In a run
    that has a ``run_id``, a checkpoint without one is refused.
    """
    rid = metrics.get("run_id")
    if not rid:
        return
    ident = hp.get("identity") or {}
    want = {"data_fingerprint": metrics.get("data_fingerprint"), "run_id": rid,
            "tag": Path(str(record["checkpoint"])).parent.as_posix()}
    differ = [k for k, v in want.items() if ident.get(k) != v]
    if differ:
        raise RunError(f"{path / str(record['checkpoint'])}: not this run's checkpoint (its "
                       f"{', '.join(differ)} differ from {path}'s: weights of another run or "
                       "graph copied in); retrain the run (train --overwrite)")


def _seed_records(metrics: dict, path: Path, split: int) -> list[dict]:
    if metrics.get("not_applicable"):
        raise RunError(f"{path}: the run has no model ({metrics['not_applicable']})")
    records = [s for s in metrics.get("seeds", []) if int(s.get("split", 0)) == split]
    if not records:
        have = sorted({int(s.get("split", 0)) for s in metrics.get("seeds", [])})
        raise RunError(f"{path}: no trained seed for split {split} (splits present: {have or 'none'})")
    return records


def load_run(path, *, split: int = 0, seeds=None, device="cpu") -> LoadedRun:
    """Reload the run in folder ``path`` (``metrics.json`` and ``seed*/best.ckpt``).

    Args:
        path: a run folder written by :func:`~synhelpers.train.run.run_training`.
        split: which split's seeds to load (0: the graph's own split, the one predictions use).
        seeds: seed values to load (default: every seed of ``split``).
        device: where to put the models.

    Returns:
        A :class:`LoadedRun`: one model per seed (eval mode, on ``device``), the train and
        model configurations, the label columns and the fingerprint of the graph trained on.

    Raises:
        RunError: no ``metrics.json``, a run with no model, a missing checkpoint or seed.

    Example:
        Needs a run trained with ``--label cell_class --seeds 3``.

        >>> from synhelpers.graph import load_graph
        >>> run = load_run("runs/hybrid")  # doctest: +SKIP
        >>> run.model_name, run.label_columns, run.seeds, run.model_config.hidden  # doctest: +SKIP
        ('hybrid', ['cell_class'], [0, 1, 2], 64)
        >>> logits = run.model(load_graph("data/synthetic/graph"))  # doctest: +SKIP
        >>> list(logits)  # {label column: (N, classes) logits}  # doctest: +SKIP
        ['cell_class']
    """
    path = Path(path)
    if not (path / "metrics.json").is_file():
        raise RunError(f"{path}: no metrics.json; not a run folder (train one with "
                       "`python -m synhelpers train --data DATA --out RUN`)")
    metrics = read_metrics(path)
    records = _seed_records(metrics, path, split)
    if seeds is not None:
        wanted = [int(s) for s in ([seeds] if np.isscalar(seeds) else seeds)]
        missing = sorted(set(wanted) - {int(r["seed"]) for r in records})
        if missing:
            raise RunError(f"{path}: seed(s) {missing} not in split {split}; seeds are "
                           f"{[int(r['seed']) for r in records]}")
        records = [r for r in records if int(r["seed"]) in wanted]
    loaded = [load_model(_checkpoint_path(path, r), device) for r in records]
    for r, (_, hp) in zip(records, loaded):
        check_identity(path, metrics, r, hp)
    hp = loaded[0][1]
    return LoadedRun(
        path=path, metrics=metrics, model_name=metrics["model"], mode=metrics.get("mode", ""),
        label_columns=list(metrics.get("label_columns") or hp["columns"]),
        fingerprint=metrics.get("data_fingerprint", ""), vocabulary=metrics.get("trained_on"),
        train_config=TrainConfig(**hp["train_cfg"]), model_config=ModelConfig(**hp["model_cfg"]),
        models=[m for m, _ in loaded], seeds=[int(r["seed"]) for r in records], split=split)


@dataclass
class PreparedGraph:
    """A graph a run may answer about, in the run's vocabularies.

    Attributes:
        graph: what the model reads. new_connectome: the run never saw this graph.
        true_labels: label column -> (N,) object, published class names (``None``: none).
        split: (N,) object, ``train``/``val``/``test``/``unlabelled``.
        connectome: (N,) object, each neuron's connectome name.
        alignment: what aligning changed (``None`` on the run's own graph).
    """

    graph: object
    new_connectome: bool
    true_labels: dict[str, np.ndarray]
    split: np.ndarray
    connectome: np.ndarray
    fingerprint: str
    alignment: Alignment | None = None


def _refusal(run: LoadedRun, fp: str) -> str:
    base = (f"{run.path} was trained on graph {run.fingerprint}, not on this graph ({fp}: other "
            "tables, builder settings or split)")
    if run.inductive:
        return base + ("; answer on the graph it was trained on, or on tables it never saw with "
                       "--new-connectome (new_connectome=True)")
    return base + (f"; model {run.model_name!r} is transductive only (one learned row per "
                   "training neuron), so it answers only on the graph it was trained on")


def _check_new(run: LoadedRun) -> None:
    if not run.inductive:
        raise RunError(f"model {run.model_name!r} is transductive only (one learned row per "
                       "training neuron): it cannot answer about a connectome it never saw")
    if run.vocabulary is None:
        raise RunError(f"{run.path} was trained before runs recorded their ROIs and classes "
                       "(metrics.json has no 'trained_on'); retrain it to answer on new tables")


def _connectome_names(data) -> np.ndarray:
    names = np.asarray(getattr(data, "connectome_names", None)
                       or [str(getattr(data, "dataset_name", ""))], dtype=object)
    conn = data.connectome.numpy() if "connectome" in data else np.zeros(data.num_nodes, int)
    return names[conn]


def with_run_context(run: LoadedRun, graph, known):
    """``graph`` as the run's models read it: with label-context features from the ``known``
    neurons' labels when the run was trained with ``label_context`` (on the run's own graph,
    its labelled training neurons; never validation or test labels), else unchanged."""
    if not run.train_config.label_context:
        return graph
    return with_label_context(graph, run.label_columns, known)


def _as_graph(data):
    """A graph from a graph, a graph or tables folder, or in-memory tables (a ``Connectome``,
    built with the default settings, as ``build`` would)."""
    if hasattr(data, "edge_index"):
        return data
    if hasattr(data, "neurons") and hasattr(data, "connections"):
        from ..graph.build import build_graph

        return build_graph(data)
    return load_data(data)


def _every_class(graph, source):
    """The new connectome's graph with every published class kept (``min_class_count=1``):
    the run's vocabulary decides which neurons are scored, not the new connectome's own class
    counts (a class the run knows with few neurons there is still scored, as it is in a graph
    built with ``--test-connectome``). Rebuilt from ``source`` (tables, a tables folder or a
    graph folder of one tables folder) only where the builder masked a small class."""
    info = getattr(graph, "label_info", None) or {}
    if not any(i.get("n_masked_small_class") for i in info.values()):
        return graph
    from dataclasses import replace

    from ..graph.build import build_graph
    from ..graph.config import GraphConfig
    from ..graph.sources import config_of
    from ..tables.contract import load_tables

    if hasattr(source, "neurons"):
        con, cfg = source, GraphConfig()
    elif (Path(source) / "neurons.parquet").is_file():
        con, cfg = load_tables(source), GraphConfig()
    else:
        meta = read_json(Path(source) / "graph.json") if not hasattr(source, "edge_index") else {}
        tables, cfg = meta.get("tables") or [], config_of(meta)
        if len(tables) != 1 or cfg is None or not (Path(tables[0]) / "neurons.parquet").is_file():
            return graph  # an in-memory graph, or one of several connectomes: as it was built
        con = load_tables(tables[0])
    return build_graph(con, replace(cfg, min_class_count=1))


def prepare_graph(run: LoadedRun, data, *, new_connectome: bool = False) -> PreparedGraph:
    """Check ``data`` (a graph, or a graph or tables folder) against ``run``; align it when it
    is a connectome the run never saw. See the module docstring for the rules.

    Raises:
        RunError: another graph without ``new_connectome``; a transductive-only model or a run
            without recorded vocabularies on a new connectome; a view the model needs is missing.
    """
    source, data = data, _as_graph(data)
    fp = graph_fingerprint(data)
    cols = run.label_columns
    if fp == run.fingerprint:
        labelled = np.zeros(data.num_nodes, bool)
        for c in cols:
            labelled |= data[f"y_{c}"].numpy() >= 0
        split = np.full(data.num_nodes, "unlabelled", dtype=object)
        for name in SPLITS:
            split[data[f"{name}_mask"].numpy() & labelled] = name
        return PreparedGraph(with_run_context(run, data, data.train_mask), False,
                             {c: label_strings(data, c) for c in cols}, split,
                             _connectome_names(data), fp)
    if not new_connectome:
        raise RunError(_refusal(run, fp))
    _check_new(run)
    data = _every_class(data, source)
    graph, alignment = align_graph(data, run.vocabulary, gap_junctions=run.model_config.gap_junctions)
    check_views(run.model_name, graph)
    labelled = np.any([pd.notna(alignment.true_labels[c]) for c in cols], axis=0)
    split = np.where(labelled, "test", "unlabelled").astype(object)
    # a connectome the run never saw: none of its labels is an input (all are scored)
    graph = with_run_context(run, graph, torch.zeros(int(graph.num_nodes), dtype=torch.bool))
    return PreparedGraph(graph, True, alignment.true_labels, split, _connectome_names(data), fp,
                         alignment)


"""``run_training``: N seeds of one model on one task, honest selection, one test evaluation.

For each seed: seed everything; train on the training graph (test labels hidden; in
inductive mode test neurons and their connections removed) with Lightning, AdamW, early
stopping and checkpointing on validation macro-F1; reload the best checkpoint; evaluate the
test split exactly once on the full graph. Each finished seed is saved as
``seed<k>/result.json``; ``metrics.json`` (written once, atomically, at the end) holds::

    {"model", "task", "mode", "config", "seeds": [{"seed", "test_accuracy", "test_macro_f1",
     "test_balanced_accuracy", "test_per_class_f1", "test_confusion_matrix", "best_val_macro_f1",
     "best_epoch", "epochs", "epoch_time_s", "peak_memory_mb", "device", "history", ...}],
     "mean": {...}, "std": {...}}

``trained_on`` holds the ROI and class names the model was built on
(:func:`~synhelpers.train.vocab.run_vocabulary`; ``predict`` aligns new connectomes to them).
Fractions are in 0..1. The run folder also holds ``seed<k>/best.ckpt`` and TensorBoard logs
under ``tb/`` (hyperparameters in ``tb/seed<k>/hparams.yaml``).
"""

from __future__ import annotations

import logging
import resource
import shutil
import time
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch

from ..graph.cache import graph_fingerprint, load_data
from ..graph.label_context import with_label_context
from ..graph.split import budgeted_split, split_frame, with_split
from ..graph.views import inductive_train_graph
from ..io import read_json, write_parquet
from ..models import ModelConfig, get_spec
from .augmenting import tta_forward
from .checks import check_run
from .config import TrainConfig
from .distributed import (
    Launch,
    is_global_zero,
    process_rank,
    recorder_from_env,
    resolve_launch,
    trainer_kwargs,
)
from .metrics import classification_metrics, macro_f1, summarise_seeds
from .minibatch import (
    EpochClock,
    SeedDataModule,
    check_scale,
    eval_chunk_for,
    resolve_batch_size,
    sampling_fanouts,
    training_seeds,
)
from .model_card import write_model_card
from .module import (
    EpochStats,
    GraphDataModule,
    NodeClassifier,
    hide_test_labels,
    label_mask,
    train_class_counts,
)
from .progress import EpochProgress
from .run_folder import (
    finished_seed,
    open_run_folder,
    run_id,
    run_state,
    save_seed,
    write_metrics,
)
from .tensorboard import log_final_scores
from .vocab import run_vocabulary

__all__ = ["run_training", "train_one_seed", "evaluate_test", "fit_quietly", "load_data",
           "NotApplicable",
           "load_checkpoint_state", "with_split"]


class NotApplicable(RuntimeError):
    """The model cannot run in the requested mode (e.g. the original design, inductively)."""


def load_checkpoint_state(path, device="cpu") -> dict:
    """The ``state_dict`` and ``epoch`` of a Lightning checkpoint, read with ``weights_only=True``
    (a crafted file cannot run code)."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    return {"state_dict": ckpt["state_dict"], "epoch": int(ckpt["epoch"])}


def _device_info(trainer) -> str:
    root = trainer.strategy.root_device
    if root.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(root)}"
    return f"cpu ({torch.get_num_threads()} threads)"


def _peak_memory_mb(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process_max_rss"


def evaluate_test(module: NodeClassifier, data, columns, chunk_size: int | None = None) -> dict:
    """Evaluate the test split once (counted on the module) with the model in eval mode, over
    the whole graph with every neighbour (one forward, or layer-wise in chunks of
    ``chunk_size`` target nodes), whatever the training mode.

    With ``tta = K > 1`` the prediction is the mean softmax of K views (one evaluation); each
    column's metrics then carry ``"tta"``: the view-0 (unaugmented) test macro-F1 of the same
    forward passes and the validation macro-F1 with and without TTA (choose TTA on these).
    """
    module.test_evaluations = getattr(module, "test_evaluations", 0) + 1
    module.eval()
    cfg = module.train_cfg
    probs, first = tta_forward(module, data, columns, cfg.tta, _tta_spec(cfg),
                               torch.initial_seed(), chunk_size)
    data = data.cpu()
    res = {}
    for c in columns:
        m = label_mask(data, c, "test")
        res[c] = classification_metrics(data[f"y_{c}"][m].numpy(),
                                         probs[c].cpu()[m].argmax(-1).numpy(), data.label_names[c])
        if cfg.tta > 1:
            res[c]["tta"] = _tta_report(data, c, probs[c].cpu(), first[c].cpu(), cfg)
    return res


def _tta_spec(cfg: TrainConfig) -> str:
    return cfg.augment if cfg.tta_augment is None else cfg.tta_augment


def _tta_report(data, column, probs, first, cfg) -> dict:
    """Macro-F1 of the TTA mean and of view 0 on validation, and of view 0 on test."""
    y = data[f"y_{column}"]
    val, test = label_mask(data, column, "val"), label_mask(data, column, "test")

    def f1(p, m):
        return macro_f1(y[m].cpu().numpy(), p[m].argmax(-1).cpu().numpy())

    return {"views": int(cfg.tta), "augment": _tta_spec(cfg), "val_macro_f1": f1(probs, val),
            "val_macro_f1_view0": f1(first, val), "test_macro_f1_view0": f1(first, test)}


def _make_trainer(cfg: TrainConfig, tag: str, out_dir: Path, cuda: bool, launch: Launch | None = None):
    """Trainer with checkpointing and early stopping on validation macro-F1, TensorBoard logs.
    ``tag``: ``seed<k>`` or ``split<j>/seed<k>``, the checkpoint folder inside ``out_dir``."""
    seed_dir = out_dir / tag
    launch = launch or resolve_launch(cfg)
    # a retrained seed replaces its old checkpoint and TensorBoard events (no mixed curves)
    for old in (seed_dir, out_dir / "tb" / tag.replace("/", "_")):
        if is_global_zero():  # only rank 0 writes (or removes) files
            shutil.rmtree(old, ignore_errors=True)
    ckpt = L.pytorch.callbacks.ModelCheckpoint(dirpath=seed_dir, filename="best", monitor="val_macro_f1",
                                               mode="max", save_top_k=1, enable_version_counter=False)
    stop = L.pytorch.callbacks.EarlyStopping(monitor="val_macro_f1", mode="max", patience=cfg.patience)
    stats = EpochStats()
    progress = EpochProgress(cfg.progress if is_global_zero() else "none",
                             label=f"{cfg.model} {tag.replace('/', ' ')}", max_epochs=cfg.max_epochs)
    clock = EpochClock()
    logger = L.pytorch.loggers.TensorBoardLogger(out_dir, name="tb", version=tag.replace("/", "_"),
                                                 default_hp_metric=False)
    trainer = L.Trainer(
        max_epochs=cfg.max_epochs, min_epochs=min(cfg.min_epochs, cfg.max_epochs),
        accelerator=cfg.accelerator, **trainer_kwargs(launch, cuda),
        precision=cfg.precision or ("bf16-mixed" if cuda else "32-true"),
        deterministic=True if not cuda else ("warn" if cfg.deterministic else False),
        callbacks=[ckpt, stop, stats, clock, progress, *recorder_from_env()], logger=logger,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        log_every_n_steps=1,
    )
    return trainer, ckpt, stats, clock


def fit_quietly(trainer, module, datamodule) -> float:
    """``trainer.fit`` without Lightning's info lines and its warnings about single-process
    loaders; returns the wall time in seconds."""
    _quiet_lightning()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*log_every_n_steps.*")
        warnings.filterwarnings("ignore", message=".*treespec.*")
        trainer.fit(module, datamodule=datamodule)
    return time.perf_counter() - t0


def _module_and_data(cfg: TrainConfig, model_cfg, columns, train_graph, seed: int, launch: Launch,
                     cuda: bool, identity: dict | None = None):
    """The Lightning module and data module of one seed, and the scale fields of its result.

    One module for every mode; only the batches differ. Full-graph mode (one batch: the whole
    training graph) moves the graph to the GPU once, so Lightning's per-step transfer is a
    no-op and the encoders' set plans, cached per tensor, survive across epochs. Mini-batch
    mode keeps it on the CPU, where the loader samples; only batches move.
    """
    seeds = training_seeds(train_graph, columns)
    batch_size = resolve_batch_size(cfg, train_graph, seeds.numel(), launch.world_size,
                                    device="cuda" if cuda else None)
    scale = {"batch_size": batch_size, "fanouts": None, "eval_chunk_size": None,
             "world_size": launch.world_size}
    counts = {c: train_class_counts(train_graph, c).tolist() for c in columns}
    if batch_size is None:
        if cuda:
            train_graph = train_graph.to("cuda")
        module = NodeClassifier(cfg.model, model_cfg, cfg, columns, counts, val_graph=train_graph,
                                identity=identity)
        return module, GraphDataModule(train_graph), scale
    scale["eval_chunk_size"] = eval_chunk_for(cfg, train_graph, "cuda" if cuda else None)
    module = NodeClassifier(cfg.model, model_cfg, cfg, columns, counts, val_graph=train_graph,
                            eval_chunk_size=scale["eval_chunk_size"], identity=identity)
    scale["fanouts"] = sampling_fanouts(cfg, module.model)
    data = SeedDataModule(train_graph, seeds, scale["fanouts"], batch_size, seed, cfg.loader_workers,
                          getattr(module.model, "sites_reach_own_output_only", False))
    return module, data, scale


def _scores(test: dict, columns, class_names) -> dict:
    """Per-seed test scores, averaged over the label columns; details per column."""
    res = {key: float(np.mean([test[c][key.removeprefix("test_")] for c in columns]))
           for key in ("test_accuracy", "test_macro_f1", "test_balanced_accuracy")}
    if len(columns) == 1:
        c = columns[0]
        res.update(test_per_class_f1=test[c]["per_class_f1"],
                   test_confusion_matrix=test[c]["confusion_matrix"], class_names=class_names[c])
    res["per_task"] = test
    return res


def train_one_seed(data, cfg: TrainConfig, seed: int, out_dir: Path, *, columns, tag: str | None = None,
                   test_graph=None, identity: dict | None = None) -> dict:
    """Train one seed and evaluate its selected checkpoint on the test split once.
    ``identity``: the run's graph fingerprint and run id, saved with the tag in the checkpoint."""
    spec = get_spec(cfg.model)
    if cfg.mode == "inductive" and not spec.inductive:
        raise NotApplicable(f"model {cfg.model!r} cannot run inductively: {spec.description}")
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    base = inductive_train_graph(data) if cfg.mode == "inductive" else data
    train_graph = hide_test_labels(base, columns)
    L.seed_everything(seed, workers=True, verbose=False)
    # with label context the model's node features are the wiring features + the context
    shape_graph = (with_label_context(train_graph, columns, torch.zeros_like(train_graph.train_mask))
                   if cfg.label_context else train_graph)
    model_cfg = ModelConfig.from_data(shape_graph, columns, **cfg.model_overrides)
    cuda = torch.cuda.is_available() and cfg.accelerator in ("auto", "gpu", "cuda")
    launch = resolve_launch(cfg)
    identity = None if identity is None else {**identity, "tag": tag or f"seed{seed}"}
    module, datamodule, scale = _module_and_data(cfg, model_cfg, columns, train_graph, seed, launch,
                                                 cuda, identity)
    trainer, ckpt, stats, clock = _make_trainer(cfg, tag or f"seed{seed}", out_dir, cuda, launch)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    fit_time = fit_quietly(trainer, module, datamodule)
    if not is_global_zero():  # rank 0 tests the selected checkpoint and writes the results
        return {"seed": seed, "rank": int(trainer.global_rank)}
    device = trainer.strategy.root_device
    peak, peak_kind = _peak_memory_mb(device)
    # reload the selected checkpoint (best validation macro-F1) and test it once
    state = load_checkpoint_state(ckpt.best_model_path, device)
    module.load_state_dict(state["state_dict"])
    test_graph = data if test_graph is None else test_graph
    chunk = None if scale["batch_size"] is None else eval_chunk_for(cfg, test_graph, device)
    res = {"seed": seed, **_scores(evaluate_test(module, test_graph, columns, chunk), columns,
                                   test_graph.label_names)}
    res.update({
        "best_val_macro_f1": float(ckpt.best_model_score), "best_epoch": state["epoch"],
        "epochs": int(trainer.current_epoch),
        "epoch_time_s": _epoch_time(stats.times if scale["batch_size"] is None else clock.times),
        "steps_per_epoch": int(np.median(clock.steps)) if clock.steps else 1, **scale,
        "val_wall_s": clock.wall, "val_cpu_s": clock.cpu,
        "fit_time_s": fit_time, "peak_memory_mb": float(peak), "peak_memory_kind": peak_kind,
        "device": _device_info(trainer), "precision": trainer.precision,
        "test_evaluations": module.test_evaluations,
        "checkpoint": str(Path(ckpt.best_model_path).resolve().relative_to(out_dir.resolve())),
        "num_parameters": int(sum(p.numel() for p in module.parameters())),
        "model_config": model_cfg.to_dict(), "history": module.history,
    })
    log_final_scores(trainer.logger, {**cfg.to_dict(), "seed": seed, "tag": tag or f"seed{seed}"}, res)
    return res


def _epoch_time(times: list[float]) -> float:
    return float(np.median(times)) if times else float("nan")


def _quiet_lightning() -> None:
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _open_folder(out_dir: Path, cfg: TrainConfig, fingerprint: str, overwrite: bool) -> dict | None:
    """:func:`~.run_folder.open_run_folder` in rank 0 (data-parallel: it alone writes files);
    the other ranks only read whether the same run already finished."""
    if is_global_zero():
        return open_run_folder(out_dir, cfg, fingerprint, overwrite=overwrite)
    if overwrite or run_state(out_dir, cfg, fingerprint) != "complete":
        return None
    return read_json(out_dir / "metrics.json")


def run_training(data, cfg: TrainConfig, out_dir, *, quiet: bool = True,
                 overwrite: bool = False, data_path=None) -> dict:
    """Run ``cfg.splits`` x ``cfg.seeds`` trainings and write ``out_dir/metrics.json``.

    ``data``: a graph, or a graph or tables folder. Label columns, views and labels are checked
    before any work (one-line errors). A model that cannot run in the mode (the original design,
    inductively) writes a metrics.json with ``not_applicable`` and no seeds. With several splits
    each split is saved as ``out_dir/splits/split<k>.parquet``. ``data_path`` (or ``data``
    when it is a folder) is recorded as ``metrics.json``'s ``data_path``, so that the run can
    be reloaded with its graph (``python -m synhelpers suggest --run``).

    The run folder cannot be lost (:mod:`.run_folder`): each finished seed is saved as
    ``<tag>/result.json``; ``metrics.json`` is written once at the end. A rerun with the same
    settings returns the finished run or resumes at the seed that was cut off; a rerun with
    other settings raises :class:`~synhelpers.errors.RunError` unless ``overwrite``.
    """
    if not hasattr(data, "edge_index"):
        data_path = data if data_path is None else data_path
        data = load_data(data)
    columns = check_run(data, cfg)
    check_scale(cfg, get_spec(cfg.model), resolve_launch(cfg).world_size)
    out_dir, fingerprint = Path(out_dir), graph_fingerprint(data)
    saved = _open_folder(out_dir, cfg, fingerprint, overwrite)
    if saved is not None:
        return saved
    _quiet_lightning() if quiet else None
    result = {"model": cfg.model, "task": cfg.task or "+".join(columns), "mode": cfg.mode,
              "config": cfg.to_dict(), "label_columns": columns,
              "dataset": str(getattr(data, "dataset_name", "unnamed graph")),
              "data_fingerprint": fingerprint, "run_id": run_id(out_dir) if is_global_zero() else None,
              "seeds": [], "mean": {}, "std": {}}
    identity = {"data_fingerprint": fingerprint, "run_id": result["run_id"]}
    # the ROIs and classes the model's inputs and heads are built on (to align new connectomes)
    result["trained_on"] = run_vocabulary(data, columns)
    if data_path is not None:
        result["data_path"] = str(Path(data_path).resolve())
    try:
        for k in range(cfg.splits):
            split_data = budgeted_split(data, k, columns[0], cfg.labelled, cfg.labels_per_class)
            split_file = out_dir / "splits" / f"split{k}.parquet"
            budget = cfg.labelled is not None or cfg.labels_per_class is not None
            if (cfg.splits > 1 or budget) and not split_file.exists() and is_global_zero():
                write_parquet(split_frame(split_data), split_file)
            for s in range(cfg.first_seed, cfg.first_seed + cfg.seeds):
                tag = f"split{k}/seed{s}" if cfg.splits > 1 else f"seed{s}"
                res = finished_seed(out_dir, tag)
                if res is None:  # not run yet, or cut off: trained from scratch
                    res = {"split": k, **train_one_seed(split_data, cfg, s, out_dir, columns=columns,
                                                        tag=tag, identity=identity)}
                    if is_global_zero():
                        res = save_seed(out_dir, tag, res)
                result["seeds"].append(res)
    except NotApplicable as e:
        result["not_applicable"] = str(e)
    if not is_global_zero():  # data-parallel: rank 0 alone writes metrics.json
        return {**result, "rank": process_rank()}
    result.update(summarise_seeds(result["seeds"]))
    write_metrics(out_dir, result)
    write_model_card(out_dir, result, result.get("data_path"))
    return result

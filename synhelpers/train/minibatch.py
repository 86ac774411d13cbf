"""Mini-batch data: batches of seed neurons that carry their neighbourhoods and synapses (the
module that trains on them is the one of every mode, :mod:`synhelpers.train.module`).

What an epoch is:

* full-graph mode (``TrainConfig.batch_size=None``, the default): one optimiser step over the
  whole training graph;
* mini-batch mode: one pass over every training seed (a training neuron with a label in at
  least one predicted column), reshuffled every epoch: ``ceil(n_seeds / (batch_size x
  processes))`` steps per process. Each step samples the seeds' in- and out-neighbourhoods
  (``TrainConfig.fanouts`` per hop, :mod:`synhelpers.graph.sampler`), gathers the kept edges'
  synapse sets and the nodes' sites (:func:`synhelpers.graph.batch.build_batch`), encodes only
  those, and takes the loss on the seeds alone (the first ``batch.batch_size`` nodes).

Validation runs once per epoch over the whole graph with every neighbour
(:mod:`synhelpers.train.inference`), so scores never depend on sampling. Under DDP each process
computes the same validation numbers (equal weights, eval mode) and they are averaged across
processes (``sync_dist``), so early stopping and checkpointing decide the same on every rank
even if GPU kernels differ in the last bits. Validation is not sharded: macro-F1 does not
decompose over shards, and sampling-free layer-wise inference needs every node's output of
the previous layer anyway. ``epoch_time_s`` is the training part of an epoch (sampling,
gathering, forward, backward, optimiser; validation excluded) in both modes.
"""

from __future__ import annotations

import math
import time

import lightning as L
import torch
from torch.utils.data import DataLoader

from ..errors import ConfigError
from ..graph.batch import estimate_batch_size, free_memory_bytes
from ..graph.sampler import NeighborBatchLoader
from .inference import eval_chunk_size

__all__ = ["training_seeds", "resolve_batch_size", "check_scale", "sampling_fanouts",
           "SeedDataModule", "EpochClock", "eval_chunk_for"]


def training_seeds(graph, columns) -> torch.Tensor:
    """(n,) int64 training neurons with a label in at least one of ``columns``."""
    labelled = torch.zeros(int(graph.num_nodes), dtype=torch.bool)
    for c in columns:
        labelled |= graph[f"y_{c}"].cpu() >= 0
    return (graph.train_mask.cpu() & labelled).nonzero().flatten()


def resolve_batch_size(cfg, graph, num_seeds: int, world_size: int = 1,
                       free_bytes: int | None = None, device: str | None = None) -> int | None:
    """Seeds per batch and process, or None for full-graph training.

    ``"auto"``: :func:`~synhelpers.graph.batch.estimate_batch_size` from free memory (of the
    CUDA device, else the host); on one process the full graph when it fits.
    """
    if cfg.batch_size is None:
        return None
    if cfg.batch_size != "auto":
        return int(cfg.batch_size)
    shard = math.ceil(num_seeds / world_size)
    free = free_memory_bytes(device) if free_bytes is None else free_bytes
    syn = int(graph.syn_ptr[-1]) if "syn_ptr" in graph else 0
    size = estimate_batch_size(int(graph.num_nodes), int(graph.edge_index.shape[1]), syn,
                               cfg.fanouts, free, num_seeds=shard)
    return None if world_size == 1 and size >= num_seeds else size


def check_scale(cfg, spec, world_size: int) -> None:
    """One-line errors for settings that cannot work, before any training.

    Raises:
        ConfigError: several processes in full-graph mode; mini-batches with a model that
            cannot run on subgraphs (the original design's per-neuron table).
    """
    if world_size > 1 and cfg.batch_size is None:
        raise ConfigError(f"full-graph training takes one step per epoch, which cannot be split "
                          f"across {world_size} processes; add --batch-size N (or auto) to "
                          "train data-parallel")
    if cfg.batch_size is not None and not spec.inductive:
        raise ConfigError(f"model {spec.name!r} keeps one row per neuron of the whole graph, so "
                          "it trains on the full graph only; drop --batch-size")


def sampling_fanouts(cfg, model) -> list[int]:
    """The fan-outs the model needs: one per hop (``model.hops``; GNN layers by default)."""
    hops = int(getattr(model, "hops", len(cfg.fanouts)))
    if len(cfg.fanouts) < hops:
        raise ConfigError(f"--fanouts {' '.join(map(str, cfg.fanouts))} gives {len(cfg.fanouts)} "
                          f"hop(s) but model {cfg.model!r} reads {hops} hops of neighbours; give "
                          f"one fan-out per GNN layer, e.g. --fanouts {' '.join(['10'] * hops)}")
    if len(cfg.fanouts) > hops and tuple(cfg.fanouts) != type(cfg)().fanouts:
        raise ConfigError(f"--fanouts {' '.join(map(str, cfg.fanouts))} gives {len(cfg.fanouts)} "
                          f"hops but model {cfg.model!r} reads {hops}; the extra fan-outs would do "
                          f"nothing: give {hops}")
    return list(cfg.fanouts[:hops])


class SeedDataModule(L.LightningDataModule):
    """Training: this process's shard of seed batches, reshuffled every epoch. Validation: a
    placeholder item (the module evaluates the whole graph itself, see the module docstring).

    Use with ``Trainer(use_distributed_sampler=False)``: the loader shards the seeds itself.
    ``seed_sites_only``: batches carry the seeds' sites alone (a model whose
    ``sites_reach_own_output_only`` is True, e.g. HybridModel: the loss reads the seeds only,
    so the clouds of the other nodes, most of a batch, need not be encoded).
    """

    def __init__(self, graph, seeds: torch.Tensor, fanouts, batch_size: int, seed: int,
                 workers: int = 0, seed_sites_only: bool = False):
        super().__init__()
        self.graph, self.seeds, self.fanouts = graph, seeds, list(fanouts)
        self.batch_size, self.seed, self.workers = int(batch_size), int(seed), int(workers)
        self.seed_sites_only = bool(seed_sites_only)

    def train_dataloader(self):
        t = self.trainer
        return NeighborBatchLoader(self.graph, self.seeds, self.fanouts, self.batch_size,
                                   seed=self.seed, num_replicas=t.world_size, rank=t.global_rank,
                                   seed_sites_only=self.seed_sites_only, num_workers=self.workers,
                                   persistent_workers=self.workers > 0)

    def val_dataloader(self):
        return DataLoader([0], batch_size=None)


class EpochClock(L.Callback):
    """``times``: per epoch, from its start to the end of its last training step (validation
    excluded); ``wall``: seconds since the fit started, at the end of each validation; ``cpu``:
    this process's CPU seconds (all threads) since the fit started, at the same moments (on a
    shared machine with one thread, the time the run would have taken alone);
    ``steps``: optimiser steps per epoch on this process."""

    def __init__(self):
        self.times: list[float] = []
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.steps: list[int] = []
        self._fit0 = self._t0 = self._cpu0 = 0.0
        self._last: float | None = None
        self._n = 0

    @staticmethod
    def _now() -> float:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        return time.perf_counter()

    def on_fit_start(self, trainer, pl_module):
        self._fit0, self._cpu0 = self._now(), time.process_time()

    def on_train_epoch_start(self, trainer, pl_module):
        self._t0, self._last, self._n = self._now(), None, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._last, self._n = self._now(), self._n + 1

    def on_validation_start(self, trainer, pl_module):
        if not trainer.sanity_checking and self._last is not None:
            self.times.append(self._last - self._t0)
            self.steps.append(self._n)
            self._last = None

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self.wall.append(self._now() - self._fit0)
            self.cpu.append(time.process_time() - self._cpu0)


def eval_chunk_for(cfg, data, device=None) -> int | None:
    """The evaluation chunk of ``data`` in mini-batch mode: ``cfg.eval_chunk_size``, else
    :func:`~synhelpers.train.inference.eval_chunk_size` from the free memory of ``device``
    (a CUDA device, else the host), where the evaluation runs."""
    if cfg.eval_chunk_size is not None:
        return cfg.eval_chunk_size
    cuda = device is not None and torch.device(device).type == "cuda"
    return eval_chunk_size(data, free_memory_bytes(device) if cuda else None)

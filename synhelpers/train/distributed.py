"""Data-parallel training: how many processes, which one writes files, and a rank recorder.

Launch paths (README "Training on several GPUs or machines"):

* one machine, G processes: ``torchrun --nproc_per_node G -m synhelpers train ... --batch-size N``;
* several machines: ``torchrun --nnodes M --nproc_per_node G --rdzv_backend c10d
  --rdzv_endpoint HOST:PORT -m synhelpers train ...`` on each machine, or ``srun`` under SLURM
  (``--ntasks-per-node G``);
* or ``--devices G`` without a launcher: Lightning starts the G processes itself.

Under torchrun or SLURM, :func:`resolve_launch` reads the devices per machine and the number of
machines from the launcher's environment when they are left at their defaults (Lightning
refuses a mismatch). Every process trains on its own shard of seed neurons (the sampler in
:mod:`synhelpers.graph.sampler` shards them), DDP averages the gradients, and only global
rank 0 prints, writes checkpoints, ``metrics.json`` and the test evaluation.

``SYNHELPERS_RECORD_RANKS=DIR`` (diagnostics, used by the DDP test) makes every rank write
``DIR/rank<r>.pt``: the seed neurons of each of its batches, and its weights before and after
its first optimiser step, to check that the ranks saw different seeds and hold equal weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only

from ..errors import ConfigError
from .config import TrainConfig

__all__ = ["Launch", "resolve_launch", "trainer_kwargs", "process_rank", "is_global_zero", "RankRecorder",
           "recorder_from_env", "RECORD_ENV"]

RECORD_ENV = "SYNHELPERS_RECORD_RANKS"


@dataclass(frozen=True)
class Launch:
    """Lightning's ``devices``, ``num_nodes`` and ``strategy`` for a run, and its world size.

    ``launcher``: ``torchrun``, ``slurm`` or ``lightning`` (Lightning starts the processes, or
    there is just one).
    """

    devices: int | str
    num_nodes: int
    strategy: str
    world_size: int
    launcher: str

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _int_prefix(text: str) -> int:
    """``"4(x2)"`` (SLURM_NTASKS_PER_NODE) -> 4."""
    digits = "".join(ch for ch in text.split("(")[0] if ch.isdigit())
    return int(digits) if digits else 0


def _from_environment(env) -> tuple[str, int, int] | None:
    """(launcher, devices per machine, machines) set by torchrun or srun, else None."""
    if "TORCHELASTIC_RUN_ID" in env and "WORLD_SIZE" in env:
        local = int(env.get("LOCAL_WORLD_SIZE", env["WORLD_SIZE"]))
        return "torchrun", local, max(1, int(env["WORLD_SIZE"]) // max(local, 1))
    interactive = env.get("SLURM_JOB_NAME") in ("bash", "interactive")
    if int(env.get("SLURM_NTASKS", "1") or 1) > 1 and not interactive:
        nodes = int(env.get("SLURM_NNODES", "1") or 1)
        per_node = _int_prefix(env.get("SLURM_NTASKS_PER_NODE", "")) or \
            int(env["SLURM_NTASKS"]) // nodes
        return "slurm", per_node, nodes
    return None


def _device_count(cfg: TrainConfig, devices) -> int:
    if isinstance(devices, int):
        return devices
    if isinstance(devices, (list, tuple)):
        return len(devices)
    text = str(devices)
    if text.isdigit():
        return int(text)
    if text in ("auto", "-1"):  # Lightning: every GPU, or one CPU process
        gpu = cfg.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
        return torch.cuda.device_count() if gpu else 1
    return len([d for d in text.split(",") if d.strip()])


def resolve_launch(cfg: TrainConfig, env=None) -> Launch:
    """Devices, machines and strategy for ``cfg`` in this process's environment.

    Raises:
        ConfigError: ``--devices``/``--num-nodes`` disagree with torchrun or SLURM.

    Example:
        >>> resolve_launch(TrainConfig(), env={})
        Launch(devices=1, num_nodes=1, strategy='auto', world_size=1, launcher='lightning')
        >>> resolve_launch(TrainConfig(), env={"TORCHELASTIC_RUN_ID": "x", "WORLD_SIZE": "2",
        ...                                    "LOCAL_WORLD_SIZE": "2"}).world_size
        2
    """
    env = os.environ if env is None else env
    devices, num_nodes, launcher = cfg.devices, cfg.num_nodes, "lightning"
    found = _from_environment(env)
    if found is not None:
        launcher, per_node, nodes = found
        if str(devices) not in ("1", "auto") and _device_count(cfg, devices) != per_node:
            raise ConfigError(f"--devices {devices} but {launcher} started {per_node} processes "
                              f"per machine; leave --devices out under {launcher}")
        if num_nodes not in (1, nodes):
            raise ConfigError(f"--num-nodes {num_nodes} but {launcher} runs on {nodes} machines; "
                              f"leave --num-nodes out under {launcher}")
        devices, num_nodes = per_node, nodes
    # strategy "auto": Lightning picks ddp for several processes (ddp_fork in Jupyter)
    return Launch(devices, num_nodes, cfg.strategy, _device_count(cfg, devices) * num_nodes, launcher)


def trainer_kwargs(launch: Launch, cuda: bool) -> dict:
    """The ``lightning.Trainer`` arguments of a launch.

    ``use_distributed_sampler=False``: the mini-batch loader shards the seeds itself (and a
    full-graph run has one process). ``sync_batchnorm``: under DDP on GPUs every BatchNorm
    becomes a SyncBatchNorm (statistics over all processes' batches); torch's SyncBatchNorm
    runs on GPUs only, and the built-in models use LayerNorm, so CPU runs keep plain BatchNorm.

    Example:
        >>> trainer_kwargs(Launch(2, 1, "auto", 2, "torchrun"), cuda=True)["sync_batchnorm"]
        True
    """
    return {"devices": launch.devices, "num_nodes": launch.num_nodes, "strategy": launch.strategy,
            "use_distributed_sampler": False, "sync_batchnorm": launch.distributed and cuda}


def process_rank() -> int:
    """This process's global rank (Lightning reads it from the launcher's environment)."""
    return int(getattr(rank_zero_only, "rank", 0) or 0)


def is_global_zero() -> bool:
    """True in the process that writes files (global rank 0; the only one without DDP)."""
    return process_rank() == 0


class RankRecorder(L.Callback):
    """Writes ``DIR/rank<r>.pt``: ``seeds`` (one tensor of global node ids per batch, per
    epoch), ``before`` and ``after`` (weights around the first optimiser step) and ``rank``,
    ``world_size``. Diagnostics for data-parallel runs (see the module docstring)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.record: dict = {"seeds": [], "before": None, "after": None}

    def on_train_epoch_start(self, trainer, pl_module):
        self.record["seeds"].append([])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if hasattr(batch, "n_id"):
            self.record["seeds"][-1].append(batch.n_id[:batch.batch_size].cpu().clone())
        if self.record["before"] is None:
            self.record["before"] = _weights(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.record["after"] is None:
            self.record["after"] = _weights(pl_module)

    def on_fit_end(self, trainer, pl_module):
        self.folder.mkdir(parents=True, exist_ok=True)
        torch.save({**self.record, "rank": trainer.global_rank, "world_size": trainer.world_size},
                   self.folder / f"rank{trainer.global_rank}.pt")


def _weights(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def recorder_from_env(env=None) -> list[L.Callback]:
    """``[RankRecorder(DIR)]`` when ``SYNHELPERS_RECORD_RANKS=DIR`` is set, else ``[]``."""
    env = os.environ if env is None else env
    return [RankRecorder(env[RECORD_ENV])] if env.get(RECORD_ENV) else []

"""The stage bodies of ``benchmarks/gpu.py``: each runs in its own process, takes the parsed
arguments and returns a JSON-able dict (see gpu.py's docstring for what each measures).

The measurements themselves are ``bench_train``'s (``time_epochs``, ``minibatch_epoch``) and
the package's public ``TrainConfig`` / ``run_training``.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

SIZES = {"quick": 2000, "hemibrain": 21739, "flywire": 139255}
TINY_SIZES = {"quick": 300, "hemibrain": 400, "flywire": 500}
ACCELERATORS = ("pyg_lib", "torch_scatter", "torch_sparse", "torch_cluster")


def size_of(args, key: str) -> int:
    return (TINY_SIZES if args.tiny else SIZES)[key]


def _dataset(args, key: str):
    from bench_train import dataset

    return dataset(size_of(args, key), data_root=args.scratch / "data")


def _threads(args, cpu: bool) -> int | None:
    """Torch threads of a CPU stage: ``--threads``, else 1 with ``--tiny`` (CI shares its cores;
    two spinning threads on a busy 2-core machine run 20x slower than one), else every core."""
    import torch

    if not (cpu or args.device == "cpu"):
        return None
    n = args.threads or (1 if args.tiny else os.cpu_count() or 1)
    torch.set_num_threads(n)
    return n


def _host_memory_gb() -> float | None:
    try:
        line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal:"))
        return round(int(line.split()[1]) * 1024 / 1e9, 1)
    except (OSError, StopIteration):
        return None


def _nvidia_smi(query: str) -> str | None:
    import subprocess

    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
        return out.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def env_report(args) -> dict:
    """Versions, device and machine; raises when ``--device cuda`` finds no GPU."""
    import importlib.util

    import lightning
    import torch
    import torch_geometric

    cpu_model = next((x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
                      if x.startswith("model name")), None) if Path("/proc/cpuinfo").exists() else None
    res = {"python": platform.python_version(), "torch": torch.__version__,
           "torch_cuda": torch.version.cuda, "torch_geometric": torch_geometric.__version__,
           "lightning": lightning.__version__, "cpu_count": os.cpu_count(), "cpu_model": cpu_model,
           "host_memory_gb": _host_memory_gb(), "torch_threads": torch.get_num_threads(),
           "optional_accelerators": [m for m in ACCELERATORS if importlib.util.find_spec(m)],
           "load_average": list(os.getloadavg())}
    cuda = torch.cuda.is_available()
    if args.device == "cuda" and not cuda:
        raise RuntimeError(f"--device cuda, but torch {torch.__version__} (CUDA {torch.version.cuda}) "
                           "sees no GPU")
    if args.device == "cpu" or not cuda:
        return {**res, "device": "cpu", "device_name": f"cpu x{os.cpu_count()}"}
    p = torch.cuda.get_device_properties(0)
    return {**res, "device": "cuda", "device_name": p.name,
            "device_memory_gb": round(p.total_memory / 1e9, 1),
            "multiprocessors": p.multi_processor_count, "capability": f"{p.major}.{p.minor}",
            "bf16_supported": torch.cuda.is_bf16_supported(), "cudnn": torch.backends.cudnn.version(),
            "driver": _nvidia_smi("driver_version")}


def make_data(args, key: str) -> dict:
    """Generate (or find cached) the synthetic tables and graph of one size."""
    t0 = time.perf_counter()
    data, meta = _dataset(args, key)
    return {"neurons": int(data.num_nodes), "connections": int(data.edge_index.shape[1]),
            "synapse_pairs": int(data.syn_pos.shape[0]), "data_s": time.perf_counter() - t0}


def fit(args, precision: str) -> dict:
    """The fused model trained to early stop with the package's ``run_training``."""
    import synhelpers

    threads = _threads(args, cpu=False)
    data, meta = _dataset(args, "quick")
    short = {"max_epochs": 2, "min_epochs": 1, "patience": 1} if args.tiny else {}
    cfg = synhelpers.TrainConfig(model="hybrid", task="cell_class", seeds=1, precision=precision,
                                 accelerator="gpu" if args.device == "cuda" else "cpu",
                                 num_threads=threads, progress="none", **short)
    t0 = time.perf_counter()
    run = synhelpers.run_training(data, cfg, args.scratch / "runs" / f"fit_{precision}", overwrite=True)
    s = run["seeds"][0]
    return {"neurons": int(data.num_nodes), "precision": s["precision"], "device": s["device"],
            "run_s": time.perf_counter() - t0, "fit_s": s["fit_time_s"], "epochs": s["epochs"],
            "best_epoch": s["best_epoch"], "median_epoch_s": s["epoch_time_s"],
            "test_macro_f1": s["test_macro_f1"], "ceiling_macro_f1": meta.get("ceiling_macro_f1"),
            "peak_memory_mb": s["peak_memory_mb"], "peak_memory_kind": s["peak_memory_kind"]}


def full_epoch(args, key: str, cpu: bool = False) -> dict:
    """Full-graph steps of the fused model (bench_train.time_epochs); on a CUDA out-of-memory
    error, once more with activation checkpointing of the set-encoder chunks."""
    import torch
    from bench_train import time_epochs

    _threads(args, cpu)
    device = "cpu" if cpu else args.device
    data, _ = _dataset(args, key)
    big = data.num_nodes > 10_000
    warmup, steps = (1, 1) if args.tiny else ((0, 1) if cpu and big else (1, 3) if big else (2, 5))
    kw = {"device": device, "bf16": device == "cuda" or args.tiny, "eval_forward": not (cpu and big)}
    try:
        res, overrides = time_epochs(data, "hybrid", steps, warmup, {}, **kw), {}
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        overrides = {"checkpoint_chunks": True}
        res = time_epochs(data, "hybrid", steps, warmup, overrides, **kw)
    return {**res, "neurons": int(data.num_nodes), "synapse_pairs": int(data.syn_pos.shape[0]),
            "warmup_steps": warmup, "model_overrides": overrides,
            "torch_threads": torch.get_num_threads()}


def resolve_batch_size(args, data, device: str, fanouts) -> tuple[int, int]:
    """``(used, auto)``: the seeds per batch, and what ``--batch-size auto`` picks from the free
    memory of ``device`` (CUDA: ``mem_get_info``; CPU: MemAvailable), capped at the seeds."""
    from synhelpers.graph.batch import estimate_batch_size, free_memory_bytes

    seeds = int((data.train_mask & (data.y_cell_class >= 0)).sum())
    auto = estimate_batch_size(int(data.num_nodes), int(data.edge_index.shape[1]),
                               int(data.syn_pos.shape[0]), fanouts, free_memory_bytes(device),
                               num_seeds=seeds)
    return (auto if args.batch_size == "auto" else int(args.batch_size)), int(auto)


def minibatch(args, key: str, cpu: bool = False) -> dict:
    """One mini-batch epoch of the fused model (bench_train.minibatch_epoch)."""
    import torch
    from bench_train import minibatch_epoch

    _threads(args, cpu)
    device = "cpu" if cpu else args.device
    data, _ = _dataset(args, key)
    used, auto = resolve_batch_size(args, data, device, args.fanouts)
    workers = args.workers if args.workers is not None else (
        min(8, max(1, (os.cpu_count() or 2) // 2)) if device == "cuda" else 0)
    res, _ = minibatch_epoch(data, used, args.fanouts, device, workers=workers,
                             bf16=device == "cuda" or args.tiny)
    peak = res["cuda_max_allocated_mb"] if device == "cuda" else res["peak_rss_after_epoch_mb"]
    return {**res, "batch_size_auto": auto, "batch_size_flag": str(args.batch_size),
            "peak_memory_mb": peak, "torch_threads": torch.get_num_threads()}

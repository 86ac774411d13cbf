"""The GPU lines in one call (issue 23): one script that a fresh GPU machine runs end to end.

    python benchmarks/gpu.py                              # GPU machine: every stage, <= 8 min
    python benchmarks/gpu.py --device cpu --tiny --batch-size auto   # dry run (CI), < 60 s

Every stage runs in a forked child process with its own time budget: a stage still running at
the end of its budget is killed and recorded as ``skipped`` with the reason, and a stage that
would start with less than its minimum of the total time (``--total-s``) left is skipped too.
After every stage the results are rewritten (atomically) to ``--out``/gpu_<device>.json and a
markdown table beside it, so a call cut short still leaves what it measured.

| stage | what it measures |
|---|---|
| env | device name and memory, driver, CUDA, torch / PyG / Lightning versions, CPU, optional accelerators |
| data_N | synthetic connectome of N neurons + graph (``synhelpers`` synth/build), cached under ``--scratch``; the two larger sizes are built in the background from the start |
| fit_bf16, fit_fp32 | the fused model (``hybrid``) at 2,000 neurons trained to early stop (``run_training``): wall, epochs, test macro-F1 |
| full_epoch_N | full-graph training steps of the fused model (graph and synapse CSR on the device): median step time, eval forward, peak memory |
| minibatch_N | one mini-batch epoch over all training seeds (pinned memory, non-blocking copies, sampling workers): time, peak memory |
| cpu_* | the same on the machine's CPU threads, for the GPU / CPU ratios |

Sizes: 2,000 (quickstart), 21,739 (hemibrain) and 139,255 (FlyWire, if time is left) neurons;
``--tiny``: 300 / 400 / 500 neurons, 1-2 epochs. bf16 autocast runs on CUDA, and with
``--tiny`` on the CPU too (torch's CPU autocast), so the dry run takes the same code path.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from gpu_stages import env_report, fit, full_epoch, make_data, minibatch, size_of  # noqa: E402


@dataclass
class Stage:
    """One measurement: ``fn(args, **kw) -> dict`` in a child process, killed after ``budget_s``.
    ``size``: the dataset it needs (a key of SIZES); ``cpu``: a CPU-ratio stage."""

    name: str
    fn: object
    budget_s: float
    size: str | None = None
    kw: dict = field(default_factory=dict)
    cpu: bool = False
    min_s: float = 15.0


# --------------------------------------------------------------------------- orchestration


def plan(args) -> tuple[list[Stage], list[Stage]]:
    """(background data stages, foreground stages in order)."""
    q, h, f = (size_of(args, k) for k in ("quick", "hemibrain", "flywire"))
    data_budget = 60 if args.tiny else None
    background = [Stage(f"data_{h}", make_data, data_budget or 300, kw={"key": "hemibrain"}),
                  Stage(f"data_{f}", make_data, data_budget or 420, kw={"key": "flywire"})]
    fg = [Stage("env", env_report, 60, min_s=5),
          Stage(f"data_{q}", make_data, data_budget or 120, kw={"key": "quick"}),
          Stage("fit_bf16", fit, 150, "quick", {"precision": "bf16-mixed"}, min_s=30),
          Stage("fit_fp32", fit, 150, "quick", {"precision": "32-true"}, min_s=30),
          Stage(f"full_epoch_{q}", full_epoch, 60, "quick", {"key": "quick"}),
          Stage(f"full_epoch_{h}", full_epoch, 120, "hemibrain", {"key": "hemibrain"}, min_s=30),
          Stage(f"minibatch_{h}", minibatch, 150, "hemibrain", {"key": "hemibrain"}, min_s=30),
          Stage(f"cpu_full_epoch_{q}", full_epoch, 60, "quick", {"key": "quick", "cpu": True}, True),
          Stage(f"minibatch_{f}", minibatch, 200, "flywire", {"key": "flywire"}, min_s=45),
          Stage(f"cpu_full_epoch_{h}", full_epoch, 150, "hemibrain",
                {"key": "hemibrain", "cpu": True}, True, min_s=60),
          Stage(f"cpu_minibatch_{h}", minibatch, 150, "hemibrain",
                {"key": "hemibrain", "cpu": True}, True, min_s=60)]
    return background, fg


def _child(stage: Stage, args, out_file: Path) -> None:
    """Body of a stage's process: its own process group (so that a kill reaches its loader
    workers too); the result, or the one-line reason it failed, goes to ``out_file``."""
    from synhelpers.io import write_json

    os.setpgrp()
    t0, load = time.perf_counter(), os.getloadavg()[0]
    try:
        res = {"status": "ok", **stage.fn(args, **stage.kw), "load_average_start": load}
    except Exception as e:  # noqa: BLE001 - any failure is recorded, the other stages go on
        traceback.print_exc()
        first = (str(e).splitlines() or [""])[0][:300]
        res = {"status": "failed", "reason": f"{type(e).__name__}: {first}"}
    res["stage_s"] = time.perf_counter() - t0
    write_json(out_file, res)


class Runner:
    """Starts stages as forked processes and collects their results within their budgets."""

    def __init__(self, args, method: str = "fork", started: float | None = None):
        self.args, self.ctx = args, mp.get_context(method)
        self.deadline = (started or time.monotonic()) + args.total_s
        self.running: dict[str, tuple] = {}
        (args.scratch / "stages").mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def start(self, stage: Stage) -> None:
        out = self.args.scratch / "stages" / f"{stage.name}.json"
        out.unlink(missing_ok=True)
        p = self.ctx.Process(target=_child, args=(stage, self.args, out), name=stage.name)
        p.start()
        self.running[stage.name] = (p, out, time.monotonic(), min(stage.budget_s, self.left()))

    def wait(self, name: str, limit: float | None = None) -> dict:
        """Join a started stage within its budget (and ``limit`` seconds); kill it past that."""
        from synhelpers.io import read_json

        p, out, t0, budget = self.running[name]
        timeout = max(0.0, t0 + budget - time.monotonic())
        p.join(timeout if limit is None else min(timeout, max(0.0, limit)))
        if p.is_alive():
            if limit is not None and time.monotonic() < t0 + budget:
                return {"status": "running"}
            _kill(p)
            self.running.pop(name)
            return {"status": "skipped", "reason": f"exceeded its budget of {budget:.0f} s"}
        self.running.pop(name)
        if out.exists():
            return read_json(out)
        return {"status": "failed", "reason": f"process ended with code {p.exitcode} and no result"}

    def run(self, stage: Stage) -> dict:
        if self.left() < stage.min_s:
            return {"status": "skipped", "reason": f"not enough time left ({max(self.left(), 0):.0f} s "
                                                   f"of --total-s {self.args.total_s:.0f}; needs {stage.min_s:.0f})"}
        beside = sorted(self.running)  # background builds sharing the machine's CPUs
        self.start(stage)
        return {**self.wait(stage.name), "running_beside": beside}

    def stop_all(self) -> dict[str, dict]:
        """The results of the stages nobody waited for; those still running are killed."""
        out = {}
        for name in list(self.running):
            p = self.running[name][0]
            if p.is_alive():
                _kill(p)
                self.running.pop(name)
                out[name] = {"status": "skipped", "reason": "still running when the other stages "
                                                            "had finished or the total time ran out"}
            else:
                out[name] = self.wait(name)
        return out


def _kill(p) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.join(5)


# --------------------------------------------------------------------------- report

RATIOS = (("full_epoch", "epoch_time_s"), ("minibatch", "epoch_s"))


def ratios(stages: dict) -> dict:
    """CPU time / device time of each measurement made on both (the device's speed-up)."""
    out = {}
    for prefix, key in RATIOS:
        for name, r in stages.items():
            cpu = stages.get(f"cpu_{name}", {})
            if name.startswith(prefix) and r.get("status") == cpu.get("status") == "ok":
                out[name] = cpu[key] / r[key]
    return out


def _summary(name: str, r: dict) -> str:
    """One cell of the markdown table."""
    if r.get("status") != "ok":
        return r.get("reason", r.get("status", ""))
    if name == "env":
        mem = f", {r['device_memory_gb']} GB" if "device_memory_gb" in r else ""
        return (f"{r['device_name']}{mem}, driver {r.get('driver')}, torch {r['torch']} (CUDA "
                f"{r['torch_cuda']}), PyG {r['torch_geometric']}, {r['cpu_count']} CPUs")
    if name.startswith("data_"):
        return (f"{r['neurons']:,} neurons, {r['connections']:,} connections, "
                f"{r['synapse_pairs']:,} synapse pairs")
    if name.startswith("fit_"):
        return (f"{r['epochs']} epochs (best {r['best_epoch']}), median epoch {r['median_epoch_s']:.3f} s, "
                f"fit {r['fit_s']:.1f} s, test macro-F1 {r['test_macro_f1']:.3f} (ceiling "
                f"{r['ceiling_macro_f1']:.3f}), {r['precision']}")
    bf16 = ", bf16" if r.get("bf16_autocast") else ", fp32"
    if "full_epoch" in name:
        ev = "" if r.get("eval_forward_s") is None else f", eval forward {r['eval_forward_s']:.3f} s"
        return (f"step {r['epoch_time_s']:.3f} s (median of {len(r['epoch_times_s'])}){ev}, "
                f"{r['torch_threads']} threads{bf16}")
    return (f"epoch {r['epoch_s']:.1f} s, {r['steps']} steps of {r['batch_size']} seeds (auto: "
            f"{r['batch_size_auto']}), {r['workers']} workers{bf16}")


def _peak(r: dict) -> str:
    v = r.get("peak_memory_mb") if r.get("status") == "ok" else None
    return "" if v is None else f"{v:,.0f}"


def markdown(res: dict) -> str:
    env = res["stages"].get("env", {})
    lines = [f"**GPU benchmark** (`benchmarks/gpu.py{' --tiny' if res['tiny'] else ''}`), "
             f"{env.get('device_name', 'device unknown')}, started {res['started']}, "
             f"total budget {res['total_s']:.0f} s:", "",
             "| stage | status | wall (s) | result | peak memory (MB) |", "|---|---|---:|---|---:|"]
    for name, r in res["stages"].items():
        wall = f"{r['stage_s']:.1f}" if "stage_s" in r else ""
        lines.append(f"| {name} | {r.get('status')} | {wall} | {_summary(name, r)} | {_peak(r)} |")
    for name, x in res["ratios"].items():
        lines.append(f"\n{name}: the CPU ({res['stages'][f'cpu_{name}']['torch_threads']} threads) "
                     f"takes {x:.1f}x the device's time.")
    lines.append("\nPeak memory: CUDA `max_memory_allocated` on the GPU, process peak RSS on the CPU.")
    return "\n".join(lines) + "\n"


def write_report(args, res: dict) -> Path:
    """Rewrite the JSON and the markdown atomically; returns the JSON's path."""
    import re

    from synhelpers.io import atomic_path, write_json

    name = res["stages"].get("env", {}).get("device_name", "unknown device")
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ("_tiny" if args.tiny else "")
    res["ratios"] = ratios(res["stages"])
    path = write_json(args.out / f"gpu_{slug}.json", res)
    with atomic_path(path.with_suffix(".md")) as tmp:
        Path(tmp).write_text(markdown(res))
    return path


# --------------------------------------------------------------------------- main


def _preload(method: str) -> str:
    """Import the heavy libraries once, before forking, without initialising CUDA (a forked
    child cannot use a CUDA context made in its parent); spawn if something initialised it."""
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import bench_train  # noqa: F401
    import torch

    import synhelpers.graph.sampler  # noqa: F401
    import synhelpers.train.run  # noqa: F401

    return "spawn" if method == "fork" and torch.cuda.is_initialized() else method


def _gate(args, stage: Stage, res: dict, runner: Runner) -> dict | None:
    """The reason to skip ``stage`` before it starts (None: run it)."""
    env = res["stages"].get("env", {"status": "ok"})
    if stage.name != "env" and not stage.name.startswith("data_") and env.get("status") != "ok":
        return {"status": "skipped", "reason": f"env failed: {env.get('reason')}"}
    if stage.cpu and args.device == "cpu":
        return {"status": "skipped", "reason": "the device is the CPU: nothing to compare with"}
    data = f"data_{size_of(args, stage.size)}" if stage.size else None
    if data in runner.running:  # a background build: wait for it, within the time left
        r = runner.wait(data, limit=runner.left() - stage.min_s)
        if r["status"] == "running":
            return {"status": "skipped", "reason": f"{data} still being built"}
        res["stages"][data] = r
    if data in res["stages"] and res["stages"][data]["status"] != "ok":
        return {"status": "skipped", "reason": f"{data} {res['stages'][data]['status']}"}
    return None


def main(argv=None) -> int:
    started = time.monotonic()
    args = parse_args(argv)
    args.scratch.mkdir(parents=True, exist_ok=True)
    method = _preload(args.start_method)
    runner = Runner(args, method, started)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the finally below still runs
    background, stages = plan(args)
    res = {"benchmark": "gpu", "tiny": args.tiny, "device_flag": args.device, "start_method": method,
           "started": datetime.now(UTC).isoformat(timespec="seconds"),
           "total_s": args.total_s, "stages": {}, "ratios": {},
           "settings": {k: getattr(args, k) for k in ("batch_size", "fanouts", "workers", "threads")}}
    stages = [s for s in stages if not args.only or s.name in args.only or s.name == "env"]
    needed = {f"data_{size_of(args, s.size)}" for s in stages if s.size}
    for b in background:
        if b.name in needed:
            runner.start(b)
    try:
        for stage in stages:
            print(f"[{args.total_s - runner.left():6.1f} s] {stage.name} ...", flush=True)
            r = _gate(args, stage, res, runner) or runner.run(stage)
            res["stages"][stage.name] = r
            if stage.name == "env" and r.get("status") == "ok":
                args.device = r["device"]
            print(f"    {r.get('status')}: {_summary(stage.name, r)}", flush=True)
            write_report(args, res)
    finally:  # no stage outlives the benchmark, whatever stopped it
        res["stages"].update(runner.stop_all())
        path = write_report(args, res)
    print(f"wrote {path} and {path.with_suffix('.md').name}")
    return 0 if res["stages"].get("env", {}).get("status") == "ok" else 1


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto",
                   help="the device measured (auto: CUDA when torch sees a GPU, else the CPU)")
    p.add_argument("--tiny", action="store_true",
                   help="dry run: 300 / 400 / 500 neurons and 1-2 epochs instead of 2,000 / 21,739 / 139,255")
    p.add_argument("--out", type=Path, default=HERE / "results",
                   help="folder of the JSON and markdown results (default benchmarks/results)")
    p.add_argument("--scratch", type=Path, default=HERE.parent / "data" / "gpu_bench",
                   help="cache of generated data and runs, reused by later stages and calls")
    p.add_argument("--total-s", type=float, default=480.0,
                   help="time for all stages together, seconds (stages past it are skipped)")
    p.add_argument("--batch-size", default="256",
                   help="seeds per mini-batch, or 'auto' (from the device's free memory)")
    p.add_argument("--fanouts", type=int, nargs="+", default=[10, 5],
                   help="mini-batch neighbours sampled per node and direction, one per GNN layer")
    p.add_argument("--workers", type=int, default=None,
                   help="mini-batch sampling workers (default: up to 8 on CUDA, 0 on the CPU)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads of the CPU stages (default: every core; 1 with --tiny)")
    p.add_argument("--only", nargs="+", default=None,
                   help="run only these stages (env always runs), e.g. fit_bf16 full_epoch_21739")
    p.add_argument("--start-method", choices=["fork", "spawn"], default="fork",
                   help="how stage processes start (fork: no re-import; spawn if CUDA was initialised)")
    args = p.parse_args(argv)
    if args.batch_size != "auto" and not (args.batch_size.isdigit() and int(args.batch_size) >= 1):
        p.error(f"--batch-size must be a positive integer or 'auto', got {args.batch_size!r}")
    args.scratch, args.out = args.scratch.resolve(), args.out.resolve()
    return args


if __name__ == "__main__":
    sys.exit(main())

"""Training benchmarks (issue 4): epoch time, throughput, peak memory, time to early stop,
accuracy against the generator's ceiling, fused model vs the original design in the same run.

Usage::

    python benchmarks/bench_train.py speed --neurons 2000              # quickstart scale
    python benchmarks/bench_train.py speed --neurons 21739 --steps 1   # hemibrain scale (synthetic)
    python benchmarks/bench_train.py accuracy --neurons 5000 --seeds 3  # ablation vs ceiling
    python benchmarks/bench_train.py time-to-accuracy --neurons 2000   # val macro-F1 vs wall time
    python benchmarks/bench_train.py minibatch-epoch --neurons 21739   # one mini-batch epoch, peak RSS
    python benchmarks/bench_train.py report                            # markdown from saved JSON

Every measurement is written to ``benchmarks/results/train_*.json`` (atomically) and the
markdown tables are regenerated from those files. An epoch is one optimisation step over
the full graph (forward, backward, AdamW); validation is timed separately. In mini-batch mode
(``--batch-size``) an epoch is one pass over all training neurons, many steps.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synhelpers.io import read_json, write_json  # noqa: E402
from synhelpers.train.config import TrainConfig  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SPEED_MODELS = ("hybrid", "original", "sage", "gat", "synapse_only", "mlp")
ACCURACY_MODELS = ("mlp", "gcn", "gat", "sage", "gin", "synapse_only", "hybrid", "original")


def machine() -> dict:
    cuda = torch.cuda.is_available()
    return {
        "device": torch.cuda.get_device_name(0) if cuda else f"cpu x{os.cpu_count()}",
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_start": os.getloadavg(),
    }


def dataset(neurons: int, seed: int = 0, data_root: Path | None = None):
    """Synthetic tables + cached graph for ``neurons`` (default generator settings)."""
    from synhelpers.graph import GraphConfig, build_cached
    from synhelpers.tables.synthetic import SyntheticConfig, ensure_synthetic

    root = data_root or ROOT / "data" / "bench"
    tables = root / f"synthetic_{neurons}_s{seed}"
    ensure_synthetic(SyntheticConfig(n_neurons=neurons, seed=seed), tables)  # regenerated if stale
    return build_cached(tables, tables / "graph", GraphConfig()), read_json(tables / "synthetic.json")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_epochs(data, name: str, steps: int, warmup: int, overrides: dict, device=None,
                bf16: bool | None = None, eval_forward: bool = True) -> dict:
    """Median wall time of full-graph training steps and of one evaluation forward.

    ``device``: default CUDA when available, else the CPU; the whole graph (synapse CSR
    included) is placed on it. ``bf16``: autocast to bfloat16 (default: on CUDA only; on the
    CPU it runs torch's CPU autocast). ``eval_forward``: also time one evaluation forward
    (after a first one that caches the FPS selection); else ``eval_forward_s`` is None."""
    from synhelpers.models import ModelConfig, build_model

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    data = data.to(device)
    torch.manual_seed(0)
    model = build_model(name, ModelConfig.from_data(data, ["cell_class"], **overrides)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    y = data.y_cell_class
    m = data.train_mask & (y >= 0)
    bf16 = device.type == "cuda" if bf16 is None else bf16
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        model.train()
        with amp:
            out = model(data)["cell_class"]
        loss = torch.nn.functional.cross_entropy(out[m].float(), y[m])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    eval_s = _time_eval_forward(model, data, amp, device) if eval_forward else None
    epoch = float(np.median(times))
    pairs = int(data.syn_pos.shape[0])
    return {
        "model": name, "epoch_time_s": epoch, "epoch_times_s": times, "eval_forward_s": eval_s,
        "device": str(device), "bf16_autocast": bool(bf16), "graph_devices": graph_devices(data),
        "synapse_pairs_per_s": pairs / epoch,
        "peak_memory_mb": (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
                           else _peak_rss_mb()),
        "peak_memory_kind": "cuda_max_allocated" if device.type == "cuda" else "process_max_rss (cumulative)",
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }


def _time_eval_forward(model, data, amp, device) -> float:
    model.eval()
    with torch.no_grad(), amp:
        model(data)  # first evaluation computes and caches the FPS selection
        _sync(device)
        t0 = time.perf_counter()
        model(data)
        _sync(device)
    return time.perf_counter() - t0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def graph_devices(data) -> list[str]:
    """The devices the graph's tensors (synapse and site CSR included) are on."""
    return sorted({str(v.device) for _, v in data if isinstance(v, torch.Tensor)})


def per_edge_loop_estimate(data, n_edges: int, overrides: dict) -> dict:
    """Cost of encoding connections one at a time in a Python loop (how the published code
    did it), forward and backward, on ``n_edges`` edges, extrapolated to all edges."""
    from synhelpers.models import ModelConfig
    from synhelpers.models.synapse_encoder import SynapseSetEncoder

    torch.manual_seed(0)
    enc = SynapseSetEncoder(ModelConfig.from_data(data, ["cell_class"], **overrides)).train()
    ptr = data.syn_ptr
    k = enc.cfg.set_size
    t0 = time.perf_counter()
    for e in range(n_edges):
        a, b = int(ptr[e]), int(min(ptr[e + 1], ptr[e] + k))
        pos = data.syn_pos[a:b][None]
        mask = torch.ones(1, b - a, dtype=torch.bool)
        z = enc.encode_padded(pos, data.syn_roi[a:b][None], data.syn_conf[a:b][None], mask,
                              pos[0].mean(0, keepdim=True), torch.tensor([b - a]),
                              data.roi_center, data.pos_unit_um[:1])
        z.sum().backward()
    per_edge = (time.perf_counter() - t0) / n_edges
    e_total = int(data.edge_index.shape[1])
    return {"edges_timed": n_edges, "seconds_per_edge": per_edge,
            "estimated_epoch_s": per_edge * e_total,
            "note": "synapse encoder only, one connection per call; excludes GNN and optimiser"}


def cmd_speed(args) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    data, meta = dataset(args.neurons, data_root=args.data_root)
    data_s = time.perf_counter() - t0
    overrides = {"checkpoint_chunks": args.neurons > 10_000}
    res = {"kind": "speed", "neurons": int(data.num_nodes), "connections": int(data.edge_index.shape[1]),
           "synapse_pairs": int(data.syn_pos.shape[0]), "data_seconds": data_s, "machine": machine(),
           "models": []}
    for name in args.models:
        r = time_epochs(data, name, args.steps, args.warmup, overrides)
        print(f"{name:14s} epoch {r['epoch_time_s']:.3f} s  eval {r['eval_forward_s']:.3f} s  "
              f"{r['synapse_pairs_per_s'] / 1e6:.2f} M pairs/s  peak {r['peak_memory_mb']:.0f} MB", flush=True)
        res["models"].append(r)
    if args.loop_edges:
        res["per_edge_loop_estimate"] = per_edge_loop_estimate(data, args.loop_edges, overrides)
        print(f"per-edge Python loop (published style), extrapolated: "
              f"{res['per_edge_loop_estimate']['estimated_epoch_s']:.1f} s/epoch", flush=True)
    by = {r["model"]: r for r in res["models"]}
    if "hybrid" in by and "original" in by:
        res["original_over_fused_epoch_time"] = by["original"]["epoch_time_s"] / by["hybrid"]["epoch_time_s"]
    if args.time_to_stop:
        from synhelpers.train.config import TrainConfig
        from synhelpers.train.run import run_training

        cfg = TrainConfig(model="hybrid", task="cell_class", seeds=1, num_threads=args.threads,
                          max_epochs=args.max_epochs, patience=args.patience, lr=args.lr)
        t0 = time.perf_counter()
        run = run_training(data, cfg, ROOT / "runs" / "bench" / f"stop_{args.neurons}")
        s = run["seeds"][0]
        res["fused_to_early_stop"] = {"wall_s": time.perf_counter() - t0, "fit_s": s["fit_time_s"],
                                      "epochs": s["epochs"], "best_epoch": s["best_epoch"],
                                      "test_macro_f1": s["test_macro_f1"],
                                      "median_epoch_time_s": s["epoch_time_s"]}
        print(f"fused to early stop: {res['fused_to_early_stop']}", flush=True)
    res["machine"]["load_average_end"] = os.getloadavg()
    write_json(RESULTS / f"train_speed_{args.neurons}.json", res)


def cmd_accuracy(args) -> None:
    from synhelpers.train.config import TrainConfig
    from synhelpers.train.run import run_training

    if args.threads:
        torch.set_num_threads(args.threads)
    data, meta = dataset(args.neurons, data_root=args.data_root)
    out_file = args.results or RESULTS / f"train_accuracy_{args.neurons}_{args.task}.json"
    res = read_json(out_file) if out_file.exists() else {"kind": "accuracy", "runs": {}}
    res.update({"neurons": int(data.num_nodes), "task": args.task, "seeds": args.seeds,
                "ceiling_macro_f1": meta["ceiling_macro_f1" if args.task == "cell_class" else "nt_ceiling_macro_f1"],
                "ceiling_accuracy": meta["ceiling" if args.task == "cell_class" else "nt_ceiling"],
                "machine": machine()})
    for mode in args.modes:
        for name in args.models:
            key = f"{name} mini-batch {args.batch_size}/{mode}" if args.batch_size else f"{name}/{mode}"
            if key in res["runs"] and not args.force:
                continue
            cfg = TrainConfig(model=name, task=args.task, mode=mode, seeds=args.seeds,
                              num_threads=args.threads, max_epochs=args.max_epochs,
                              patience=args.patience, lr=args.lr, **minibatch_settings(args))
            t0 = time.perf_counter()
            folder = key.replace("/", "_").replace(" ", "-")  # e.g. hybrid_transductive
            run = run_training(data, cfg, ROOT / "runs" / "bench" / f"acc_{args.neurons}_{args.task}" / folder)
            entry = {"wall_s": time.perf_counter() - t0}
            if run.get("not_applicable"):
                entry["not_applicable"] = run["not_applicable"]
            else:
                entry.update({k: run["mean"][k] for k in ("test_macro_f1", "test_accuracy", "epoch_time_s",
                                                          "best_epoch", "epochs")})
                entry.update({f"{k}_std": run["std"][k] for k in ("test_macro_f1", "test_accuracy")})
                entry["per_seed_macro_f1"] = [s["test_macro_f1"] for s in run["seeds"]]
                entry["f1_by_dependency"] = f1_by_dependency(run, meta)
            res["runs"][key] = entry
            print(key, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in entry.items()
                        if k != "per_seed_macro_f1"}, flush=True)
            write_json(out_file, res)  # after every run, so a long benchmark keeps its progress


def minibatch_settings(args) -> dict:
    """TrainConfig fields of the mini-batch flags (empty in full-graph mode)."""
    if not getattr(args, "batch_size", None):
        return {}
    return {"batch_size": args.batch_size, "fanouts": tuple(args.fanouts),
            "min_epochs": args.min_epochs, "eval_chunk_size": args.eval_chunk}


def first_time_at(wall: list, f1: list, target: float):
    """Wall seconds of the first validation at or above ``target`` (None if never)."""
    return next((t for t, f in zip(wall, f1) if f >= target), None)


def cmd_time_to_accuracy(args) -> None:
    """Validation macro-F1 against wall-clock time: fused full-graph, fused mini-batch, original."""
    from synhelpers.train.config import TrainConfig
    from synhelpers.train.run import run_training

    if args.threads:
        torch.set_num_threads(args.threads)
    data, _ = dataset(args.neurons, data_root=args.data_root)
    common = dict(task="cell_class", seeds=1, first_seed=args.seed, num_threads=args.threads,
                  lr=args.lr, progress="none")
    full = dict(max_epochs=args.max_epochs, patience=args.patience)
    mini = dict(max_epochs=args.mb_max_epochs, patience=args.mb_patience, min_epochs=args.min_epochs,
                batch_size=args.batch_size, fanouts=tuple(args.fanouts))
    runs = {"hybrid/full-graph": TrainConfig(model="hybrid", **common, **full),
            f"hybrid/mini-batch {args.batch_size}": TrainConfig(model="hybrid", **common, **mini),
            "original/full-graph": TrainConfig(model="original", **common, **full)}
    res = {"kind": "time_to_accuracy", "neurons": int(data.num_nodes), "target": args.target,
           "fanouts": list(args.fanouts), "machine": machine(), "runs": {}}
    for key, cfg in runs.items():
        if args.only and key.split("/")[1].split()[0] not in args.only:
            continue
        run = run_training(data, cfg, ROOT / "runs" / "bench" / f"tta_{args.neurons}" / key.replace("/", "_"))
        s = run["seeds"][0]
        f1 = s["history"]["val_macro_f1"]
        res["runs"][key] = {
            "wall_s": s["val_wall_s"], "cpu_s": s["val_cpu_s"], "val_macro_f1": f1, "epochs": s["epochs"],
            "steps_per_epoch": s["steps_per_epoch"], "epoch_time_s": s["epoch_time_s"],
            "best_val_macro_f1": s["best_val_macro_f1"], "test_macro_f1": s["test_macro_f1"],
            "fit_time_s": s["fit_time_s"], "time_to_target_s": first_time_at(s["val_wall_s"], f1, args.target),
            "cpu_to_target_s": first_time_at(s["val_cpu_s"], f1, args.target)}
        print(key, {k: v for k, v in res["runs"][key].items() if k not in ("wall_s", "cpu_s", "val_macro_f1")},
              flush=True)
    res["machine"]["load_average_end"] = os.getloadavg()
    out = RESULTS / f"train_time_to_accuracy_{args.neurons}.json"
    if out.exists() and args.only:  # keep the other runs of an earlier call
        res["runs"] = {**read_json(out)["runs"], **res["runs"]}
    write_json(out, res)
    plot_time_to_accuracy(res)


def plot_time_to_accuracy(res: dict) -> None:
    """figures/time_to_accuracy__synthetic-<N>-neurons.{png,svg}: validation macro-F1 against
    wall-clock time (left) and against the process's CPU time (right: on a shared machine with
    one thread, what the run would have taken alone)."""
    import matplotlib.pyplot as plt

    from synhelpers.figures.save import figure_name, save_figure

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, key, label in ((axes[0], "wall_s", "wall-clock"), (axes[1], "cpu_s", "process CPU")):
        for name, r in res["runs"].items():
            steps = r["steps_per_epoch"]
            ax.plot(r[key], r["val_macro_f1"], marker=".", ms=3, lw=1.2,
                    label=f"{name} ({steps} step{'s' if steps > 1 else ''}/epoch)")
        ax.axhline(res["target"], color="grey", ls=":", lw=1)
        ax.set(xlabel=f"{label} time since the fit started (s, validation included)", ylim=(0, 1))
    axes[0].set_ylabel("validation macro-F1")
    axes[1].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Time to accuracy, synthetic {res['neurons']:,} neurons, {res['machine']['device']}, "
                 f"{res['machine']['torch_threads']} thread(s)")
    save_figure(fig, ROOT / "figures", figure_name("time_to_accuracy", f"synthetic {res['neurons']} neurons"))


def minibatch_epoch(data, batch_size: int, fanouts, device=None, *, workers: int = 0,
                    bf16: bool | None = None) -> tuple[dict, torch.nn.Module]:
    """One mini-batch epoch of the fused model over all training seeds (batches of
    ``batch_size`` seeds with their sampled ``fanouts`` neighbourhoods, AdamW steps).

    The graph stays on the CPU, where the loader samples; each batch is copied to ``device``
    with ``non_blocking=True``, from pinned memory when ``device`` is CUDA. ``workers``:
    DataLoader worker processes that sample. ``bf16``: autocast (default: on CUDA only).
    Returns wall and CPU seconds, steps and peak memory (CUDA allocator, else process RSS),
    and the trained model.
    """
    from synhelpers.graph.sampler import NeighborBatchLoader
    from synhelpers.models import ModelConfig
    from synhelpers.train.minibatch import training_seeds
    from synhelpers.train.module import NodeClassifier, train_class_counts

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    bf16 = cuda if bf16 is None else bf16
    torch.manual_seed(0)
    counts = {"cell_class": train_class_counts(data, "cell_class").tolist()}
    module = NodeClassifier("hybrid", ModelConfig.from_data(data, ["cell_class"]), TrainConfig(),
                            ["cell_class"], counts).train().to(device)
    model, opt = module.model, module.configure_optimizers()
    seeds = training_seeds(data, ["cell_class"])
    loader = NeighborBatchLoader(data, seeds, list(fanouts), int(batch_size), seed=0,
                                 seed_sites_only=getattr(model, "sites_reach_own_output_only", False),
                                 num_workers=workers, pin_memory=cuda)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    t0, c0, steps = time.perf_counter(), time.process_time(), 0
    for batch in loader:
        batch = batch.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = module.training_step(batch, steps)  # the step every training mode runs
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    _sync(device)
    return ({"neurons": int(data.num_nodes), "seeds": int(seeds.numel()), "batch_size": int(batch_size),
            "fanouts": list(fanouts), "steps": steps, "workers": workers, "device": str(device),
            "bf16_autocast": bool(bf16), "pinned_memory": cuda,
            "epoch_s": time.perf_counter() - t0, "epoch_cpu_s": time.process_time() - c0,
            "peak_rss_after_epoch_mb": _peak_rss_mb(),
            "cuda_max_allocated_mb": torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None,
            "cuda_max_reserved_mb": torch.cuda.max_memory_reserved(device) / 2**20 if cuda else None},
            model)


def cmd_minibatch_epoch(args) -> None:
    """One mini-batch epoch over all training neurons: wall time and peak RSS, then a layer-wise
    evaluation. The graph is generated (if needed) in a child process, so this process's peak
    RSS counts training only (graph loading included)."""
    import subprocess

    from synhelpers.graph import load_graph
    from synhelpers.train.inference import whole_graph_logits

    root = args.data_root or ROOT / "data" / "bench"
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import bench_train, pathlib; "
            f"bench_train.dataset({args.neurons}, data_root=pathlib.Path({str(root)!r}))")
    subprocess.run([sys.executable, "-c", code], check=True)  # generate + build only
    torch.set_num_threads(args.threads or torch.get_num_threads())
    data = load_graph(root / f"synthetic_{args.neurons}_s0" / "graph")
    rss_loaded = _peak_rss_mb()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # the graph stays on the CPU
    epoch, model = minibatch_epoch(data, args.batch_size, args.fanouts, device)
    res = {"kind": "minibatch_epoch", **epoch, "peak_rss_after_load_mb": rss_loaded}
    t0, c0 = time.perf_counter(), time.process_time()
    whole_graph_logits(model, data, args.eval_chunk, device)
    res.update({"eval_chunk": args.eval_chunk, "layerwise_eval_s": time.perf_counter() - t0,
                "layerwise_eval_cpu_s": time.process_time() - c0,
                "peak_rss_after_eval_mb": _peak_rss_mb(), "machine": machine()})
    res["machine"]["load_average_end"] = os.getloadavg()
    print(res, flush=True)
    write_json(RESULTS / f"train_minibatch_epoch_{args.neurons}.json", res)


def cmd_merge(args) -> None:
    """Add the runs of each file to the default results file of its size and task."""
    for f in args.files:
        part = read_json(f)
        main_file = RESULTS / f"train_accuracy_{part['neurons']}_{part['task']}.json"
        merged = read_json(main_file) if main_file.exists() else {**part, "runs": {}}
        if (merged["seeds"], merged["ceiling_macro_f1"]) != (part["seeds"], part["ceiling_macro_f1"]):
            raise SystemExit(f"{f}: seeds or dataset differ from {main_file}; not merged")
        merged["runs"].update(part["runs"])
        merged.setdefault("merged_machines", []).append(part["machine"])
        write_json(main_file, merged)
        print(f"merged {len(part['runs'])} runs from {f} into {main_file}")


def f1_by_dependency(run: dict, meta: dict) -> dict:
    """Mean test F1 (over seeds, then classes) of the classes that need each kind of information
    (``synthetic.json``'s ``class_dependency``: ``synapse``, ``wiring``, ``both``)."""
    dep = meta.get("class_dependency", {})
    groups: dict[str, list] = {}
    for s in run["seeds"]:
        for c, f1 in (s.get("test_per_class_f1") or {}).items():
            if f1 is not None and c in dep:
                groups.setdefault(dep[c], []).append(f1)
    return {k: float(np.mean(v)) for k, v in sorted(groups.items())}


def _fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def cmd_report(args) -> None:
    lines = []
    for f in sorted(RESULTS.glob("train_speed_*.json")):
        r = read_json(f)
        lines.append(f"\n**Speed, {r['neurons']:,} neurons, {r['connections']:,} connections, "
                     f"{r['synapse_pairs']:,} synapse pairs** ({r['machine']['device']}, "
                     f"{r['machine']['torch_threads']} threads, load average at start "
                     f"{r['machine']['load_average_start'][0]:.1f}):\n")
        lines.append("| model | epoch (s) | eval forward (s) | synapse pairs / s | peak memory (MB) |")
        lines.append("|---|---:|---:|---:|---:|")
        for m in r["models"]:
            lines.append(f"| {m['model']} | {m['epoch_time_s']:.3f} | {m['eval_forward_s']:.3f} | "
                         f"{m['synapse_pairs_per_s']:,.0f} | {m['peak_memory_mb']:,.0f} |")
        if "original_over_fused_epoch_time" in r:
            lines.append(f"\nOriginal design / fused epoch time in the same run: "
                         f"{r['original_over_fused_epoch_time']:.2f}x.")
        if "per_edge_loop_estimate" in r:
            p = r["per_edge_loop_estimate"]
            lines.append(f"A per-edge Python loop over connections (the published code's approach; synapse "
                         f"encoder only, timed on {p['edges_timed']:,} edges and extrapolated): "
                         f"{p['estimated_epoch_s']:.1f} s per epoch.")
        if "fused_to_early_stop" in r:
            s = r["fused_to_early_stop"]
            lines.append(f"Fused model trained to early stop: {s['wall_s']:.0f} s wall "
                         f"({s['epochs']} epochs, best epoch {s['best_epoch']}, median epoch "
                         f"{s['median_epoch_time_s']:.3f} s, test macro-F1 {s['test_macro_f1']:.3f}).")
    for f in sorted(RESULTS.glob("train_accuracy_*.json")):
        r = read_json(f)
        lines.append(f"\n**Accuracy, {r['neurons']:,} neurons, task {r['task']}, {r['seeds']} seeds** "
                     f"(generator ceiling: macro-F1 {r['ceiling_macro_f1'] * 100:.1f}, accuracy "
                     f"{r['ceiling_accuracy'] * 100:.1f}):\n")
        lines.append("| model | mode | test macro-F1 (%) | test accuracy (%) | F1 synapse / wiring / both "
                     "classes (%) | epoch (s) | epochs |")
        lines.append("|---|---|---:|---:|---:|---:|---:|")
        for key, e in r["runs"].items():
            name, mode = key.split("/")
            if "not_applicable" in e:
                lines.append(f"| {name} | {mode} | n/a: per-neuron table, cannot embed unseen neurons | | | | |")
                continue
            dep = e.get("f1_by_dependency", {})
            groups = " / ".join(f"{dep[g] * 100:.0f}" if g in dep else "-" for g in ("synapse", "wiring", "both"))
            lines.append(f"| {name} | {mode} | {e['test_macro_f1'] * 100:.1f} ± {e['test_macro_f1_std'] * 100:.1f} | "
                         f"{e['test_accuracy'] * 100:.1f} ± {e['test_accuracy_std'] * 100:.1f} | {groups} | "
                         f"{e['epoch_time_s']:.2f} | {e['epochs']:.0f} |")
    lines += scale_lines()
    for folder, task in ((ROOT / "runs" / "03_cell_class", "cell_class"), (ROOT / "runs" / "04_nt", "nt")):
        lines += notebook_ablation_lines(folder, task)
    print("\n".join(lines))


def scale_lines() -> list[str]:
    """Markdown of the time-to-accuracy and mini-batch-epoch results."""
    lines = []
    for f in sorted(RESULTS.glob("train_time_to_accuracy_*.json")):
        r = read_json(f)
        m = r["machine"]
        lines += [f"\n**Time to validation macro-F1 {r['target']}, {r['neurons']:,} neurons** ({m['device']}, "
                  f"{m['torch_threads']} thread(s), load average {m['load_average_start'][0]:.1f} at start, "
                  f"{m['load_average_end'][0]:.1f} at end):\n",
                  "| run | steps / epoch | epoch (s) | wall to target (s) | CPU to target (s) | best val | "
                  "test macro-F1 |", "|---|---:|---:|---:|---:|---:|---:|"]
        for key, e in r["runs"].items():
            lines.append(f"| {key} | {e['steps_per_epoch']} | {e['epoch_time_s']:.2f} | "
                         f"{_fmt(e['time_to_target_s'], 1)} | {_fmt(e.get('cpu_to_target_s'), 1)} | "
                         f"{e['best_val_macro_f1']:.3f} | {e['test_macro_f1']:.3f} |")
    for f in sorted(RESULTS.glob("train_minibatch_epoch_*.json")):
        r = read_json(f)
        lines.append(f"\n**One mini-batch epoch, {r['neurons']:,} neurons** ({r['seeds']:,} training seeds, "
                     f"batches of {r['batch_size']}, fan-outs {r['fanouts']}, {r['steps']} steps): "
                     f"{r['epoch_s']:.1f} s wall ({r['epoch_cpu_s']:.1f} s CPU); peak RSS {r['peak_rss_after_epoch_mb'] / 1024:.2f} GB "
                     f"({r['peak_rss_after_load_mb'] / 1024:.2f} GB after loading the graph); layer-wise "
                     f"evaluation of every neuron in chunks of {r['eval_chunk']}: {r['layerwise_eval_s']:.1f} s, "
                     f"peak RSS then {r['peak_rss_after_eval_mb'] / 1024:.2f} GB.")
    return lines


def notebook_ablation_lines(folder: Path, task: str) -> list[str]:
    """Markdown table of the ablation runs saved by notebooks 03 / 04 (default profile)."""
    from synhelpers.answers.results import load_runs, summary_table

    dirs = {p.name.replace("_transductive", "/transductive").replace("_inductive", "/inductive"): p
            for p in sorted(folder.glob("*_*")) if (p / "metrics.json").exists()}
    if not dirs:
        return []
    runs = load_runs(dirs)
    any_run = next(iter(runs.values()))
    meta_file = ROOT / "data" / "synthetic" / "synthetic.json"
    meta = read_json(meta_file) if meta_file.exists() else {}
    key = "ceiling_macro_f1" if task == "cell_class" else "nt_ceiling_macro_f1"
    akey = "ceiling" if task == "cell_class" else "nt_ceiling"
    t = summary_table(runs, meta.get(key), meta.get(akey))
    cfg = any_run["config"]
    out = [f"\n**Ablation from notebook {'03' if task == 'cell_class' else '04'} ({task}, "
           f"{meta.get('n_neurons', '?'):,} neurons, {cfg['seeds']} seeds, <= {cfg['max_epochs']} epochs, "
           f"patience {cfg['patience']}, lr {cfg['lr']}):**\n",
           "| run | views | test macro-F1 (%) | test accuracy (%) | epoch (s) |", "|---|---|---:|---:|---:|"]
    for _, r in t.iterrows():
        ep = r.get("epoch time (s)")
        ep = "" if ep is None or ep != ep else f"{ep:.2f}"
        out.append(f"| {r['run']} | {r['views']} | {r['test macro-F1 (%)']} | {r['test accuracy (%)']} | {ep} |")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--neurons", type=int, default=2000)
    s.add_argument("--models", nargs="+", default=list(SPEED_MODELS))
    s.add_argument("--steps", type=int, default=5)
    s.add_argument("--warmup", type=int, default=2)
    s.add_argument("--time-to-stop", action="store_true", help="also train the fused model to early stop")
    s.add_argument("--loop-edges", type=int, default=0,
                   help="also time a per-edge Python loop on this many edges and extrapolate")
    a = sub.add_parser("accuracy")
    a.add_argument("--neurons", type=int, default=5000)
    a.add_argument("--seeds", type=int, default=3)
    a.add_argument("--task", default="cell_class", choices=["cell_class", "nt"])
    a.add_argument("--models", nargs="+", default=list(ACCURACY_MODELS))
    a.add_argument("--modes", nargs="+", default=["transductive", "inductive"])
    a.add_argument("--force", action="store_true", help="rerun models already in the results file")
    a.add_argument("--results", type=Path, default=None,
                   help="results file (default benchmarks/results/train_accuracy_<neurons>_<task>.json); "
                        "give a second process its own file, then merge it with `merge FILE`")
    t = sub.add_parser("time-to-accuracy", help="validation macro-F1 vs wall time, 3 training set-ups")
    t.add_argument("--neurons", type=int, default=2000)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--target", type=float, default=0.9)
    t.add_argument("--mb-max-epochs", type=int, default=40)
    t.add_argument("--mb-patience", type=int, default=8)
    t.add_argument("--only", nargs="+", choices=["full-graph", "mini-batch"], default=None,
                   help="run only these set-ups (hybrid and original in full-graph)")
    e = sub.add_parser("minibatch-epoch", help="one mini-batch epoch: time and peak RSS")
    e.add_argument("--neurons", type=int, default=21739)
    for q in (s, a, t, e):
        q.add_argument("--threads", type=int, default=None)
        q.add_argument("--data-root", type=Path, default=None)
    for q in (a, t, e):
        q.add_argument("--batch-size", type=int, default=None if q is a else 256,
                       help="mini-batch mode: seeds per step (accuracy: default full graph)")
        q.add_argument("--fanouts", type=int, nargs="+", default=list(TrainConfig.fanouts))
        q.add_argument("--eval-chunk", type=int, default=None if q is not e else 4096)
    for q in (s, a, t):
        q.add_argument("--max-epochs", type=int, default=TrainConfig.max_epochs)
        q.add_argument("--patience", type=int, default=TrainConfig.patience)
        q.add_argument("--lr", type=float, default=TrainConfig.lr)
    for q in (a, t):  # time-to-accuracy: mini-batch runs only (full-graph keeps the default)
        q.add_argument("--min-epochs", type=int, default=TrainConfig.min_epochs if q is a else 5)
    sub.add_parser("report")
    mg = sub.add_parser("merge", help="merge accuracy results written by a parallel process (--results)")
    mg.add_argument("files", nargs="+", type=Path)
    args = p.parse_args(argv)
    {"speed": cmd_speed, "accuracy": cmd_accuracy, "report": cmd_report, "merge": cmd_merge,
     "time-to-accuracy": cmd_time_to_accuracy, "minibatch-epoch": cmd_minibatch_epoch}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: synthetic generation, graph build and one mini-batch epoch, from 2k to FlyWire size.

Every stage of every size runs in a fresh subprocess, so that its peak RSS (``ru_maxrss``) is
its own: ``generate`` (``write_synthetic``: tables to disk), ``build`` (``build_cached``: read,
validate, build, save ``graph.pt``) and ``epoch`` (``load_graph``, then one epoch of
``NeighborBatchLoader`` over the training seeds: neighbour sampling and batch building, no
model). Wall and CPU (user + sys) seconds are both recorded: on a shared machine the CPU time
is the steadier number. Peak RSS is in GB (10^9 bytes).

    python benchmarks/bench_data.py                              # 2,000 and 21,739 neurons
    nice -n 19 python benchmarks/bench_data.py --neurons 2000 21739 139255 --min-available-gb 14
    python benchmarks/bench_data.py --neurons 139255 --stages generate --keep   # then:
    python benchmarks/bench_data.py --neurons 139255 --stages build epoch --keep
    python benchmarks/bench_data.py --plot                       # figure from the saved results
    python benchmarks/bench_data.py --markdown                   # RESULTS.md rows, saved results

Results are merged into ``benchmarks/results/data_scaling.json`` (one row per size, replaced
when that size is run again), so sizes can be run one at a time.

Issue 2's target: hemibrain scale, generation + build < 120 s and peak RSS < 10 GB on 2 cores.
FlyWire scale (139,255 neurons): generation, build and one mini-batch epoch complete on the
2-core, 24 GB machine with peak RSS under 20 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "data_scaling.json"
FIGURES = HERE.parent / "figures"
STAGES = ("generate", "build", "epoch")


def _available_gb() -> float:
    """MemAvailable of the machine, GB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024 / 1e9
    return float("nan")


def _peak_rss_gb() -> float:
    """Peak RSS of this process so far, GB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, 2)


def _cpu() -> float:
    """CPU seconds (user + sys, all threads) of this process so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _generate(n: int, seed: int, d: Path) -> dict:
    from synhelpers.tables.synthetic import SyntheticConfig, write_synthetic

    t0, c0 = time.perf_counter(), _cpu()
    meta = write_synthetic(SyntheticConfig(n_neurons=n, seed=seed), d).meta
    return {"wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(_cpu() - c0, 1),
            "connections": meta["n_connections"],
            "synapse_pairs": meta["n_synapses"], "connection_rows": meta["n_connection_rows"],
            "mean_out_degree": round(meta["mean_out_degree"], 1),
            "synapses_per_connection": round(meta["mean_synapses_per_connection"], 2),
            "synapses_parquet_mb": round((d / "synapses.parquet").stat().st_size / 1e6, 1),
            "tables_mb": round(sum(f.stat().st_size for f in d.glob("*.parquet")) / 1e6, 1)}


def _build(d: Path) -> dict:
    from synhelpers.graph import GraphConfig, build_cached

    t0, c0 = time.perf_counter(), _cpu()
    g = build_cached(d, d / "graph", GraphConfig(), force=True)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "edges": int(g.edge_index.shape[1]),
            "synapse_pairs": int(g.syn_pos.shape[0]), "sites": int(g.site_pos.shape[0]),
            "graph_pt_gb": round((d / "graph" / "graph.pt").stat().st_size / 1e9, 2)}


def _epoch(d: Path, fanouts: list[int], batch_size: int) -> dict:
    """One epoch of sampled mini-batches over the training seeds (data side only)."""
    from synhelpers.graph import load_graph
    from synhelpers.graph.sampler import NeighborBatchLoader

    t0 = time.perf_counter()
    data = load_graph(d / "graph")
    t1 = time.perf_counter()
    loader = NeighborBatchLoader(data, data.train_mask, fanouts, batch_size, seed=0)
    t2, c2 = time.perf_counter(), _cpu()
    nodes = edges = synapses = 0
    for batch in loader:
        nodes += int(batch.num_nodes)
        edges += int(batch.edge_index.shape[1])
        synapses += int(batch.syn_pos.shape[0])
    t3, c3 = time.perf_counter(), _cpu()
    k = len(loader)
    return {"wall_s": round(t3 - t2, 1), "cpu_s": round(c3 - c2, 1), "load_s": round(t1 - t0, 1), "csr_s": round(t2 - t1, 1),
            "batches": k, "seeds": int(data.train_mask.sum()), "fanouts": fanouts,
            "batch_size": batch_size, "mean_batch_nodes": nodes // max(k, 1),
            "mean_batch_edges": edges // max(k, 1), "mean_batch_synapses": synapses // max(k, 1)}


def _child(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    d = Path(args._dir)
    before = {"load_avg_start": round(os.getloadavg()[0], 1),
              "available_gb_start": round(_available_gb(), 1)}
    if args._child == "generate":
        row = _generate(args._n, args.seed, d)
    elif args._child == "build":
        row = _build(d)
    else:
        row = _epoch(d, args.fanouts, args.batch_size)
    print(json.dumps({**row, "peak_rss_gb": _peak_rss_gb(), **before,
                      "load_avg_end": round(os.getloadavg()[0], 1)}))


def _run_stage(stage: str, n: int, d: Path, args) -> dict:
    cmd = [sys.executable, __file__, "--_child", stage, "--_n", str(n), "--_dir", str(d),
           "--seed", str(args.seed), "--threads", str(args.threads),
           "--batch-size", str(args.batch_size), "--fanouts", *map(str, args.fanouts)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _run_size(n: int, args) -> dict:
    """The chosen stages of one size, each in a fresh subprocess, in a scratch folder (kept
    with ``--keep``, so that later stages can run in another call)."""
    if args.keep:
        root = Path(args.scratch or tempfile.gettempdir()) / f"bench-data-{n}-seed-{args.seed}"
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(tempfile.mkdtemp(prefix=f"bench-data-{n}-", dir=args.scratch))
    row: dict = {"neurons": n, "seed": args.seed, "threads": args.threads,
                 "date": time.strftime("%Y-%m-%d"),
                 "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                            f"Python {platform.python_version()}"}
    try:
        for stage in args.stages:
            avail = _available_gb()
            if avail < args.min_available_gb:
                row[stage] = {"skipped": f"{avail:.1f} GB available < {args.min_available_gb} GB"}
                print(f"[bench] {n:,} neurons, {stage}: skipped ({row[stage]['skipped']})",
                      flush=True)
                break
            row[stage] = _run_stage(stage, n, root, args)
            print(f"[bench] {n:,} neurons, {stage}: {json.dumps(row[stage])}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return row


def _load_results() -> list[dict]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else []


def _save_results(rows: list[dict]) -> None:
    old = {r["neurons"]: r for r in _load_results()}
    for r in rows:  # the stages run now replace those of an earlier run of the same size
        before = old.get(r["neurons"], {})
        done = {k: v for k, v in r.items() if not (isinstance(v, dict) and "skipped" in v
                                                   and "peak_rss_gb" in before.get(k, {}))}
        old[r["neurons"]] = {**before, **done}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(sorted(old.values(), key=lambda r: r["neurons"]), indent=1) + "\n")


def _markdown(rows: list[dict]) -> None:
    print("| neurons | connections | synapse pairs | generate wall / CPU (s) | generate peak RSS (GB) "
          "| build wall / CPU (s) | build peak RSS (GB) | graph.pt (GB) | epoch wall / CPU (s) "
          "| epoch peak RSS (GB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        g, b, e = (r.get(s, {}) for s in STAGES)

        def cell(x, key):
            return f"{x[key]}" if key in x else "-"

        print(f"| {r['neurons']:,} | {g.get('connections', 0):,} | {g.get('synapse_pairs', 0):,} "
              f"| {cell(g, 'wall_s')} / {cell(g, 'cpu_s')} | {cell(g, 'peak_rss_gb')} "
              f"| {cell(b, 'wall_s')} / {cell(b, 'cpu_s')} | {cell(b, 'peak_rss_gb')} "
              f"| {cell(b, 'graph_pt_gb')} | {cell(e, 'wall_s')} / {cell(e, 'cpu_s')} "
              f"| {cell(e, 'peak_rss_gb')} |")


def _growth(rows: list[dict]) -> None:
    """Log-log slopes between successive sizes: cost ~ neurons ** slope (and per synapse pair)."""
    import math

    print("\n| from -> to (neurons) | synapse pairs x | " + " | ".join(
        f"{s} CPU slope | {s} peak RSS slope" for s in STAGES) + " |")
    print("|---|---:|" + "---:|" * (2 * len(STAGES)))
    done = [r for r in rows if "synapse_pairs" in r.get("generate", {})]
    for a, b in zip(done[:-1], done[1:]):
        dn = math.log(b["neurons"] / a["neurons"])
        cells = []
        for s in STAGES:
            for key in ("cpu_s", "peak_rss_gb"):
                x, y = a.get(s, {}).get(key), b.get(s, {}).get(key)
                cells.append(f"{math.log(y / x) / dn:.2f}" if x and y else "-")
        ratio = b["generate"]["synapse_pairs"] / a["generate"]["synapse_pairs"]
        print(f"| {a['neurons']:,} -> {b['neurons']:,} | {ratio:.1f} | " + " | ".join(cells) + " |")


def _plot(rows: list[dict]) -> list[Path]:
    """Wall time, CPU time and peak RSS of every stage against neurons (log-log)."""
    import matplotlib.pyplot as plt

    from synhelpers.figures.save import figure_name, save_figure

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    for stage, color in zip(STAGES, ("C0", "C1", "C2")):
        done = [r for r in rows if "peak_rss_gb" in r.get(stage, {})]
        n = [r["neurons"] for r in done]
        ax_t.plot(n, [r[stage]["wall_s"] for r in done], "o-", color=color, label=f"{stage} (wall)")
        ax_t.plot(n, [r[stage]["cpu_s"] for r in done], "s--", color=color, alpha=0.6,
                  label=f"{stage} (CPU, user + sys)")
        ax_m.plot(n, [r[stage]["peak_rss_gb"] for r in done], "o-", color=color, label=stage)
    ax_m.axhline(20, color="grey", ls=":", label="20 GB target")
    for ax, what in ((ax_t, "seconds"), (ax_m, "peak RSS (GB)")):
        ax.set(xscale="log", yscale="log", xlabel="neurons", ylabel=what)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    ax_t.set_title("time per stage (epoch: sampling + batches, no model)")
    ax_m.set_title("peak RSS per stage (fresh process each)")
    seeds = sorted({r["seed"] for r in rows})
    sizes = "-".join(str(r["neurons"]) for r in rows)
    return save_figure(fig, FIGURES, figure_name("data_scaling", f"synthetic seed {seeds[0]}",
                                                 f"{sizes} neurons"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neurons", type=int, nargs="*", default=None,
                    help="sizes to run (default 2000 21739; none with --plot/--markdown alone)")
    ap.add_argument("--seed", type=int, default=0, help="synthetic seed")
    ap.add_argument("--fanouts", type=int, nargs="+", default=[10, 5], help="per-hop fan-outs")
    ap.add_argument("--batch-size", type=int, default=1024, help="seeds per mini-batch")
    ap.add_argument("--threads", type=int, default=1, help="torch threads in every stage")
    ap.add_argument("--min-available-gb", type=float, default=0.0,
                    help="skip the remaining stages of a size when less memory is available")
    ap.add_argument("--scratch", default=None, help="folder for the tables and graph (default: TMPDIR)")
    ap.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES),
                    help="stages to run (a later stage needs the earlier ones' files: --keep)")
    ap.add_argument("--keep", action="store_true",
                    help="keep SCRATCH/bench-data-N-seed-S for a later call (else it is deleted)")
    ap.add_argument("--markdown", action="store_true", help="print RESULTS.md rows")
    ap.add_argument("--plot", action="store_true", help="plot the saved results into figures/")
    ap.add_argument("--_child", choices=STAGES, help=argparse.SUPPRESS)
    ap.add_argument("--_n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--_dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child is not None:
        _child(args)
        return
    sizes = args.neurons if args.neurons is not None else (
        [] if args.plot or args.markdown else [2000, 21739])
    rows = [_run_size(n, args) for n in sizes]
    if rows:
        _save_results(rows)
    if args.markdown:
        _markdown(_load_results())
        _growth(_load_results())
    if args.plot:
        print("\n".join(map(str, _plot(_load_results()))))


if __name__ == "__main__":
    main()

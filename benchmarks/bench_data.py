"""Benchmark: synthetic generation + graph build, wall time and peak RSS, at two scales.

Each scale runs in a fresh subprocess so that its peak RSS (``ru_maxrss``) is its own.

    python benchmarks/bench_data.py                     # quickstart (2,000) and hemibrain (21,739)
    python benchmarks/bench_data.py --neurons 2000      # one scale
    python benchmarks/bench_data.py --markdown          # also print a RESULTS.md table row

Issue 2's target: hemibrain scale, generation + build < 120 s and peak RSS < 10 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time


def _one(n: int, seed: int) -> dict:
    from synhelpers.graph import GraphConfig, build_cached
    from synhelpers.tables.synthetic import SyntheticConfig, write_synthetic

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        con = write_synthetic(SyntheticConfig(n_neurons=n, seed=seed), d)
        t1 = time.perf_counter()
        del con
        g = build_cached(d, f"{d}/graph", GraphConfig())
        t2 = time.perf_counter()
        g2 = build_cached(d, f"{d}/graph", GraphConfig())  # cache hit
        t3 = time.perf_counter()
        return {
            "neurons": n,
            "connections": int(g.edge_index.shape[1]),
            "synapse_pairs": int(g.syn_pos.shape[0]),
            "generate_s": round(t1 - t0, 2),
            "build_s": round(t2 - t1, 2),
            "total_s": round(t2 - t0, 2),
            "cached_load_s": round(t3 - t2, 2),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
            "same_after_cache": bool(g2.num_nodes == g.num_nodes),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neurons", type=int, nargs="*", default=[2000, 21739])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--_child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child is not None:
        print(json.dumps(_one(args._child, args.seed)))
        return
    rows = []
    for n in args.neurons:
        out = subprocess.run([sys.executable, __file__, "--_child", str(n), "--seed", str(args.seed)],
                             check=True, capture_output=True, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row))
    if args.markdown:
        machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        print(f"\nMachine: {machine}\n")
        print("| neurons | connections | synapse pairs | generate (s) | build (s) | total (s) | cached load (s) | peak RSS (GB) |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['neurons']:,} | {r['connections']:,} | {r['synapse_pairs']:,} | {r['generate_s']} "
                  f"| {r['build_s']} | {r['total_s']} | {r['cached_load_s']} | {r['peak_rss_gb']} |")


if __name__ == "__main__":
    main()

"""Conformal prediction sets: does the empirical test coverage match the target?

Trains (or reuses) one run per label column on the synthetic connectome, N seeds, then for
each seed alone calibrates split-conformal sets on the validation split
(``predict(..., coverage=target)``, :mod:`synhelpers.answers.conformal`) and measures on the
test split: coverage, mean set size and the fraction of neurons answered "unknown".

Usage::

    python benchmarks/bench_conformal.py --neurons 2000 --seeds 3 --target 0.9 --model hybrid

Writes ``benchmarks/results/conformal_<neurons>_<model>.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_train import dataset, machine  # noqa: E402

import synhelpers  # noqa: E402
from synhelpers.io import write_json  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
COLUMNS = {"cell_class": "cell_class", "nt": "predictedNt"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--model", default="hybrid")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench_conformal")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    data, meta = dataset(args.neurons)
    graph_dir = ROOT / "data" / "bench" / f"synthetic_{args.neurons}_s0" / "graph"
    out = {"kind": "conformal", "neurons": args.neurons, "model": args.model, "target": args.target,
           "machine": machine(), "columns": {}}
    for task, column in COLUMNS.items():
        cfg = synhelpers.TrainConfig(model=args.model, labels=(column,), seeds=args.seeds,
                                     num_threads=args.threads, progress="none")
        t0 = time.perf_counter()
        run_dir = args.runs / f"{args.neurons}_{args.model}_{task}"
        synhelpers.run_training(graph_dir, cfg, run_dir)
        rows = []
        for seed in range(args.seeds):
            run = synhelpers.load_run(run_dir, seeds=[seed])
            df = run.predict(data, coverage=args.target)
            rep = df.attrs["synhelpers"]["conformal"][column]
            rows.append({"seed": seed, "threshold": rep["threshold"],
                         "calibration_neurons": rep["calibration_neurons"], **rep["test"]})
        cov = [r["coverage"] for r in rows]
        out["columns"][column] = {
            "seeds": rows, "coverage_mean": float(np.mean(cov)), "coverage_std": float(np.std(cov, ddof=1)),
            "mean_set_size": float(np.mean([r["mean_set_size"] for r in rows])),
            "unknown_fraction": float(np.mean([r["unknown_fraction"] for r in rows])),
            "wall_s": time.perf_counter() - t0}
        c = out["columns"][column]
        print(f"{column}: test coverage {c['coverage_mean']:.3f} ± {c['coverage_std']:.3f} "
              f"(target {args.target}), mean set size {c['mean_set_size']:.2f}, "
              f"unknown {c['unknown_fraction']:.1%}", flush=True)
    path = write_json(RESULTS / f"conformal_{args.neurons}_{args.model}.json", out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Any-connectome benchmarks (issue 9): small synapse-free graphs against the baseline, and a
held-out synthetic individual.

Usage::

    python benchmarks/bench_connectomes.py small --neurons 200 500 2000 --splits 5 --seeds 3
    python benchmarks/bench_connectomes.py held-out --neurons 2000 --individuals 4 --seeds 3
    python benchmarks/bench_connectomes.py held-out --neurons 2000 --individuals 4 --seeds 3 --mirror 3
    python benchmarks/bench_connectomes.py report

``small``: synthetic connectomes written *without* their synapse table, so only the wiring models
can run; every wiring model of the registry with the default settings, ``--splits`` x ``--seeds``,
beside the logistic-regression baseline on the same splits and the majority class. ``held-out``:
train on K-1 synthetic individuals (own frames, own label noise), test on the last; the fused
model, wiring-only (sage) and synapse-only models and the baseline, beside the held-out
individual's ceiling. Results go to ``benchmarks/results/connectomes_*.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synhelpers.io import read_json, write_json  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
WIRING_MODELS = ("mlp", "sage", "gcn", "gat")


def machine() -> dict:
    import torch

    return {"device": f"cpu x{os.cpu_count()}", "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "load_average_start": os.getloadavg()}


def _synapse_free(n: int, seed: int, root: Path) -> Path:
    """A synthetic connectome folder without synapses.parquet (tables only)."""
    from synhelpers.tables.contract import write_tables
    from synhelpers.tables.synthetic import SyntheticConfig, generate

    out = root / f"nosyn_{n}_s{seed}"
    if not (out / "neurons.parquet").exists():
        con = generate(SyntheticConfig(n_neurons=n, seed=seed))
        meta = {k: v for k, v in con.meta.items() if k != "truth"}
        con.synapses = None
        write_tables(con, out)
        write_json(out / "synthetic.json", meta)
    return out


def _majority(data, splits: int) -> list[float]:
    """Macro-F1 of always predicting the most frequent training class, per split."""
    from synhelpers.graph.split import with_split
    from synhelpers.train.metrics import macro_f1

    out = []
    for k in range(splits):
        d = with_split(data, k)
        y = d.y_cell_class
        train = y[d.train_mask & (y >= 0)]
        test = y[d.test_mask & (y >= 0)].numpy()
        out.append(macro_f1(test, np.full_like(test, int(train.mode().values))))
    return out


def _summary(vals) -> dict:
    vals = [float(v) for v in vals]
    return {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
            "values": vals}


def cmd_small(args) -> None:
    from synhelpers.graph import GraphConfig, build_cached
    from synhelpers.train import BaselineConfig, TrainConfig, run_baseline, run_training

    root = ROOT / "data" / "bench"
    res = {"machine": machine(), "splits": args.splits, "seeds": args.seeds, "sizes": {}}
    for n in args.neurons:
        tables = _synapse_free(n, 0, root)
        gdir = tables / "graph"
        data = build_cached(tables, gdir, GraphConfig(labels=("cell_class",), min_class_count=args.min_class_count))
        meta = read_json(tables / "synthetic.json")
        row = {"ceiling_macro_f1": meta["ceiling_macro_f1"], "majority": _summary(_majority(data, args.splits))}
        b = run_baseline(gdir, ROOT / "runs" / "bench" / f"nosyn_{n}" / "baseline",
                         BaselineConfig(splits=args.splits))
        row["baseline"] = _summary([s["test_macro_f1"] for s in b["seeds"]])
        for model in args.models:
            t0 = time.perf_counter()
            r = run_training(data, TrainConfig(model=model, task="cell_class", seeds=args.seeds,
                                               splits=args.splits, num_threads=args.threads,
                                               progress="none"),
                             ROOT / "runs" / "bench" / f"nosyn_{n}" / model)
            row[model] = {**_summary([s["test_macro_f1"] for s in r["seeds"]]),
                          "wall_s": time.perf_counter() - t0,
                          "epochs": float(np.mean([s["epochs"] for s in r["seeds"]]))}
            print(f"{n:>6} {model:8s} {row[model]['mean']:.3f} ± {row[model]['std']:.3f} "
                  f"(baseline {row['baseline']['mean']:.3f}, majority {row['majority']['mean']:.3f})",
                  flush=True)
        res["sizes"][str(n)] = row
        write_json(args.results, res)


def cmd_held_out(args) -> None:
    from synhelpers.drivers.ablation import run_held_out

    t0 = time.perf_counter()
    extra = {k: v for k, v in (("augment", args.augment), ("tta", args.tta)) if v not in (None, "none", 1)}
    tag = "".join(f"_{k}-{str(v).replace(',', '+')}" for k, v in extra.items())
    r = run_held_out(profile="default", n_neurons=args.neurons, individuals=args.individuals,
                     mirror=tuple(args.mirror or ()), models=tuple(args.models), seeds=args.seeds,
                     splits=args.splits, num_threads=args.threads, tag=tag, **extra)
    out = {"machine": machine(), "dataset": r.dataset, "ceiling": r.ceiling, "seeds": args.seeds,
           "neurons_per_individual": args.neurons, "individuals": args.individuals,
           "mirror": args.mirror or [], **extra, "wall_s": time.perf_counter() - t0, "runs": {}}
    for key, m in r.runs.items():
        f1 = [s["test_macro_f1"] for s in m["seeds"]]
        out["runs"][key.split("/")[0]] = _summary(f1)
    name = f"connectomes_held_out_{args.neurons}x{args.individuals}" + ("_mirror" if args.mirror else "") + tag
    write_json(RESULTS / f"{name}.json", out)
    for k, v in out["runs"].items():
        print(f"{k:14s} {v['mean'] * 100:.1f} ± {v['std'] * 100:.1f}")
    print(f"ceiling        {r.ceiling['macro_f1'] * 100:.1f}")


def _pm(s: dict) -> str:
    return f"{s['mean'] * 100:.1f} ± {s['std'] * 100:.1f}"


def cmd_report(args) -> None:
    f = RESULTS / "connectomes_small.json"
    if f.exists():
        r = read_json(f)
        models = [m for m in WIRING_MODELS if m in next(iter(r["sizes"].values()))]
        print(f"**Synapse-free synthetic connectomes**, {r['splits']} splits x {r['seeds']} seeds "
              f"(baseline and majority: {r['splits']} splits), test macro-F1 (%):\n")
        print("| neurons | " + " | ".join(models) + " | baseline | majority class | ceiling |")
        print("|---:|" + "---:|" * (len(models) + 3))
        for n, row in r["sizes"].items():
            best = max(models, key=lambda m: row[m]["mean"])
            cells = [("**" + _pm(row[m]) + "**") if m == best else _pm(row[m]) for m in models]
            print(f"| {int(n):,} | " + " | ".join(cells) + f" | {_pm(row['baseline'])} | "
                  f"{_pm(row['majority'])} | {row['ceiling_macro_f1'] * 100:.1f} |")
    for f in sorted(RESULTS.glob("connectomes_held_out_*.json")):
        r = read_json(f)
        print(f"\n**Held-out individual**: {r['dataset']}, {r['seeds']} seeds, "
              f"mirror {r['mirror'] or 'none'}, augment {r.get('augment', 'none')}, tta {r.get('tta', 1)}; test macro-F1 (%), ceiling {r['ceiling']['macro_f1'] * 100:.1f}:\n")
        print("| model | test macro-F1 (%) | below ceiling |")
        print("|---|---:|---:|")
        for k, v in r["runs"].items():
            print(f"| {k} | {_pm(v)} | {(r['ceiling']['macro_f1'] - v['mean']) * 100:.1f} |")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("small", help="synapse-free graphs vs the baseline")
    s.add_argument("--neurons", type=int, nargs="+", default=[200, 500, 2000])
    s.add_argument("--models", nargs="+", default=list(WIRING_MODELS))
    s.add_argument("--splits", type=int, default=5)
    s.add_argument("--seeds", type=int, default=3)
    s.add_argument("--min-class-count", type=int, default=10)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--results", type=Path, default=RESULTS / "connectomes_small.json")
    s.set_defaults(func=cmd_small)
    h = sub.add_parser("held-out", help="train on K-1 synthetic individuals, test on the last")
    h.add_argument("--neurons", type=int, default=2000)
    h.add_argument("--individuals", type=int, default=4)
    h.add_argument("--mirror", type=int, nargs="+")
    h.add_argument("--models", nargs="+", default=["sage", "synapse_only", "hybrid"])
    h.add_argument("--seeds", type=int, default=3)
    h.add_argument("--splits", type=int, default=1)
    h.add_argument("--threads", type=int, default=1)
    h.add_argument("--augment", default="none", help="training augmentation (issue 13), e.g. mirror_x")
    h.add_argument("--tta", type=int, default=1, help="test-time views (issue 13)")
    h.set_defaults(func=cmd_held_out)
    r = sub.add_parser("report", help="markdown tables from the saved results")
    r.set_defaults(func=cmd_report)
    args = p.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()

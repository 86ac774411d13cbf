"""Learning from fewer labels: class-balanced losses, point-set augmentation and test-time
augmentation (TTA), chosen on validation and confirmed on test once.

Usage::

    # 1. explore on VALIDATION at 2,000 neurons, 1 seed (test numbers are saved, not printed)
    python benchmarks/bench_fewer.py explore --neurons 2000 --task nt --threads 1 \\
        --variant ce --variant weighted_ce --variant focal:gamma=2 --variant logit_adjusted
    # 2. confirm the chosen setting once on the 5,000-neuron benchmark, 3 seeds (test)
    python benchmarks/bench_fewer.py confirm --neurons 5000 --task nt --seeds 3 --variant ce
    # 3. held-out individual: 4 individuals, ind3 is the test connectome
    python benchmarks/bench_fewer.py individuals --seeds 3 --variant ce+tta8 --variant AUG+tta8
    python benchmarks/bench_fewer.py report
    # what simple features can do: logistic regressions on wiring features, the per-neuron
    # histogram of T-bar -> PSD distances (models/pair_stats.py), and both
    python benchmarks/bench_fewer.py probe --neurons 2000 --task nt

A *variant* is ``LOSS[:key=value...][+aug=SPEC][+tta=K][+set:FIELD=VALUE]``, e.g.
``focal:gamma=2+aug=rotate_z,scale+tta=8``. Results go to ``benchmarks/results/fewer_*.json``.
With TTA every seed's metrics also hold the view-0 (unaugmented) score of the same single test
evaluation, so one training gives "TTA" and "no TTA"; the TTA decision uses validation.
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

from synhelpers.io import read_json, write_json  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def _value(text: str):
    try:
        return float(text) if "." in text or "e" in text else int(text)
    except ValueError:
        return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def parse_variant(text: str) -> dict:
    """``"focal:gamma=2+aug=rotate_z+tta=4+set:hidden=32"`` -> TrainConfig keyword arguments."""
    loss_part, *rest = text.split("+")
    loss, *params = loss_part.split(":")
    out = {"loss": loss, "loss_params": {}, "model_overrides": {}}
    for p in params:
        k, _, v = p.partition("=")
        out["loss_params"][k] = _value(v)
    for part in rest:
        if part.startswith("aug="):
            out["augment"] = part[4:]
        elif part.startswith("ttaaug="):
            out["tta_augment"] = part[7:]
        elif part.startswith("tta="):
            out["tta"] = int(part[4:])
        elif part.startswith("set:"):
            k, _, v = part[4:].partition("=")
            out["model_overrides"][k] = _value(v)
        elif part.startswith("cfg:"):
            k, _, v = part[4:].partition("=")
            out[k] = _value(v)
        else:
            raise SystemExit(f"variant {text!r}: unknown part {part!r}")
    return out


def summarise(run: dict, column: str) -> dict:
    """Mean over seeds: val/test macro-F1, per-class test F1, TTA view-0 numbers."""
    seeds = run["seeds"]
    per = [s["per_task"][column]["per_class_f1"] for s in seeds]
    names = list(per[0])
    res = {
        "best_val_macro_f1": [s["best_val_macro_f1"] for s in seeds],
        "test_macro_f1": [s["test_macro_f1"] for s in seeds],
        "per_class_test_f1": {n: float(np.mean([p[n] for p in per if p[n] is not None] or [np.nan]))
                              for n in names},
        "epochs": [s["epochs"] for s in seeds], "best_epoch": [s["best_epoch"] for s in seeds],
        "epoch_time_s": float(np.mean([s["epoch_time_s"] for s in seeds])),
    }
    tta = [s["per_task"][column].get("tta") for s in seeds]
    if all(tta):
        for k in ("val_macro_f1", "val_macro_f1_view0", "test_macro_f1_view0"):
            res[f"tta_{k}"] = [t[k] for t in tta]
    return res


def _train(data, variant: str, args, out_dir: Path, **extra) -> dict:
    from synhelpers.train.config import TrainConfig
    from synhelpers.train.run import run_training

    kw = parse_variant(variant)
    kw.update(extra)
    cfg = TrainConfig(model=args.model, task=args.task, seeds=args.seeds, num_threads=args.threads,
                      max_epochs=args.max_epochs, patience=args.patience, progress="none", **kw)
    t0 = time.perf_counter()
    run = run_training(data, cfg, out_dir)
    column = run["label_columns"][0]
    return {"variant": variant, "wall_s": time.perf_counter() - t0, **summarise(run, column)}


def _run_all(data, meta, args, kind: str, run_root: Path, show_test: bool, **extra) -> None:
    out_file = args.results or RESULTS / f"fewer_{kind}_{args.neurons}_{args.task}.json"
    res = read_json(out_file) if out_file.exists() else {"kind": kind, "runs": {}}
    key = "ceiling_macro_f1" if args.task == "cell_class" else "nt_ceiling_macro_f1"
    res.update({"neurons": args.neurons, "task": args.task, "seeds": args.seeds, "model": args.model,
                "ceiling_macro_f1": meta.get(key), "machine": machine()})
    for v in args.variant:
        if v in res["runs"] and not args.force:
            continue
        safe = v.replace("/", "_").replace(":", "_").replace(",", "_").replace("=", "")
        entry = _train(data, v, args, run_root / safe, **extra)
        res["runs"][v] = entry
        write_json(out_file, res)
        shown = {k: (np.round(x, 4).tolist() if isinstance(x, list) else x) for k, x in entry.items()
                 if show_test or "test" not in k}
        print(v, shown, flush=True)


def cmd_explore(args) -> None:
    """Validation only is printed: this is where defaults are chosen."""
    data, meta = dataset(args.neurons, data_root=args.data_root)
    _run_all(data, meta, args, "explore", ROOT / "runs" / "bench" / f"fewer_explore_{args.neurons}_{args.task}",
             show_test=False)


def cmd_confirm(args) -> None:
    data, meta = dataset(args.neurons, data_root=args.data_root)
    _run_all(data, meta, args, "confirm", ROOT / "runs" / "bench" / f"fewer_confirm_{args.neurons}_{args.task}",
             show_test=True)


def individuals_graph(args):
    """The held-out-individual benchmark's graph, built as ``run_held_out`` (notebook 05) builds
    it: ``synth --individuals 4`` (``--neurons`` each), then ``build --tables ind0..ind3
    --test-connectome ind3 --label cell_class`` (min_class_count 10)."""
    from synhelpers.drivers import profile as profiles
    from synhelpers.drivers.ablation import _individuals
    from synhelpers.graph import GraphConfig, build_cached

    paths = _individuals(profiles.resolve("default"), args.neurons, 4, ())
    held_out = paths[-1].name
    data = build_cached(paths, paths[0].parent / f"graph_test_{held_out}",
                        GraphConfig(labels=("cell_class",), test_connectome=held_out, min_class_count=10))
    return data, read_json(paths[-1] / "synthetic.json")


def cmd_individuals(args) -> None:
    data, meta = individuals_graph(args)
    _run_all(data, meta, args, "individuals", ROOT / "runs" / "bench" / f"fewer_ind_{args.neurons}_{args.task}",
             show_test=True)


def _split_ceiling(args, data, masks: dict) -> dict:
    """The generator's ceiling (published labels against the true ones, ``ceiling_of``)
    restricted to each split's neurons."""
    import pandas as pd

    from synhelpers.tables.synthetic.neurons import ceiling_of

    tables = (args.data_root or ROOT / "data" / "bench") / f"synthetic_{args.neurons}_s0"
    truth, neurons = (pd.read_parquet(tables / f) for f in ("synthetic_truth.parquet", "neurons.parquet"))
    key = "ceiling_macro_f1" if args.task == "cell_class" else "nt_ceiling_macro_f1"
    ids = data.body_id.numpy()
    return {k: ceiling_of(truth[truth.bodyId.isin(ids[m])], neurons)[key] for k, m in masks.items()}


def cmd_probe(args) -> None:
    """The quick baseline's logistic regression (C chosen on validation, test once) on three
    feature sets: wiring features, the pair-distance histogram, both."""
    from synhelpers.models.config import TASK_COLUMNS, ModelConfig
    from synhelpers.models.hybrid import node_unit_um
    from synhelpers.models.pair_stats import pair_distance_histogram
    from synhelpers.train.baseline import fit_quick_baseline
    from synhelpers.train.config import BaselineConfig

    data, meta = dataset(args.neurons, data_root=args.data_root)
    column = TASK_COLUMNS[args.task][0]
    hist = pair_distance_histogram(data.syn_ptr, data.syn_pos, data.edge_index, int(data.num_nodes),
                                   node_unit_um(data)[data.edge_index[0]],
                                   ModelConfig.pair_unit_um).numpy()
    x = data.x.numpy()
    key = "ceiling_macro_f1" if args.task == "cell_class" else "nt_ceiling_macro_f1"
    out = {"neurons": args.neurons, "task": args.task, "machine": machine(),
           "ceiling_macro_f1": meta.get(key), "probes": {}}
    cfg = BaselineConfig(label=column, max_iter=2000)
    for name, feats in (("wiring", x), ("pair_histogram", hist),
                        ("wiring+pair_histogram", np.hstack([x, hist]))):
        m = fit_quick_baseline(data, cfg, features=feats)
        out["probes"][name] = {"C": m["selected_C"], "val_macro_f1": m["best_val_macro_f1"],
                               "test_macro_f1": m["test_macro_f1"],
                               "test_per_class_f1": m["test_per_class_f1"],
                               "not_converged_C": m["not_converged_C"]}
        print(name, {k: v for k, v in out["probes"][name].items() if k != "test_per_class_f1"},
              flush=True)
    y = data[f"y_{column}"].numpy()
    masks = {k: data[f"{k}_mask"].numpy() & (y >= 0) for k in ("train", "val", "test")}
    out["split_ceiling_macro_f1"] = _split_ceiling(args, data, masks)
    print("published vs true labels, per split:", out["split_ceiling_macro_f1"])
    write_json(args.results or RESULTS / f"probe_{args.neurons}_{args.task}.json", out)


def cmd_report(args) -> None:
    for f in sorted(RESULTS.glob("fewer_*.json")):
        r = read_json(f)
        test = r["kind"] != "explore"
        ceil = r.get("ceiling_macro_f1")
        print(f"\n**{r['kind']}, {r['neurons']:,} neurons, task {r['task']}, {r['model']}, "
              f"{r['seeds']} seed(s)**" + (f" (ceiling macro-F1 {ceil * 100:.1f})" if ceil else "") + "\n")
        cols = ["variant", "val macro-F1 (%)"] + (["test macro-F1 (%)", "test, view 0 (%)",
                                                     "min class F1"] if test else []) + ["epochs"]
        print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
        for v, e in r["runs"].items():
            val = e.get("tta_val_macro_f1", e["best_val_macro_f1"])
            row = [f"`{v}`", _ms(val)]
            if test:
                per = e["per_class_test_f1"]
                worst = min(per, key=lambda k: per[k])
                row += [_ms(e["test_macro_f1"]), _ms(e.get("tta_test_macro_f1_view0")),
                        f"{worst} {per[worst]:.2f}"]
            row.append(f"{np.mean(e['epochs']):.0f}")
            print("| " + " | ".join(row) + " |")


def _ms(x) -> str:
    if not x:
        return "-"
    x = np.asarray(x) * 100
    return f"{x.mean():.1f}" + (f" ± {x.std(ddof=1):.1f}" if len(x) > 1 else "")


def main(argv=None) -> int:
    from synhelpers.train.config import TrainConfig

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    cmds = {"explore": cmd_explore, "confirm": cmd_confirm, "individuals": cmd_individuals}
    for name in cmds:
        q = sub.add_parser(name)
        q.add_argument("--neurons", type=int, default=2000 if name != "confirm" else 5000)
        q.add_argument("--task", default="nt" if name != "individuals" else "cell_class",
                       choices=["cell_class", "nt"])
        q.add_argument("--seeds", type=int, default=1 if name == "explore" else 3)
        q.add_argument("--model", default="hybrid")
        q.add_argument("--variant", action="append", required=True)
        q.add_argument("--threads", type=int, default=1)
        q.add_argument("--max-epochs", type=int, default=TrainConfig.max_epochs)
        q.add_argument("--patience", type=int, default=TrainConfig.patience)
        q.add_argument("--force", action="store_true")
        q.add_argument("--results", type=Path, default=None)
        q.add_argument("--data-root", type=Path, default=None)
    sub.add_parser("report")
    q = sub.add_parser("probe", help="logistic regressions on wiring features and the pair histogram")
    q.add_argument("--neurons", type=int, default=2000)
    q.add_argument("--task", default="nt", choices=["cell_class", "nt"])
    q.add_argument("--results", type=Path, default=None)
    q.add_argument("--data-root", type=Path, default=None)
    args = p.parse_args(argv)
    {**cmds, "report": cmd_report, "probe": cmd_probe}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A peer in the benchmarks (issue 20): NTAC beside our logistic regressions, with few labels.

Usage::

    pip install -e ".[bench]"      # ntac
    NUMBA_NUM_THREADS=1 python benchmarks/bench_peers.py run --neurons 2000 --seeds 3
    python benchmarks/bench_peers.py report      # markdown table from the saved JSON

Protocol (every method sees the same graph, splits and labelled sets):

* synthetic connectome, generator seed 0, label ``cell_class``; seed ``s`` uses split ``s``
  (split 0 is the graph's own, the others drawn like it, as ``train --splits`` draws them) and
  the label budget drawn with seed ``s`` (:func:`synhelpers.graph.split.budgeted_split`: that
  fraction of each class's labelled training neurons, at least one per class; ``1.0`` = all);
* validation is the whole validation split; every choice (C, NTAC's number of steps) is made
  on its macro-F1; the test split is scored once, with the chosen setting;
* methods: ``ntac`` (seeded NTAC fed our weighted adjacency ``A[pre, post] = synapses`` and the
  labelled training neurons as its frozen seeds; every other neuron is ``"?"``);
  ``lr_wiring`` (our baseline's logistic regression on the wiring features ``x``);
  ``lr_baseline`` (the ``baseline`` command's features: wiring + own synapse-site summary);
  ``lr_wiring+context`` (``x`` plus the label context of :mod:`synhelpers.graph.label_context`,
  built from the labelled training neurons only). A row's context never holds its own label:
  it is the composition of its partners ``u != v`` (autapses skipped), so for a per-neuron
  model (no message passing) each training row is fitted with its own label hidden
  (leave-one-out, the label trick with a single target), and validation / test rows see the
  same labelled training neurons as context. ``lr_wiring+context+fill``: one round of
  filling the unlabelled partners with that model's soft predictions (NTAC re-estimates partner
  types the same way), cross-fitted over 5 folds of the labelled set (:func:`filled_features`).
  ``lr_selected``: of the three wiring LRs, the one with the best validation macro-F1 (what
  "label context is on where validation shows it helps" gives).
* NTAC: ``Ntac(adj, labels)`` with its defaults (``lr=0.3``, ``topk=1``), 1 to 50 ``step()``
  calls, the number chosen on validation (it still improves after 15 steps with 2 % labels).

Writes ``benchmarks/results/peers_<neurons>_cell_class.json`` and
``figures/peers__cell_class__synthetic-<neurons>-neurons-seed-0__<k>-seeds.{png,svg}``.
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
LABEL = "cell_class"
SELECTABLE = ("lr_wiring", "lr_wiring+context", "lr_wiring+context+fill")
METHODS = ("ntac", "lr_baseline", *SELECTABLE, "lr_selected")
C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)


def ntac_fit(data, max_steps: int = 50) -> dict:
    """Seeded NTAC on ``data``'s graph; its frozen seeds are ``train_mask`` neurons with a label.
    The number of steps (1..max_steps) is chosen on validation macro-F1; test scored once."""
    import scipy.sparse as sp
    from ntac import Ntac
    from sklearn.metrics import f1_score

    from synhelpers.train.metrics import classification_metrics

    t0 = time.perf_counter()
    y = data[f"y_{LABEL}"].numpy()
    names = data.label_names[LABEL]
    n = int(data.num_nodes)
    pre, post = data.edge_index.numpy()
    adj = sp.csr_array(sp.coo_array((data.edge_weight.numpy().astype(np.float64), (pre, post)),
                                    shape=(n, n)))
    seeds = data.train_mask.numpy() & (y >= 0)
    labels = np.where(seeds, y.astype(str), "?").astype(object)
    model = Ntac(data=adj, labels=labels)
    va = data.val_mask.numpy() & (y >= 0)
    te = data.test_mask.numpy() & (y >= 0)
    best = None
    for step in range(1, max_steps + 1):
        model.step()
        pred = model.get_partition().astype(np.int64)
        f1 = f1_score(y[va], pred[va], average="macro", labels=np.arange(len(names)), zero_division=0)
        if best is None or f1 > best[0]:
            best = (f1, step, pred)
    val_f1, step, pred = best
    out = classification_metrics(y[te], pred[te], names, prefix="test_")  # the one test look
    return {"test_macro_f1": out["test_macro_f1"], "test_accuracy": out["test_accuracy"],
            "best_val_macro_f1": float(val_f1), "selected": {"steps": step},
            "fit_seconds": round(time.perf_counter() - t0, 3)}


def lr_fit(data, features: np.ndarray) -> dict:
    """The quick baseline's logistic regression (C on validation, test once) on ``features``."""
    from synhelpers.train.baseline import fit_quick_baseline
    from synhelpers.train.config import BaselineConfig

    m = fit_quick_baseline(data, BaselineConfig(label=LABEL, c_grid=C_GRID, max_iter=1000), features=features)
    return {"test_macro_f1": m["test_macro_f1"], "test_accuracy": m["test_accuracy"],
            "best_val_macro_f1": m["best_val_macro_f1"], "selected": {"C": m["selected_C"]},
            "not_converged_C": m["not_converged_C"], "fit_seconds": m["fit_seconds"]}


def _proba(x: np.ndarray, y: np.ndarray, rows: np.ndarray, c: float, n_classes: int) -> np.ndarray:
    """(N, C) class probabilities of a logistic regression fitted on ``rows`` (a class absent
    from them gets probability 0)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000, random_state=0))
    model.fit(x[rows], y[rows])
    out = np.zeros((len(x), n_classes))
    out[:, model[-1].classes_] = model.predict_proba(x)
    return out


def filled_features(data, c: float, folds: int = 5, seed: int = 0, source: str = "context",
                    rounds: int = 1) -> np.ndarray:
    """``[x, context]`` after one round of filling unlabelled partners with soft predictions,
    cross-fitted so that no training row's features depend on its own label.

    Validation, test and unlabelled rows: the context of the labelled training set ``L``, its
    unlabelled partners filled by a wiring+context logistic regression fitted on ``L``. A
    training row in fold ``k`` of ``L``: the same built from ``L`` minus fold ``k`` only (the
    context, the fitted model and its fill), so its own label is not read at all, neither
    directly (one hop) nor through a partner's prediction (two hops, ``i -> j -> i``).
    ``source="wiring"`` fills from a wiring-only model; ``rounds`` > 1 refits on the filled
    context and fills again. The benchmark uses the defaults (on validation, seed 0, 2 to 10 %
    labels, the variants were within 2 points of each other).
    """
    import torch

    from synhelpers.graph.label_context import label_context

    y_t = data[f"y_{LABEL}"]
    y = y_t.numpy()
    n_classes = len(data.label_names[LABEL])
    x = data.x.numpy()
    known = (data.train_mask & (y_t >= 0)).numpy()

    def round_two(known_k: np.ndarray) -> np.ndarray:
        kt = torch.from_numpy(known_k)
        ctx = label_context(data.edge_index, data.edge_weight, y_t, kt, n_classes).numpy()
        f = np.hstack([x, ctx]) if source == "context" else x
        for _ in range(rounds):
            fill = torch.from_numpy(_proba(f, y, known_k, c, n_classes))
            f = np.hstack([x, label_context(data.edge_index, data.edge_weight, y_t, kt, n_classes,
                                            fill=fill).numpy()])
        return f

    feats = round_two(known)
    lab = np.flatnonzero(known)
    fold = np.random.default_rng(seed).permutation(len(lab)) % folds
    for k in range(folds):
        rows = lab[fold == k]
        known_k = known.copy()
        known_k[rows] = False
        feats[rows] = round_two(known_k)[rows]
    return feats


def one_setting(data, fraction: float, seed: int) -> dict:
    """Every method on split ``seed`` with the label budget ``fraction`` drawn with ``seed``."""
    from synhelpers.graph import budgeted_split
    from synhelpers.graph.label_context import label_context
    from synhelpers.train.baseline import baseline_features

    few = budgeted_split(data, seed, LABEL, fraction)
    y, labelled = few[f"y_{LABEL}"], few.labelled_mask
    known = few.train_mask & (y >= 0)
    ctx = label_context(few.edge_index, few.edge_weight, y, known, len(few.label_names[LABEL]))
    x = few.x.numpy()
    res = {"n_labelled": int(labelled.sum()),
           "ntac": ntac_fit(few),
           "lr_wiring": lr_fit(few, x),
           "lr_baseline": lr_fit(few, baseline_features(few)),
           "lr_wiring+context": lr_fit(few, np.hstack([x, ctx.numpy()]))}
    c = res["lr_wiring+context"]["selected"]["C"]  # the fill's model: C as chosen on validation
    res["lr_wiring+context+fill"] = lr_fit(few, filled_features(few, c, seed=seed))
    # the default a user would get: of our three wiring LRs, the best on validation
    pick = max(SELECTABLE, key=lambda m: res[m]["best_val_macro_f1"])
    res["lr_selected"] = {**res[pick], "selected": {**res[pick]["selected"], "features": pick}}
    return res


def trained_fit(few, model: str, context: bool, seed: int, threads: int = 1) -> dict:
    """One of our trained models on the budgeted split ``few`` (its training split is the
    labelled neurons): selection on validation, test scored once, as ``train`` does."""
    import tempfile

    import synhelpers

    cfg = synhelpers.TrainConfig(model=model, labels=(LABEL,), seeds=1, first_seed=seed,
                                 progress="none", num_threads=threads, label_context=context)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        r = synhelpers.run_training(few, cfg, tmp)["seeds"][0]
    return {"test_macro_f1": r["test_macro_f1"], "best_val_macro_f1": r["best_val_macro_f1"],
            "best_epoch": r["best_epoch"], "fit_seconds": time.perf_counter() - t0}


def trained_methods(models) -> tuple[str, ...]:
    """``sage`` -> ``("sage", "sage+context")``: each model without and with label context."""
    return tuple(m + suffix for m in models for suffix in ("", "+context"))


def one_trained_setting(data, fraction: float, seed: int, models) -> dict:
    """Our trained models on the same split and labelled neurons as :func:`one_setting`."""
    from synhelpers.graph import budgeted_split

    few = budgeted_split(data, seed, LABEL, fraction)
    return {m: trained_fit(few, m.removesuffix("+context"), m.endswith("+context"), seed)
            for m in trained_methods(models)}


def cmd_run(args) -> None:
    from importlib.metadata import version

    data, meta = dataset(args.neurons, data_root=args.data_root)
    out_file = args.results or RESULTS / f"peers_{args.neurons}_{LABEL}.json"
    res = {"neurons": args.neurons, "label": LABEL, "seeds": args.seeds, "budgets": args.budgets,
           "ntac_version": version("ntac"), "c_grid": list(C_GRID), "machine": machine(),
           "ceiling_macro_f1": meta.get("ceiling_macro_f1"), "dataset": data.dataset_name,
           "runs": {m: {} for m in METHODS}, "n_labelled": {}}
    if args.models:  # our trained models, added to an existing results file
        return _run_trained(args, data, out_file)
    for fraction in args.budgets:
        for s in range(args.seeds):
            r = one_setting(data, fraction, s)
            res["n_labelled"].setdefault(str(fraction), []).append(r.pop("n_labelled"))
            for m in METHODS:
                res["runs"][m].setdefault(str(fraction), []).append(r[m])
            print(f"budget {fraction:g} seed {s} ({res['n_labelled'][str(fraction)][-1]} labels): "
                  + ", ".join(f"{m} {r[m]['test_macro_f1'] * 100:.1f}" for m in METHODS), flush=True)
            write_json(out_file, res)
    plot(res, args.figures)


def _run_trained(args, data, out_file: Path) -> None:
    res = read_json(out_file)
    for fraction in args.budgets:
        for s in range(args.seeds):
            r = one_trained_setting(data, fraction, s, args.models)
            for m, v in r.items():
                runs = res["runs"].setdefault(m, {}).setdefault(str(fraction), [])
                runs[s:s + 1] = [v]
            print(f"budget {fraction:g} seed {s}: "
                  + ", ".join(f"{m} {v['test_macro_f1'] * 100:.1f}" for m, v in r.items()), flush=True)
            write_json(out_file, res)


def _methods(res: dict) -> list[str]:
    """The peers and regressions, then every trained model the results file holds."""
    return [*METHODS, *(m for m in res["runs"] if m not in METHODS)]


def _ms(values) -> tuple[float, float]:
    v = np.asarray(values, float) * 100
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def plot(res: dict, out_dir: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from synhelpers.figures.save import figure_name, save_figure

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    budgets = [float(b) for b in res["budgets"]]
    methods = _methods(res)
    for i, m in enumerate(methods):
        stats = [_ms([r["test_macro_f1"] for r in res["runs"][m].get(str(b), [])]) for b in budgets]
        mean, sd = np.array(stats).T
        dodge = np.array(budgets) * 1.04 ** (i - (len(methods) - 1) / 2)  # error bars side by side
        style = {"ls": "--", "c": "k", "marker": "s"} if m == "lr_selected" else {"marker": "o"}
        ax.errorbar(dodge, mean, yerr=sd, capsize=3, label=m, **style)
    if res.get("ceiling_macro_f1"):
        ax.axhline(res["ceiling_macro_f1"] * 100, ls="--", c="grey", lw=1, label="generator ceiling")
    ax.set_xscale("log")
    ax.set_xticks(budgets, [f"{b:.0%}" if b < 1 else "all" for b in budgets])
    ax.set_xlabel("labelled fraction of the training split (stratified)")
    ax.set_ylabel("test macro-F1 (%)")
    ax.set_title(f"{res['dataset']}, {res['label']}: test macro-F1, mean ± std over "
                 f"{res['seeds']} seeds; NTAC {res['ntac_version']}", fontsize=9)
    ax.legend(fontsize=8)
    name = figure_name("peers", res["label"], res["dataset"], f"{res['seeds']} seeds")
    return save_figure(fig, out_dir, name)


def cmd_report(args) -> None:
    for f in sorted(RESULTS.glob("peers_*.json")):
        r = read_json(f)
        print(f"\n**{r['dataset']}, {r['label']}, {r['seeds']} seeds, NTAC {r['ntac_version']}** "
              f"(ceiling macro-F1 {r['ceiling_macro_f1'] * 100:.1f})\n")
        methods = _methods(r)
        print("| labelled | labels | " + " | ".join(methods) + " |\n|---|---:|" + "---:|" * len(methods))
        for b in r["budgets"]:
            n = np.mean(r["n_labelled"][str(b)])
            cells = []
            for m in methods:
                mean, sd = _ms([x["test_macro_f1"] for x in r["runs"][m].get(str(b), [])])
                cells.append(f"{mean:.1f} ± {sd:.1f}")
            print(f"| {'all' if float(b) >= 1 else f'{float(b):.0%}'} | {n:.0f} | " + " | ".join(cells) + " |")
        if args.plot:
            plot(r, args.figures)


def main(argv=None) -> int:
    import warnings

    # few labels, many classes: sklearn warns that y "could represent a regression problem"
    warnings.filterwarnings("ignore", message="The number of unique classes")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("run", help="every method, every budget and seed; JSON + figure")
    q.add_argument("--neurons", type=int, default=2000, help="synthetic connectome size")
    q.add_argument("--seeds", type=int, default=3, help="splits x label draws (seed s: split s, budget seed s)")
    q.add_argument("--budgets", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2, 1.0],
                   help="labelled fractions of the training split (1 = all)")
    q.add_argument("--results", type=Path, default=None, help="JSON file (default benchmarks/results/peers_*.json)")
    q.add_argument("--data-root", type=Path, default=None, help="where the synthetic tables are cached")
    q.add_argument("--figures", type=Path, default=ROOT / "figures", help="figure folder")
    q.add_argument("--models", nargs="+", default=None,
                   help="train these registry models (each without and with --label-context) on "
                        "the same splits and labelled neurons, and add them to the results file")
    q = sub.add_parser("report", help="markdown table from the saved JSON")
    q.add_argument("--plot", action="store_true", help="redraw the figures too")
    q.add_argument("--figures", type=Path, default=ROOT / "figures", help="figure folder")
    args = p.parse_args(argv)
    {"run": cmd_run, "report": cmd_report}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

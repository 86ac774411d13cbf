"""Where a fused full-graph epoch goes (issue 23): torch.profiler over training steps of the
fused model (``hybrid``), forward split by component, then backward and the optimiser.

    python benchmarks/bench_profile.py --neurons 2000 --threads 2 --steps 5

Components are ``record_function`` ranges opened by forward hooks on the model's submodules
(the model's code is not touched): the synapse-set encoder (per connection) and, inside it, its
point MLP, local attention block and set MLP; the same inside the per-neuron cloud encoder;
``knn_mask`` and ``masked_pool`` (wrapped where PointSetCore calls them; both encoders
together); the GNN; the heads. What an encoder's parts leave of its total is gathering the
padded chunks and building the point features. Times are CPU wall milliseconds per
step (mean over ``--steps`` after ``--warmup``), from the profiler's totals of each range;
the top operators by self time over forward and backward follow. Results:
``benchmarks/results/profile_epoch_<neurons>.json``; ``--markdown`` prints the tables.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_train import RESULTS, dataset, machine  # noqa: E402

from synhelpers.io import read_json, write_json  # noqa: E402

PARTS = {  # label -> submodule path of HybridModel
    "synapse-set encoder (per connection)": "synapse_encoder",
    "  point MLP": "synapse_encoder.core.point_mlp",
    "  kNN attention block": "synapse_encoder.core.block",
    "  set MLP": "synapse_encoder.core.set_mlp",
    "cloud encoder (per neuron)": "cloud_encoder",
    "  point MLP ": "cloud_encoder.core.point_mlp",
    "  kNN attention block ": "cloud_encoder.core.block",
    "  set MLP ": "cloud_encoder.core.set_mlp",
    "GNN (Dir-SAGE, edge features)": "gnn",
    "heads (main + auxiliary)": "heads",
}


def _ranges(model) -> list:
    """Forward hooks that open and close a ``record_function`` range per component."""
    handles, mods = [], dict(model.named_modules())
    for label, path in PARTS.items():
        m, stack = mods.get(path), []
        if m is None:
            continue

        def pre(_m, _a, label=label, stack=stack):
            stack.append(torch.autograd.profiler.record_function(label.strip() + f"#{label}"))
            stack[-1].__enter__()

        def post(_m, _a, _o, stack=stack):
            stack.pop().__exit__(None, None, None)

        handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    return handles


def _wrap_functions() -> None:
    """Time ``knn_mask`` and ``masked_pool`` (called by PointSetCore outside its submodules) as
    ranges of their own, by wrapping them in the module that calls them."""
    import synhelpers.models.blocks as blocks

    def wrapped(name, inner):
        def fn(*a, **k):
            with torch.autograd.profiler.record_function(name):
                return inner(*a, **k)
        return fn

    for name in ("knn_mask", "masked_pool"):
        if not hasattr(getattr(blocks, name), "__wrapped_by_profile__"):
            setattr(blocks, name, wrapped(name, getattr(blocks, name)))
            getattr(blocks, name).__wrapped_by_profile__ = True


def profile(neurons: int, steps: int, warmup: int) -> dict:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from synhelpers.models import ModelConfig, build_model

    host = machine()  # load average at the start
    data, _ = dataset(neurons)
    torch.manual_seed(0)
    model = build_model("hybrid", ModelConfig.from_data(data, ["cell_class"])).train()
    opt = torch.optim.AdamW(model.parameters(), lr=8e-3)
    m = data.train_mask & (data.y_cell_class >= 0)
    _wrap_functions()
    _ranges(model)

    def step():
        with torch.autograd.profiler.record_function("forward"):
            out = model(data)
            loss = sum(torch.nn.functional.cross_entropy(v[m], data.y_cell_class[m]) for v in out.values())
        with torch.autograd.profiler.record_function("backward"):
            opt.zero_grad()
            loss.backward()
        with torch.autograd.profiler.record_function("optimizer"):
            opt.step()

    for _ in range(warmup):
        step()
    walls = []
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            t0 = time.perf_counter()
            step()
            walls.append(time.perf_counter() - t0)
    events = prof.key_averages()
    total = {e.key: e.cpu_time_total / 1e3 / steps for e in events}
    ops = sorted((e for e in events if "#" not in e.key and e.key not in
                  ("forward", "backward", "optimizer", "knn_mask", "masked_pool")),
                 key=lambda e: -e.self_cpu_time_total)[:12]
    parts = {label: total.get(label.strip() + f"#{label}") for label in PARTS}
    parts["  kNN mask (knn_mask, both encoders)"] = total.get("knn_mask")
    parts["  masked max/mean pooling (both encoders)"] = total.get("masked_pool")
    return {"neurons": int(data.num_nodes), "connections": int(data.edge_index.shape[1]),
            "steps": steps, "warmup": warmup, "step_wall_ms": [w * 1e3 for w in walls],
            "forward_ms": total.get("forward"), "backward_ms": total.get("backward"),
            "optimizer_ms": total.get("optimizer"), "forward_parts_ms": parts,
            "top_ops_self_ms": {e.key: e.self_cpu_time_total / 1e3 / steps for e in ops},
            "machine": {**host, "load_average_end": os.getloadavg()}}


def markdown(r: dict) -> str:
    step = sum(r["step_wall_ms"]) / len(r["step_wall_ms"])
    lines = ["| part of one training step | ms | % of the step |", "|---|---:|---:|"]
    rows = [("forward", r["forward_ms"]), *[(f"&nbsp;&nbsp;{k.strip()}" if k.startswith("  ") else
                                             f"- {k}", v) for k, v in r["forward_parts_ms"].items()],
            ("backward", r["backward_ms"]), ("optimizer (AdamW)", r["optimizer_ms"])]
    for k, v in rows:
        lines.append(f"| {k} | {v:.0f} | {100 * v / step:.0f} |" if v is not None else f"| {k} | - | - |")
    lines.append(f"| **step (wall, mean of {r['steps']}, profiler on)** | **{step:.0f}** | 100 |")
    lines += ["", "| operator (forward + backward), self time | ms per step |", "|---|---:|"]
    lines += [f"| `{k}` | {v:.0f} |" for k, v in r["top_ops_self_ms"].items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--neurons", type=int, default=2000, help="synthetic connectome size")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--steps", type=int, default=5, help="profiled training steps")
    p.add_argument("--warmup", type=int, default=3, help="unprofiled steps first")
    p.add_argument("--markdown", action="store_true", help="print the tables of the saved result")
    args = p.parse_args(argv)
    out = RESULTS / f"profile_epoch_{args.neurons}.json"
    if not args.markdown:
        torch.set_num_threads(args.threads)
        write_json(out, profile(args.neurons, args.steps, args.warmup))
    print(markdown(read_json(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

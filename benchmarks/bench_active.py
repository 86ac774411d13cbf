"""Active-learning simulation on the synthetic default (2,000 neurons): labels each strategy
needs to reach 90% of the fully supervised test macro-F1 (notebook 08 draws the same saved
results).

Usage (seeds can run in parallel processes; a last call without --first-seed assembles)::

    python benchmarks/bench_active.py --first-seed 0 --seeds 1 --threads 1 &
    python benchmarks/bench_active.py --first-seed 1 --seeds 1 --threads 1 &
    python benchmarks/bench_active.py --first-seed 2 --seeds 1 --threads 1 &
    python benchmarks/bench_active.py --seeds 3            # reads the three seeds back, prints
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synhelpers.io import write_json  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--profile", default="default")
    p.add_argument("--fraction", type=float, default=0.9)
    args = p.parse_args(argv)
    from synhelpers.drivers.active_task import run_active_task

    res = run_active_task(profile=args.profile, seeds=args.seeds, first_seed=args.first_seed,
                          num_threads=args.threads, fraction=args.fraction)
    sup, sd = res.supervised
    print(f"{res.dataset}: {res.config.model}, {res.config.column}, fully supervised test "
          f"macro-F1 {sup:.3f} ± {sd:.3f}; target {args.fraction:.0%} = {args.fraction * sup:.3f}")
    print(res.reach.to_string(index=False))
    if args.first_seed == 0 and args.seeds >= 3:
        write_json(ROOT / "benchmarks" / "results" / f"active_{res.config.column}.json",
                   {"dataset": res.dataset, "config": res.config.to_dict(),
                    "supervised_mean": sup, "supervised_std": sd, "fraction": args.fraction,
                    "reach": res.reach.to_dict(orient="records")})
    return 0


if __name__ == "__main__":
    sys.exit(main())

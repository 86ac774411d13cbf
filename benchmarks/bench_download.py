"""Benchmark: a 20,000-neuron download from the local fake neuPrint server, peak RSS.

The fake server (backed by the embedded synthetic connectome) runs in a child process, so the
peak RSS measured here is the downloading process's own: parts are streamed to disk, not held
in memory. Results go to stdout as JSON; copy them into benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/bench_download.py --neurons 20000 --out /tmp/bench-dl
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import time
from pathlib import Path


def _serve(n_neurons: int, seed: int, q, stop) -> None:
    from synhelpers.tables.synthetic import SyntheticConfig, generate
    from synhelpers.testing import FakeDataset, FakeNeuprintServer

    t = time.time()
    con = generate(SyntheticConfig(n_neurons=n_neurons, seed=seed))
    ds = FakeDataset.from_connectome("hemibrain:v1.2.1", con)
    with FakeNeuprintServer([ds], token="bench-token") as srv:
        q.put({"url": srv.url, "ca": str(srv.ca_file), "gen_s": time.time() - t,
               "neurons": len(con.neurons), "connections": len(con.connections),
               "synapses": len(con.synapses)})
        stop.wait()


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--neurons", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--out", default="/tmp/bench-download")
    a = p.parse_args(argv)
    ctx = mp.get_context("spawn")
    q, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_serve, args=(a.neurons, a.seed, q, stop), daemon=True)
    proc.start()
    info = q.get(timeout=1800)
    os.environ["REQUESTS_CA_BUNDLE"] = info["ca"]
    from synhelpers.tables.download import fetch_dataset

    shutil.rmtree(a.out, ignore_errors=True)
    t = time.time()
    try:
        fetch_dataset("hemibrain:v1.2.1", a.out, token="bench-token", server=info["url"],
                      batch_size=a.batch_size, progress=sys.stderr.isatty())
    finally:
        stop.set()
        proc.join(timeout=10)
    wall = time.time() - t
    m = json.loads((Path(a.out) / "manifest.json").read_text())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    res = {"neurons_requested": a.neurons, "batch_size": a.batch_size, "server_tables": info,
           "row_counts": m["row_counts"], "wall_s": round(wall, 1),
           "peak_rss_mib_download_process": round(peak, 1),
           "synapses_parquet_mib": round((Path(a.out) / "synapses.parquet").stat().st_size / 2**20, 1)}
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

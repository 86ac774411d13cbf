"""Commands of stage 1: ``synth`` (the synthetic connectome) and ``download`` (hemibrain / MANC).

Examples::

    python -m synhelpers synth --neurons 2000 --seed 0 --out data/synthetic
    python -m synhelpers download --dataset hemibrain:v1.2.1 --out data/hemibrain
    python -m synhelpers download --dataset manc:v1.2.1 --out data/manc --bodies ids.txt
    python -m synhelpers download --dataset hemibrain:v1.2.1 --out data/hb --source exports

The neuPrint token is read from ``--token-file`` or ``$NEUPRINT_APPLICATION_CREDENTIALS``
(never from the command line, where it would land in the shell history).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..cliargs import existing_file, fraction, int_in, nonneg_int, positive_int, writable_dir
from ..drivers.profile import apply_profile_caps
from .config import DownloadConfig
from .synthetic.config import MAX_NEURONS, MIN_NEURONS, SyntheticConfig

__all__ = ["register", "read_bodies"]


def read_bodies(path: str | Path) -> list[int]:
    """Body ids from a text file: one per line or separated by commas/spaces; ``#`` comments.

    A CSV with a ``bodyId`` header column also works.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "ids.txt"
        >>> _ = p.write_text("# my neurons\\n123, 456\\n789\\n")
        >>> read_bodies(p)
        [123, 456, 789]
    """
    text = Path(path).read_text()
    if text.lstrip().lower().startswith("bodyid"):
        import pandas as pd

        return [int(b) for b in pd.read_csv(path)["bodyId"]]
    ids = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        ids += [int(tok) for tok in line.replace(",", " ").split()]
    return ids


def _check_individual_flags(args: argparse.Namespace) -> None:
    """``--mirror`` and ``--rotate`` act on individuals: refused (one line) when they would do
    nothing, instead of being accepted silently."""
    from ..errors import ConfigError

    k = args.individuals
    if (args.mirror or args.rotate) and k < 2:
        flag = "--mirror" if args.mirror else "--rotate"
        raise ConfigError(f"{flag} acts on individuals; add --individuals K (K >= 2)")
    bad = sorted(i for i in set(args.mirror or ()) if i >= k)
    if bad:
        raise ConfigError(f"--mirror {' '.join(map(str, bad))}: no such individual; "
                          f"--individuals {k} writes individuals 0 to {k - 1}")


def _synth(args: argparse.Namespace) -> int:
    from .synthetic.generator import write_individuals, write_synthetic

    _check_individual_flags(args)
    apply_profile_caps(args, ("neurons",))  # prints what it capped
    t0 = time.perf_counter()
    cfg = SyntheticConfig(n_neurons=args.neurons, seed=args.seed, label_noise=args.label_noise)
    if args.individuals > 1:
        paths = write_individuals(cfg, args.individuals, args.out, mirror=args.mirror or (),
                                  rotate_deg=args.rotate, progress=not args.quiet)
        print(f"wrote {len(paths)} individuals of one design to {', '.join(map(str, paths))} "
              f"in {time.perf_counter() - t0:.1f}s")
        return 0
    con = write_synthetic(cfg, args.out, progress=not args.quiet)
    m = con.meta
    print(f"wrote {con.name} to {args.out} in {time.perf_counter() - t0:.1f}s: "
          f"{m['n_connections']:,} connections, {m['n_synapses']:,} synaptic pairs; "
          f"ceiling accuracy {m['ceiling']:.3f}, macro-F1 {m['ceiling_macro_f1']:.3f}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from .download import fetch_dataset

    criteria = None
    if args.bodies:
        try:
            criteria = read_bodies(args.bodies)
        except (OSError, ValueError) as e:
            raise ConfigError(f"--bodies {args.bodies}: cannot read body ids ({e})") from None
    out = fetch_dataset(
        args.dataset, args.out, criteria=criteria, synapses=not args.no_synapses,
        source=args.source, token_file=args.token_file, server=args.server,
        annotations=args.annotations, batch_size=args.batch_size, timeout=args.timeout,
        retries=args.retries, exports_url=args.exports_url, progress=not args.quiet,
    )
    print(f"wrote {out}/neurons.parquet, connections.parquet"
          f"{', synapses.parquet' if (Path(out) / 'synapses.parquet').exists() else ''} and manifest.json")
    return 0


def _register_synth(subparsers) -> None:
    d = SyntheticConfig()
    p = subparsers.add_parser(
        "synth", help="generate the embedded synthetic connectome (tables + synthetic.json)",
        description="Generate the synthetic connectome: neurons/connections/synapses.parquet, "
                    "synthetic.json (settings, ceiling, which class needs which view) and "
                    "synthetic_truth.parquet (noise-free labels, never read by the pipeline).")
    p.add_argument("--neurons", type=int_in(MIN_NEURONS, MAX_NEURONS), default=d.n_neurons,
                   help=f"number of neurons, {MIN_NEURONS}..{MAX_NEURONS} (default {d.n_neurons})")
    p.add_argument("--seed", type=nonneg_int, default=d.seed, help=f"random seed (default {d.seed})")
    p.add_argument("--out", type=writable_dir, required=True, help="output folder for the tables")
    p.add_argument("--label-noise", type=fraction, default=d.label_noise,
                   help=f"fraction of cell_class labels flipped (default {d.label_noise})")
    p.add_argument("--individuals", type=positive_int, default=1,
                   help="write K individuals of one design (same classes and wiring rules, own "
                        "neurons, synapses, label noise and frame) to OUT/ind0 .. OUT/ind{K-1}")
    p.add_argument("--mirror", type=nonneg_int, nargs="+", metavar="I",
                   help="individuals whose frame is mirrored left-right")
    p.add_argument("--rotate", type=float, default=0.0, metavar="DEG",
                   help="rotate each individual's frame by up to DEG degrees about z (default 0)")
    p.add_argument("--quiet", action="store_true", help="no stage timings")
    p.set_defaults(func=_synth)


def _register_download(subparsers) -> None:
    p = subparsers.add_parser(
        "download", help="download hemibrain / MANC from neuPrint or the public exports",
        description="Download a connectome into neurons/connections/synapses Parquet tables "
                    "plus manifest.json. Interrupted downloads resume when rerun.")
    p.add_argument("--dataset", required=True, help="e.g. hemibrain:v1.2.1 or manc:v1.2.1")
    p.add_argument("--out", type=writable_dir, required=True, help="output folder")
    p.add_argument("--source", choices=["neuprint", "exports"], default="neuprint",
                   help="neuPrint (token needed) or the public bulk exports (no token)")
    p.add_argument("--bodies", metavar="FILE", type=existing_file,
                   help="only these bodyIds (text file, one per line)")
    p.add_argument("--token-file", metavar="FILE", type=existing_file,
                   help="file holding the neuPrint token (default: $NEUPRINT_APPLICATION_CREDENTIALS)")
    p.add_argument("--server", default=None, help="neuPrint server (default neuprint.janelia.org)")
    p.add_argument("--annotations", metavar="CSV", default=None,
                   help="hemibrain: annotation table (path or URL) joined on bodyId, e.g. hemibrain_meta.csv")
    p.add_argument("--no-synapses", action="store_true", help="skip synapses.parquet")
    d = DownloadConfig()
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size,
                   help=f"bodies per batch (default {d.batch_size})")
    p.add_argument("--timeout", type=float, default=d.timeout,
                   help=f"seconds per request (default {d.timeout:g})")
    p.add_argument("--retries", type=nonneg_int, default=d.retries,
                   help=f"retries per request (default {d.retries})")
    p.add_argument("--exports-url", default=None, help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_download)


def register(subparsers) -> None:
    """Add the ``synth`` and ``download`` commands."""
    _register_synth(subparsers)
    _register_download(subparsers)

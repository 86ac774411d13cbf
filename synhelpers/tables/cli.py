"""``python -m synhelpers download``: fetch hemibrain / MANC into the data contract's tables.

Example::

    python -m synhelpers download --dataset hemibrain:v1.2.1 --out data/hemibrain
    python -m synhelpers download --dataset manc:v1.2.1 --out data/manc --bodies ids.txt
    python -m synhelpers download --dataset hemibrain:v1.2.1 --out data/hb --source exports

The token is read from ``--token-file`` or ``$NEUPRINT_APPLICATION_CREDENTIALS`` (never from
the command line, where it would land in the shell history).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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


def _run(args: argparse.Namespace) -> int:
    from ..contract import TableError
    from . import DownloadError, fetch_dataset

    criteria = None
    if args.bodies:
        try:
            criteria = read_bodies(args.bodies)
        except (OSError, ValueError) as e:
            print(f"error: cannot read --bodies {args.bodies}: {e}", file=sys.stderr)
            return 2
    try:
        out = fetch_dataset(
            args.dataset, args.out, criteria=criteria, synapses=not args.no_synapses,
            source=args.source, token_file=args.token_file, server=args.server,
            annotations=args.annotations, batch_size=args.batch_size, timeout=args.timeout,
            retries=args.retries, exports_url=args.exports_url, progress=not args.quiet,
        )
    except (DownloadError, TableError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}/neurons.parquet, connections.parquet"
          f"{', synapses.parquet' if (Path(out) / 'synapses.parquet').exists() else ''} and manifest.json")
    return 0


def register(subparsers) -> None:
    """Add the ``download`` command."""
    p = subparsers.add_parser(
        "download", help="download hemibrain / MANC from neuPrint or the public exports",
        description="Download a connectome into neurons/connections/synapses Parquet tables "
                    "plus manifest.json. Interrupted downloads resume when rerun.")
    p.add_argument("--dataset", required=True, help="e.g. hemibrain:v1.2.1 or manc:v1.2.1")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--source", choices=["neuprint", "exports"], default="neuprint",
                   help="neuPrint (token needed) or the public bulk exports (no token)")
    p.add_argument("--bodies", metavar="FILE", help="only these bodyIds (text file, one per line)")
    p.add_argument("--token-file", metavar="FILE",
                   help="file holding the neuPrint token (default: $NEUPRINT_APPLICATION_CREDENTIALS)")
    p.add_argument("--server", default=None, help="neuPrint server (default neuprint.janelia.org)")
    p.add_argument("--annotations", metavar="CSV", default=None,
                   help="hemibrain: annotation table (path or URL) joined on bodyId, e.g. hemibrain_meta.csv")
    p.add_argument("--no-synapses", action="store_true", help="skip synapses.parquet")
    p.add_argument("--batch-size", type=int, default=500, help="bodies per batch (default 500)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    p.add_argument("--retries", type=int, default=4, help="retries per request (default 4)")
    p.add_argument("--exports-url", default=None, help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)

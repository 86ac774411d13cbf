"""Command of the views stage: ``view`` (a Neuroglancer view of per-neuron predictions).

Example::

    python -m synhelpers view --predictions predictions.parquet --tables data/synthetic --out runs/view
"""

from __future__ import annotations

import argparse

from ..cliargs import existing_dir, existing_file, positive_int, writable_dir

__all__ = ["register"]


def _view(args: argparse.Namespace) -> int:
    from ..tables.contract import load_tables
    from .neuroglancer import write_view
    from .neuroglancer_browser import serve
    from .neuroglancer_screenshot import screenshot_view

    out = _claim_view(args.out)  # before any work: the user's folder, a run ... are refused
    predictions = _predictions(args.predictions, args.label)
    con = load_tables(args.tables, check_weights=False)
    seg = "" if (args.segmentation or "").lower() == "none" else args.segmentation
    res = write_view(predictions, con, out, label=args.label, segmentation=seg,
                     synapse_bodies=args.synapse_bodies, base_url=f"http://127.0.0.1:{args.port}")
    _record_view(out)
    print(f"wrote {res.n_points:,} neuron points and {res.n_synapses:,} synapse points to "
          f"{res.out_dir} ({res.n_without_point} predicted neurons have no soma or synapse, "
          f"{res.n_not_in_connectome} are not in {con.name}).\nstate: {res.state_path}\n"
          f"open while served: {res.short_url}\n  or, offline: {res.local_url}")
    if args.screenshot:
        print(f"screenshot: {screenshot_view(res.out_dir, args.screenshot)}")
    if args.serve:
        serve(res.out_dir, args.port)
    return 0


def _claim_view(out):
    """``out`` as a view folder of the tool's (new, empty, or a view it wrote before)."""
    from ..outputs import claim_folder, register_kind

    register_kind("view", ("state.json", "view.json"),
                  lambda f: "" if (f / "state.json").is_file() else None)
    return claim_folder(out, "view")


def _record_view(out) -> None:
    """Record what the view wrote (its layers, state.json, view.json) as the tool's own."""
    from ..outputs import MARKER, read_marker, record_file

    for entry in out.iterdir():
        if entry.name != MARKER and entry.name not in read_marker(out).files:
            record_file(entry, "view")


def _predictions(path, label: str):
    """The predictions table at ``path``; ConfigError (one line) for a file that is not one."""
    from ..answers.prediction_table import read_predictions
    from ..errors import ConfigError

    try:
        df, meta = read_predictions(path)
    except (OSError, ValueError) as e:  # pyarrow's errors are ValueErrors or OSErrors
        raise ConfigError(f"--predictions {path}: not a readable Parquet table ({' '.join(str(e).split())[:80]}); "
                          "give the predictions.parquet written by `predict`") from None
    if "bodyId" not in df.columns or f"{label}__pred" not in df.columns:
        raise ConfigError(f"--predictions {path}: not a predictions table of label {label!r} (no "
                          f"bodyId and {label}__pred columns); give the file `predict` wrote, "
                          "or choose --label")
    return df


def register(subparsers) -> None:
    """``view``: ``python -m synhelpers view --predictions P --tables T --out DIR``."""
    p = subparsers.add_parser(
        "view", help="write a Neuroglancer view of per-neuron predictions",
        description="Write the annotation layers, state.json and URLs of a Neuroglancer view of "
                    "one label column's predictions (needs the `view` extra).")
    p.add_argument("--predictions", type=existing_file, required=True,
                   help="predictions.parquet (from `predict`)")
    p.add_argument("--tables", type=existing_dir, required=True,
                   help="connectome folder the predictions were made on")
    p.add_argument("--out", type=writable_dir, required=True, help="output folder (layers, state.json)")
    p.add_argument("--label", default="cell_class", help="label column (default cell_class)")
    p.add_argument("--synapse-bodies", type=int, nargs="*", default=None,
                   help="bodyIds whose synapses to draw (default: 3 with most synapses; "
                        "give the flag alone for none)")
    p.add_argument("--segmentation", default=None,
                   help="segmentation source (default: the dataset's public one; 'none' for none)")
    p.add_argument("--port", type=positive_int, default=9000, help="port the layers are served on")
    p.add_argument("--serve", action="store_true", help="serve --out on 127.0.0.1:PORT afterwards")
    p.add_argument("--screenshot", default=None, help="also save a PNG of the view (Chromium)")
    p.set_defaults(func=_view)

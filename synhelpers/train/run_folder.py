"""A run folder that cannot be lost: its settings are recorded first, each finished seed is
saved on its own, and ``metrics.json`` is written once, atomically, when every seed is done.

Layout (``<tag>`` is ``seed<k>``, or ``split<j>/seed<k>`` with several splits)::

    run.json               the settings that decide the results (below) and the graph fingerprint
    <tag>/result.json      one finished seed, written atomically right after its test evaluation
    <tag>/best.ckpt        its selected checkpoint
    metrics.json           written once, atomically, after every seed finished

The folder carries the ownership marker of :mod:`synhelpers.outputs` (kind ``run``, purpose
``train``), listing the files and folders the run writes; ``run.json`` holds the run's
``run_id``, stored with the graph fingerprint and the seed tag in every checkpoint (checked by
:func:`synhelpers.answers.load.load_run`). A folder that holds something else (the user's
files, tables, a graph, a baseline) is refused whole, in one line.

A rerun into a folder that holds a run:

- with other settings (or another graph) is refused with one line naming what differs,
  unless ``overwrite=True`` (``train --overwrite``), which first deletes the files the run
  recorded as its own (and nothing else);
- with the same settings, returns the finished run's ``metrics.json`` untouched, or resumes
  an interrupted run: finished seeds are read back from their ``result.json`` and the seed
  that was cut off is trained again from scratch, so the final ``metrics.json`` equals an
  uninterrupted run's (CPU training is deterministic) apart from timing and memory fields.

The settings are :class:`TrainConfig` minus :data:`NON_RESULT_FIELDS`, plus the graph's
:func:`~synhelpers.graph.cache.graph_fingerprint`. A folder written before ``run.json``
existed is judged by its ``metrics.json``.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

from ..errors import RunError
from ..io import read_json, write_json
from ..outputs import MARKER, claim_folder, read_marker, remove_owned
from .config import TrainConfig

__all__ = ["NON_RESULT_FIELDS", "RESULT_FILE", "run_settings", "run_state", "open_run_folder",
           "finished_seed", "save_seed", "write_metrics", "wipe_run", "run_id"]

#: TrainConfig fields that change no result: what is printed, and how many CPU threads run
#: (a resumed run may use other threads; its seeds are still the same models).
NON_RESULT_FIELDS = ("progress", "num_threads")
#: Name of a finished seed's result, inside its ``<tag>`` folder.
RESULT_FILE = "result.json"
_RUN_FILE, _METRICS_FILE = "run.json", "metrics.json"
#: Files and folders a run of an older version (no marker) wrote in its folder.
_RUN_ENTRIES = re.compile(r"^(run\.json|metrics\.json|MODEL_CARD\.md|seed\d+|split\d+|splits|tb)$")


def run_settings(cfg: TrainConfig, fingerprint: str) -> dict:
    """The settings that decide a run's results, as plain JSON values.

    Example:
        >>> s = run_settings(TrainConfig(model="sage", progress="none"), "abc")
        >>> s["data_fingerprint"], s["config"]["model"], "progress" in s["config"]
        ('abc', 'sage', False)
    """
    config = {k: v for k, v in cfg.to_dict().items() if k not in NON_RESULT_FIELDS}
    return json.loads(json.dumps({"config": config, "data_fingerprint": fingerprint}))


def _saved_settings(out_dir: Path) -> dict | None:
    """The settings recorded in ``out_dir`` (run.json, else an older metrics.json), or None."""
    for name in (_RUN_FILE, _METRICS_FILE):
        f = out_dir / name
        if not f.exists():
            continue
        try:
            saved = read_json(f)
            config = {k: v for k, v in saved["config"].items() if k not in NON_RESULT_FIELDS}
            return {"config": config, "data_fingerprint": saved["data_fingerprint"]}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise RunError(f"{f}: unreadable run record ({' '.join(str(e).split())[:80] or 'damaged'}); "
                           "rerun with --overwrite to replace the run") from None
    return None


def _differences(saved: dict, wanted: dict) -> list[str]:
    """``["max_epochs 2 -> 3", ...]``: the settings that differ. A setting the saved run does
    not record (a TrainConfig field added since) counts as its default, and one that is no
    longer a TrainConfig field is ignored: neither changes what the saved run did."""
    defaults = run_settings(TrainConfig(), "")["config"]
    old = {k: saved["config"].get(k, defaults[k]) for k in wanted["config"]}
    diffs = [f"{k} {old[k]!r} -> {v!r}" for k, v in wanted["config"].items() if old[k] != v]
    if saved["data_fingerprint"] != wanted["data_fingerprint"]:
        diffs.append(f"graph {saved['data_fingerprint']} -> {wanted['data_fingerprint']}")
    return diffs


def run_state(out_dir, cfg: TrainConfig, fingerprint: str) -> str:
    """What ``out_dir`` holds for this run: ``"empty"`` (no run), ``"complete"`` (same settings,
    metrics.json written), ``"partial"`` (same settings, interrupted) or ``"other"`` (a run
    with other settings or on another graph)."""
    out_dir = Path(out_dir)
    saved = _saved_settings(out_dir)
    if saved is None:
        return "empty"
    if _differences(saved, run_settings(cfg, fingerprint)):
        return "other"
    return "complete" if (out_dir / _METRICS_FILE).exists() else "partial"


def _claim(out_dir: Path) -> None:
    """Claim ``out_dir`` as a training run's folder (the user's folder, a graph, a baseline
    are refused whole, in one line); a run folder of an older version (no marker) is adopted
    with the run files already there."""
    legacy = out_dir.is_dir() and read_marker(out_dir) is None
    claim_folder(out_dir, "run", purpose="train")
    if legacy:
        _record(out_dir, [e.name for e in out_dir.iterdir() if _RUN_ENTRIES.match(e.name)])


def _record(out_dir: Path, names) -> None:
    marker = read_marker(out_dir)
    marker.files.update(dict.fromkeys(names, "run"))
    write_json(out_dir / MARKER, marker.to_json())


def _own(out_dir: Path, cfg: TrainConfig) -> None:
    """Record the names this run writes (run.json, metrics.json, the model card, logs, splits
    and each seed's folder) in the folder's marker: ``--overwrite`` deletes these alone."""
    names = ["run.json", "metrics.json", "MODEL_CARD.md", "tb", "splits"]
    names += ([f"split{k}" for k in range(cfg.splits)] if cfg.splits > 1 else
              [f"seed{s}" for s in range(cfg.first_seed, cfg.first_seed + cfg.seeds)])
    _record(out_dir, names)


def wipe_run(out_dir) -> list[Path]:
    """Delete the files the tool recorded as this run folder's (run.json, metrics.json, seed
    and split folders, logs); anything else in the folder is left alone, and a folder that
    holds no run (the user's, a graph, a baseline) is refused whole (:class:`OutputError`)."""
    out_dir = Path(out_dir)
    if not out_dir.exists() and not out_dir.is_symlink():
        return []
    _claim(out_dir)
    return remove_owned(out_dir, "run", purpose="train")


def _remove_orphans(out_dir: Path) -> None:
    """Temporary files of a killed run (``.metrics.json.<random>.tmp`` ...); a cut-off seed's
    folder is cleared when that seed is trained again."""
    for pattern in (".run.json.*.tmp", ".metrics.json.*.tmp", "splits/.split*.tmp"):
        for tmp in out_dir.glob(pattern):
            tmp.unlink(missing_ok=True)


def open_run_folder(out_dir, cfg: TrainConfig, fingerprint: str, *,
                    overwrite: bool = False) -> dict | None:
    """Make ``out_dir`` ready for this run; returns the saved ``metrics.json`` when the same
    run already finished there (nothing is written then), else None.

    Raises:
        RunError: the folder holds a run with other settings or on another graph (the message
            names the differences) and ``overwrite`` is False.
    """
    out_dir = Path(out_dir)
    if overwrite:
        wipe_run(out_dir)
    _claim(out_dir)
    _remove_orphans(out_dir)
    wanted = run_settings(cfg, fingerprint)
    saved = _saved_settings(out_dir)
    if saved is not None:
        diffs = _differences(saved, wanted)
        if diffs:
            shown = "; ".join(diffs[:4]) + (f"; and {len(diffs) - 4} more" if len(diffs) > 4 else "")
            raise RunError(f"{out_dir} holds a run with other settings ({shown}); rerun with "
                           "--overwrite to replace it (overwrite=True), or choose another --out")
        if (out_dir / _METRICS_FILE).exists():
            return read_json(out_dir / _METRICS_FILE)
    _own(out_dir, cfg)
    if not (out_dir / _RUN_FILE).exists():
        write_json(out_dir / _RUN_FILE, {**wanted, "run_id": uuid.uuid4().hex})
    return None


def run_id(out_dir) -> str | None:
    """The run's identity (``run.json``'s ``run_id``, stored in each checkpoint; a run folder
    of an older version gets one when it resumes), or None where no run.json is."""
    f = Path(out_dir) / _RUN_FILE
    if not f.exists():
        return None
    saved = read_json(f)
    if not saved.get("run_id"):
        write_json(f, {**saved, "run_id": uuid.uuid4().hex})
        saved = read_json(f)
    return saved["run_id"]


def finished_seed(out_dir, tag: str) -> dict | None:
    """The saved result of a finished seed (``<tag>/result.json``), or None."""
    f = Path(out_dir) / tag / RESULT_FILE
    return read_json(f) if f.exists() else None


def save_seed(out_dir, tag: str, result: dict) -> dict:
    """Write a finished seed's result atomically; returns it as read back (plain JSON values,
    so a resumed run and an uninterrupted one hold the same objects)."""
    f = write_json(Path(out_dir) / tag / RESULT_FILE, result)
    return read_json(f)


def write_metrics(out_dir, result: dict) -> Path:
    """Write ``metrics.json`` atomically (once, when every seed is done)."""
    return write_json(Path(out_dir) / _METRICS_FILE, result)

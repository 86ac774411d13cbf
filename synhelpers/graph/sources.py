"""What a graph was built from: the resolved paths and SHA-256 digests of every input file.

``graph.json`` stores them under ``"sources"`` (absolute path -> hex digest) beside
``"tables"`` (the absolute tables folders) and ``"config"``. The inputs are, per tables
folder, the tables the build read (``synapses``/``sites`` only when the build attaches them)
and the metadata sidecars ``synthetic.json`` / ``manifest.json`` (they give the dataset's name
and ``voxel_nm``), plus the label map. Paths are resolved when the graph is built, so a graph
built with a relative path is checked against the same files from any working folder.

The cache key (:func:`cache_key`) hashes the digests by file name and folder position, not
the paths: a tables folder moved together with its graph still hits the cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from ..io import sha256_file
from ..tables.schema import TABLE_FILES
from .config import BUILDER_VERSION, GraphConfig

__all__ = ["SIDECARS", "source_files", "digest_sources", "cache_key", "changed_sources"]

#: Metadata files of a tables folder that the build reads (name, voxel_nm).
SIDECARS = ("synthetic.json", "manifest.json")


def source_files(tables: list[Path], cfg: GraphConfig) -> list[list[Path]]:
    """Per tables folder, the existing input files a build with ``cfg`` reads."""
    out = []
    for d in tables:
        names = [f for t, f in TABLE_FILES.items() if cfg.synapses or t not in ("synapses", "sites")]
        out.append([d / n for n in (*names, *SIDECARS) if (d / n).is_file()])
    return out


def digest_sources(tables: list[Path], cfg: GraphConfig) -> dict[str, str]:
    """Absolute path -> SHA-256 of every input file (the label map included)."""
    files = [f for per in source_files(tables, cfg) for f in per]
    if cfg.label_map:
        files.append(Path(cfg.label_map))
    return {str(Path(f).resolve()): sha256_file(f) for f in files}


def cache_key(tables: list[Path], cfg: GraphConfig, digests: dict[str, str]) -> str:
    """SHA-256 of the builder version, the settings (the label map by content) and the
    inputs' digests by folder position and file name."""
    config = {k: v for k, v in asdict(cfg).items() if k != "label_map"}
    per = [{f.name: digests[str(f.resolve())] for f in files}
           for files in source_files(tables, cfg)]
    lm = digests.get(str(Path(cfg.label_map).resolve())) if cfg.label_map else None
    blob = {"builder": BUILDER_VERSION, "config": config, "tables": per, "label_map": lm}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def config_of(meta: dict) -> GraphConfig | None:
    """The settings stored in ``graph.json`` (``None`` when absent or unreadable)."""
    try:
        return GraphConfig(**meta["config"])
    except (KeyError, TypeError, ValueError):
        return None


def changed_sources(meta: dict) -> list[str]:
    """What changed among the inputs ``graph.json`` records: ``"PATH changed"``, ``"PATH was
    removed"``, ``"PATH is new"``. Empty when nothing changed, and when the graph records no
    sources (built by an older version) or its tables folders are gone (then the graph is
    all there is, and it is served as it is)."""
    recorded, tables, cfg = meta.get("sources"), meta.get("tables"), config_of(meta)
    if not isinstance(recorded, dict) or not isinstance(tables, list) or cfg is None:
        return []
    folders = [Path(t) for t in tables]
    if not all(f.is_absolute() and (f / TABLE_FILES["neurons"]).is_file() for f in folders):
        return []
    if cfg.label_map and not Path(cfg.label_map).is_file():
        cfg = GraphConfig(**{**asdict(cfg), "label_map": None})
        recorded = {p: d for p, d in recorded.items() if Path(p).parent in folders}
    now = digest_sources(folders, cfg)
    out = [f"{p} changed" for p in recorded if p in now and now[p] != recorded[p]]
    out += [f"{p} was removed" for p in recorded if p not in now]
    out += [f"{p} is new" for p in now if p not in recorded]
    return out

"""Generate the synthetic connectome (see :mod:`synhelpers.tables.synthetic`) and write it.

``generate`` chains the steps: design (:mod:`.design`) -> neurons, edges and synapses
(:mod:`.sampling`) -> the three tables and the neurons table (:mod:`.neurons`) -> metadata.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from ...io import write_json, write_parquet
from ..contract import Connectome, write_tables
from .config import BOX, CLASS_NAMES, NEUROTRANSMITTERS, ROI_NAMES, SyntheticConfig
from .design import Design, make_design
from .frames import Frame, draw_frame
from .neurons import body_ids, ceiling_of, neurons_table
from .sampling import SynapseSample, sample_edges, sample_neurons, sample_synapses

__all__ = ["generate", "write_synthetic", "ensure_synthetic", "write_individuals", "dataset_name"]


def _synapse_table(syn: SynapseSample, body_id, pre, post, n_rois: int) -> pd.DataFrame:
    """One row per synaptic pair, neuPrint's columns (int32 voxels, float32 confidences)."""
    roi_cat = pd.Categorical.from_codes(syn.syn_roi, categories=list(ROI_NAMES[:n_rois]))
    return pd.DataFrame({
        "bodyId_pre": body_id[pre[syn.syn_edge]],
        "bodyId_post": body_id[post[syn.syn_edge]],
        "roi_pre": roi_cat,
        "roi_post": roi_cat,
        "x_pre": syn.pos_pre[:, 0], "y_pre": syn.pos_pre[:, 1], "z_pre": syn.pos_pre[:, 2],
        "x_post": syn.pos_post[:, 0], "y_post": syn.pos_post[:, 1], "z_post": syn.pos_post[:, 2],
        "confidence_pre": syn.conf_pre,
        "confidence_post": syn.conf_post,
    })


def _connection_table(syn: SynapseSample, body_id, pre, post, n_rois: int) -> pd.DataFrame:
    """Per-ROI connection rows, as neuPrint's ``fetch_adjacencies``: synapses per (edge, ROI)."""
    ukey, counts = np.unique(syn.syn_edge * n_rois + syn.syn_roi, return_counts=True)
    return pd.DataFrame({
        "bodyId_pre": body_id[pre[ukey // n_rois]],
        "bodyId_post": body_id[post[ukey // n_rois]],
        "roi": np.array(ROI_NAMES[:n_rois], dtype=object)[ukey % n_rois],
        "weight": counts.astype(np.int64),
    })


def dataset_name(cfg: SyntheticConfig) -> str:
    """``synthetic (2000 neurons, seed 0)``; other individuals say which one they are.

    Example:
        >>> dataset_name(SyntheticConfig(n_neurons=300, individual=2))
        'synthetic individual 2 (300 neurons, seed 0)'
    """
    who = f"synthetic individual {cfg.individual}" if cfg.individual else "synthetic"
    return f"{who} ({cfg.n_neurons} neurons, seed {cfg.seed})"


def _metadata(cfg: SyntheticConfig, d: Design, weight, n_rows: int, n_syn: int, ceiling,
              frame: Frame) -> dict:
    """What ``synthetic.json`` records: settings, sizes, ceiling, which class needs which view."""
    n, n_edges = cfg.n_neurons, len(weight)
    return {
        "name": dataset_name(cfg),
        "generator": "synhelpers.tables.synthetic",
        "config": asdict(cfg),
        "seed": cfg.seed,
        "n_neurons": int(n),
        "n_connections": int(n_edges),
        "n_connection_rows": int(n_rows),
        "n_synapses": int(n_syn),
        "mean_out_degree": float(n_edges / n),
        "mean_synapses_per_connection": float(weight.mean()),
        "fraction_connections_1_to_3": float((weight <= 3).mean()),
        "voxel_nm": frame.voxel_nm,
        "frame": frame.to_dict(),
        "box_voxels": list(BOX),
        "classes": list(CLASS_NAMES[:cfg.n_classes]),
        "class_sizes": {CLASS_NAMES[c]: int(s) for c, s in enumerate(d.sizes)},
        "neurotransmitters": list(NEUROTRANSMITTERS),
        "rois": list(ROI_NAMES[:cfg.n_rois]),
        **ceiling,
        "class_dependency": d.dependency,
        "geometry_pairs": [[CLASS_NAMES[g], CLASS_NAMES[h]] for g, h in d.geometry_pairs],
        "wiring_pairs": [
            {"pair": [CLASS_NAMES[a], CLASS_NAMES[b]], "targets": [CLASS_NAMES[x], CLASS_NAMES[y]]}
            for a, b, x, y in d.wiring_pairs
        ],
        "notes": (
            "Synthetic data. 'ceiling' is the accuracy of the noise-free labels against the "
            "published cell_class labels (labelled neurons only); no model can beat it in "
            "expectation. 'synapse' classes are separable only from synapse positions, "
            "'wiring' classes only through message passing, 'both' from either."
        ),
    }


def generate(cfg: SyntheticConfig = SyntheticConfig(), *, progress: bool = False) -> Connectome:
    """Generate the synthetic connectome described in :mod:`synhelpers.tables.synthetic`.

    Args:
        cfg: the settings (see :class:`SyntheticConfig`).
        progress: print stage timings.

    Returns:
        A :class:`~synhelpers.tables.Connectome` whose ``meta`` holds everything
        ``synthetic.json`` records, and whose ``meta["truth"]`` is a DataFrame of the
        noise-free labels (``bodyId, true_cell_class, true_nt``).
    """
    t0 = time.perf_counter()

    def tick(what: str) -> None:
        if progress:
            print(f"[synth] {what} in {time.perf_counter() - t0:.1f}s", flush=True)

    rng = np.random.default_rng(cfg.seed)
    d = make_design(cfg, rng)
    if cfg.individual:  # same design, another animal: its own draws from here on
        rng = np.random.default_rng([cfg.seed, cfg.individual])
    frame = draw_frame(cfg.seed, cfg.individual, rotate_deg=cfg.rotate_deg, mirror=cfg.mirror)
    cls, nt_true, theta_out, theta_in = sample_neurons(cfg, rng, d)
    pre, post = sample_edges(cfg, rng, d, cls, theta_out, theta_in)
    weight = rng.geometric(1.0 / cfg.mean_synapses_per_connection, len(pre)).astype(np.int64)
    tick(f"{len(pre):,} connections")
    syn = sample_synapses(cfg, rng, d, cls, nt_true, pre, post, weight)
    if not frame.is_identity:
        syn.pos_pre = np.rint(frame.apply(syn.pos_pre)).astype(np.int32)
        syn.pos_post = np.rint(frame.apply(syn.pos_post)).astype(np.int32)
    tick(f"{len(syn.syn_edge):,} synaptic pairs")
    body_id = body_ids(rng, cfg.n_neurons)
    synapses = _synapse_table(syn, body_id, pre, post, cfg.n_rois)
    connections = _connection_table(syn, body_id, pre, post, cfg.n_rois)
    n = cfg.n_neurons
    neurons, truth = neurons_table(cfg, rng, d, cls, nt_true, body_id,
                                   np.bincount(pre, weights=weight, minlength=n),
                                   np.bincount(post, weights=weight, minlength=n), frame)
    meta = _metadata(cfg, d, weight, len(connections), len(syn.syn_edge), ceiling_of(truth, neurons),
                     frame)
    tick("tables")
    return Connectome(neurons, connections, synapses, name=meta["name"],
                      meta={**meta, "truth": truth})


def write_synthetic(cfg: SyntheticConfig, out: str | Path, *, progress: bool = False) -> Connectome:
    """Generate and write the tables, ``synthetic.json`` and ``synthetic_truth.parquet`` to ``out``.

    Every file is written atomically; ``synthetic.json`` is written last, so its presence
    marks a complete folder.
    """
    out = Path(out)
    con = generate(cfg, progress=progress)
    truth = con.meta.pop("truth")
    write_tables(con, out)
    write_parquet(truth, out / "synthetic_truth.parquet")
    write_json(out / "synthetic.json", con.meta)
    con.path = out
    return con


def ensure_synthetic(cfg: SyntheticConfig, out: str | Path, *, progress: bool = False) -> Path:
    """Write the synthetic connectome to ``out`` unless it already holds this exact config.

    A folder written with other settings (or by an older generator whose defaults differed)
    is regenerated, so a cached dataset can never silently disagree with ``cfg``.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = ensure_synthetic(SyntheticConfig(n_neurons=200), d)
        >>> t = (d / "neurons.parquet").stat().st_mtime_ns
        >>> _ = ensure_synthetic(SyntheticConfig(n_neurons=200), d)  # same config: kept
        >>> (d / "neurons.parquet").stat().st_mtime_ns == t
        True
    """
    out = Path(out)
    meta_file = out / "synthetic.json"
    if meta_file.exists():
        try:
            if json.loads(meta_file.read_text()).get("config") == asdict(cfg):
                return out
        except (OSError, ValueError):
            pass  # unreadable metadata: regenerate
    write_synthetic(cfg, out, progress=progress)
    return out


def write_individuals(cfg: SyntheticConfig, k: int, out: str | Path, *, mirror=(), rotate_deg: float = 0.0,
                      progress: bool = False) -> list[Path]:
    """Write ``k`` individuals of one design to ``out/ind0 .. out/ind{k-1}`` (tables folders).

    They share classes and wiring rules; each has its own neurons, edges, synapse positions,
    label noise and coordinate frame (individual 0 the base frame). ``mirror``: indices of the
    individuals to mirror left-right; ``rotate_deg``: rotate every frame up to this much.
    """
    from dataclasses import replace

    paths = []
    for i in range(k):
        ind = replace(cfg, individual=i, mirror=i in set(mirror), rotate_deg=rotate_deg)
        write_synthetic(ind, Path(out) / f"ind{i}", progress=progress)
        paths.append(Path(out) / f"ind{i}")
    return paths

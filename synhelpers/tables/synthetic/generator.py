"""Generate the synthetic connectome (see :mod:`synhelpers.tables.synthetic`) and write it.

``generate`` chains the steps: design, neurons, edges and weights (:mod:`.wiring`) -> synapses
(:mod:`.sampling`, in one pass up to hemibrain size, else in chunks: :mod:`.chunked`) -> the
tables (:mod:`.assemble`, :mod:`.neurons`) -> metadata. ``write_synthetic`` streams the chunks
of a large connectome to ``synapses.parquet`` without holding the whole table.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from ...io import write_json, write_parquet, write_parquet_chunks
from ...outputs import check_complete, claim_folder, writing
from ..contract import Connectome, write_tables
from .assemble import connection_rows, connection_table, dataset_name, metadata, synapse_table
from .chunked import SynapseStream, synapse_chunk_edges
from .config import SyntheticConfig
from .neurons import body_ids, ceiling_of, neurons_table
from .sampling import sample_synapses
from .wiring import Wiring, draw_wiring

__all__ = ["generate", "write_synthetic", "ensure_synthetic", "write_individuals", "dataset_name"]


def _ticker(progress: bool):
    t0 = time.perf_counter()

    def tick(what: str) -> None:
        if progress:
            print(f"[synth] {what} in {time.perf_counter() - t0:.1f}s", flush=True)

    return tick


def _one_pass(cfg: SyntheticConfig, w: Wiring, tick) -> Connectome:
    """Every synapse drawn at once from the main stream (the draw order of the datasets up to
    hemibrain size, which must stay byte-identical)."""
    rng, d, frame, cls, nt_true, pre, post, weight = (w.rng, w.design, w.frame, w.cls, w.nt_true,
                                                      w.pre, w.post, w.weight)
    syn = sample_synapses(cfg, rng, d, cls, nt_true, pre, post, weight)
    if not frame.is_identity:
        syn.pos_pre = np.rint(frame.apply(syn.pos_pre)).astype(np.int32)
        syn.pos_post = np.rint(frame.apply(syn.pos_post)).astype(np.int32)
    tick(f"{len(syn.syn_edge):,} synaptic pairs")
    body_id = body_ids(rng, cfg.n_neurons)
    synapses = synapse_table(syn, body_id, pre, post, cfg.n_rois)
    connections = connection_table(body_id, pre, post,
                                   *connection_rows(syn.syn_edge, syn.syn_roi, cfg.n_rois),
                                   cfg.n_rois)
    n = cfg.n_neurons
    neurons, truth = neurons_table(cfg, rng, d, cls, nt_true, body_id,
                                   np.bincount(pre, weights=weight, minlength=n),
                                   np.bincount(post, weights=weight, minlength=n), frame)
    meta = metadata(cfg, d, weight, len(connections), len(syn.syn_edge), ceiling_of(truth, neurons),
                    frame)
    return Connectome(neurons, connections, synapses, name=meta["name"],
                      meta={**meta, "truth": truth})


def generate(cfg: SyntheticConfig = SyntheticConfig(), *, progress: bool = False,
             chunk_edges: int | None = None) -> Connectome:
    """Generate the synthetic connectome described in :mod:`synhelpers.tables.synthetic`.

    Args:
        cfg: the settings (see :class:`SyntheticConfig`).
        progress: print stage timings.
        chunk_edges: ``None``: synapses in one pass up to hemibrain size (21,739 neurons), in
            chunks of :data:`~.chunked.SYNAPSE_CHUNK_EDGES` edges above; a positive number
            forces chunks of that many edges (see :mod:`.chunked`). In memory the chunks are
            concatenated; use :func:`write_synthetic` to stream them to disk instead.

    Returns:
        A :class:`~synhelpers.tables.Connectome` whose ``meta`` holds everything
        ``synthetic.json`` records, and whose ``meta["truth"]`` is a DataFrame of the
        noise-free labels (``bodyId, true_cell_class, true_nt``).
    """
    tick = _ticker(progress)
    chunk = synapse_chunk_edges(cfg, chunk_edges)
    w = draw_wiring(cfg)
    tick(f"{len(w.pre):,} connections")
    if chunk is None:
        con = _one_pass(cfg, w, tick)
    else:
        stream = SynapseStream(cfg, w, chunk, tick)
        synapses = pd.concat(list(stream.frames()), ignore_index=True)
        con = stream.connectome(synapses)
    tick("tables")
    return con


def _synth_command(cfg: SyntheticConfig, out: Path) -> str:
    """The command that writes ``cfg`` to ``out`` (named when that write was interrupted)."""
    extra = "" if cfg.label_noise == SyntheticConfig().label_noise else f" --label-noise {cfg.label_noise}"
    return f"python -m synhelpers synth --neurons {cfg.n_neurons} --seed {cfg.seed}{extra} --out {out}"


def write_synthetic(cfg: SyntheticConfig, out: str | Path, *, progress: bool = False,
                    chunk_edges: int | None = None, writer: str | None = None) -> Connectome:
    """Generate and write the tables, ``synthetic.json`` and ``synthetic_truth.parquet`` to ``out``.

    ``out`` must be new, empty or a synthetic tables folder (:func:`synhelpers.outputs.claim_folder`:
    the user's own tables, or a download, are refused in one line). Every file is written
    atomically, and the folder is marked incomplete until the last one is written
    (:func:`synhelpers.outputs.writing`), so tables of an interrupted write are refused by
    :func:`synhelpers.load_tables` instead of passing as a connectome (``writer``: the command
    the refusal tells to rerun). With chunked synapses (above hemibrain size, or
    ``chunk_edges``: see :func:`generate`) each chunk is written as a row group of
    ``synapses.parquet`` as soon as it is drawn, and the returned connectome holds no synapses
    table (``synapses`` is ``None``; read it from ``out`` with :func:`synhelpers.load_tables`).
    """
    out = Path(out)
    chunk = synapse_chunk_edges(cfg, chunk_edges)
    claim_folder(out, "tables", purpose="synthetic")  # refuse before minutes of work
    with writing(out, "tables", purpose="synthetic",
                 writer=writer or _synth_command(cfg, out)) as rec:
        if chunk is None:
            con = generate(cfg, progress=progress)
        else:
            tick = _ticker(progress)
            w = draw_wiring(cfg)
            tick(f"{len(w.pre):,} connections")
            stream = SynapseStream(cfg, w, chunk, tick)
            write_parquet_chunks(stream.frames(), out / "synapses.parquet")
            rec.add("synapses.parquet")
            con = stream.connectome()
            tick("tables")
        truth = con.meta.pop("truth")
        for f in write_tables(con, out).values():
            rec.add(f.name)
        write_parquet(truth, out / "synthetic_truth.parquet")
        rec.add("synthetic_truth.parquet")
        write_json(out / "synthetic.json", con.meta)
        rec.add("synthetic.json")
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
            check_complete(out)
            meta = json.loads(meta_file.read_text())
            if (meta.get("config") == asdict(cfg)
                    and meta.get("synapse_chunk_edges") == synapse_chunk_edges(cfg)):
                return out
        except (OSError, ValueError):
            pass  # unreadable metadata or an interrupted write (OutputError): regenerate
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
    command = (f"python -m synhelpers synth --neurons {cfg.n_neurons} --seed {cfg.seed} "
               f"--individuals {k} --out {out}")
    for i in range(k):
        ind = replace(cfg, individual=i, mirror=i in set(mirror), rotate_deg=rotate_deg)
        write_synthetic(ind, Path(out) / f"ind{i}", progress=progress, writer=command)
        paths.append(Path(out) / f"ind{i}")
    return paths

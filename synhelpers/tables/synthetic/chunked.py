"""Chunked synapse draws: FlyWire-size synthetic connectomes in bounded memory.

Up to hemibrain size (21,739 neurons) the synapses are drawn in one pass from the main random
stream (the original draw order: those datasets stay byte-identical). Above it, the edges are
cut into chunks of :data:`SYNAPSE_CHUNK_EDGES` and each chunk's synapses are drawn from its own
stream, derived from ``(seed, individual, chunk)``, and turned into table rows at once, so only
one chunk of synapses is ever in memory: :func:`~.generator.write_synthetic` writes each chunk
as a row group of ``synapses.parquet`` (:func:`synhelpers.io.write_parquet_chunks`).

The result is deterministic for a given seed **and chunk size** (``synthetic.json`` records
it as ``synapse_chunk_edges``). Neurons, edges and weights are drawn before any synapse, so
a chunked and a one-pass draw of one config share them: same connections per neuron pair,
same synapse counts, same statistics; only synapse positions, ROIs and bodyIds differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from ..contract import Connectome
from .assemble import connection_rows, connection_table, metadata, synapse_table
from .config import HEMIBRAIN_NEURONS, SyntheticConfig
from .neurons import body_ids, ceiling_of, neurons_table
from .sampling import neuron_offsets, sample_synapses
from .wiring import Wiring

__all__ = ["SYNAPSE_CHUNK_EDGES", "synapse_chunk_edges", "chunk_rng", "SynapseStream"]

#: Edges per chunk above hemibrain size (~3.4M synaptic pairs per chunk at FlyWire size).
SYNAPSE_CHUNK_EDGES = 1 << 20
#: Tag mixed into the chunk streams' seeds, so they differ from every other stream.
_CHUNK_STREAM = 0x5E7C


def synapse_chunk_edges(cfg: SyntheticConfig, chunk_edges: int | None = None) -> int | None:
    """Edges per synapse chunk for ``cfg``: ``None`` (one pass) up to hemibrain size, else
    :data:`SYNAPSE_CHUNK_EDGES`; a positive ``chunk_edges`` forces the chunked draw.

    Example:
        >>> synapse_chunk_edges(SyntheticConfig(n_neurons=2000)) is None
        True
        >>> synapse_chunk_edges(SyntheticConfig(n_neurons=30_000)), synapse_chunk_edges(SyntheticConfig(), 500)
        (1048576, 500)
    """
    if chunk_edges is not None:
        if isinstance(chunk_edges, bool) or not isinstance(chunk_edges, int | np.integer) \
                or chunk_edges < 1:
            raise ValueError(f"chunk_edges must be a positive integer or None, got {chunk_edges!r}")
        return int(chunk_edges)
    return SYNAPSE_CHUNK_EDGES if cfg.n_neurons > HEMIBRAIN_NEURONS else None


def chunk_rng(cfg: SyntheticConfig, index: int) -> np.random.Generator:
    """The stream of chunk ``index`` (0: the per-neuron offsets, ``i + 1``: chunk ``i``)."""
    return np.random.default_rng([cfg.seed, cfg.individual, _CHUNK_STREAM, index])


class SynapseStream:
    """The chunked draw of one config: neurons and bodyIds first, then synapses chunk by chunk.

    Iterate :meth:`frames` once (each item: the synapse table rows of one chunk of edges, in
    edge order), then call :meth:`connectome` for the connections table and the metadata.

    Args:
        cfg: the settings.
        wiring: :func:`~.wiring.draw_wiring` of ``cfg``; its main stream draws the bodyIds and
            the neurons table here.
        chunk_edges: edges per chunk (>= 1).
        tick: progress callback (one line per chunk), or ``None``.
    """

    def __init__(self, cfg: SyntheticConfig, wiring: Wiring, chunk_edges: int,
                 tick: Callable[[str], None] | None = None) -> None:
        self.cfg, self.w, self.chunk_edges = cfg, wiring, int(chunk_edges)
        self.tick = tick or (lambda what: None)
        n, w = cfg.n_neurons, wiring
        self.body_id = body_ids(w.rng, n)
        self.neurons, self.truth = neurons_table(
            cfg, w.rng, w.design, w.cls, w.nt_true, self.body_id,
            np.bincount(w.pre, weights=w.weight, minlength=n),
            np.bincount(w.post, weights=w.weight, minlength=n), w.frame)
        self._rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.n_chunks = -(-len(w.pre) // self.chunk_edges)

    def frames(self) -> Iterator[pd.DataFrame]:
        """The synapse table, one DataFrame per chunk of edges (same columns and dtypes)."""
        cfg, w, r = self.cfg, self.w, self.cfg.n_rois
        self._rows = []
        neuron_off = neuron_offsets(cfg, chunk_rng(cfg, 0))
        for i in range(self.n_chunks):
            sl = slice(i * self.chunk_edges, (i + 1) * self.chunk_edges)
            pre, post = w.pre[sl], w.post[sl]
            syn = sample_synapses(cfg, chunk_rng(cfg, i + 1), w.design, w.cls, w.nt_true, pre,
                                  post, w.weight[sl], neuron_off)
            if not w.frame.is_identity:
                syn.pos_pre = np.rint(w.frame.apply(syn.pos_pre)).astype(np.int32)
                syn.pos_post = np.rint(w.frame.apply(syn.pos_post)).astype(np.int32)
            edge, roi, count = connection_rows(syn.syn_edge, syn.syn_roi, r)
            self._rows.append((edge + sl.start, roi.astype(np.int8), count.astype(np.int32)))
            frame = synapse_table(syn, self.body_id, pre, post, r)
            del syn
            self.tick(f"synapse chunk {i + 1}/{self.n_chunks}: {len(frame):,} synaptic pairs")
            yield frame

    def connectome(self, synapses: pd.DataFrame | None = None) -> Connectome:
        """The connectome after :meth:`frames` was consumed; ``synapses``: the concatenated
        frames, or ``None`` when they went to disk only. ``meta`` as in
        :func:`~.generator.generate`, plus ``synapse_chunk_edges``."""
        if len(self._rows) != self.n_chunks:
            raise RuntimeError("SynapseStream.connectome() needs frames() consumed to the end")
        cfg, w = self.cfg, self.w
        empty = (np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, np.int32))
        edge, roi, count = (np.concatenate(parts) for parts in zip(empty, *self._rows))
        self._rows = []
        connections = connection_table(self.body_id, w.pre, w.post, edge, roi, count, cfg.n_rois)
        del edge, roi, count
        meta = metadata(cfg, w.design, w.weight, len(connections), int(w.weight.sum()),
                        ceiling_of(self.truth, self.neurons), w.frame)
        meta["synapse_chunk_edges"] = self.chunk_edges
        return Connectome(self.neurons, connections, synapses, name=meta["name"],
                          meta={**meta, "truth": self.truth})

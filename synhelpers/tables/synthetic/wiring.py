"""The wiring of the synthetic connectome: design, neurons, edges and synapse counts.

These draws come first and are the same whichever way the synapses are drawn afterwards (in
one pass or in chunks, :mod:`.chunked`), so both give the same neurons, edges and weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SyntheticConfig
from .design import Design, make_design
from .frames import Frame, draw_frame
from .sampling import sample_edges, sample_neurons

__all__ = ["Wiring", "draw_wiring"]


@dataclass
class Wiring:
    """The draws every later step reads (N neurons, E edges)."""

    rng: np.random.Generator  # the main stream, positioned after the weights
    design: Design
    frame: Frame
    cls: np.ndarray      # (N,) true class
    nt_true: np.ndarray  # (N,) true neurotransmitter index
    pre: np.ndarray      # (E,) int64 node, edges sorted by (pre, post)
    post: np.ndarray     # (E,) int64 node
    weight: np.ndarray   # (E,) int64 synapses per edge


def draw_wiring(cfg: SyntheticConfig) -> Wiring:
    """Design, neurons, edges and weights of ``cfg``, in the generator's fixed draw order."""
    rng = np.random.default_rng(cfg.seed)
    d = make_design(cfg, rng)
    if cfg.individual:  # same design, another animal: its own draws from here on
        rng = np.random.default_rng([cfg.seed, cfg.individual])
    frame = draw_frame(cfg.seed, cfg.individual, rotate_deg=cfg.rotate_deg, mirror=cfg.mirror)
    cls, nt_true, theta_out, theta_in = sample_neurons(cfg, rng, d)
    pre, post = sample_edges(cfg, rng, d, cls, theta_out, theta_in)
    weight = rng.geometric(1.0 / cfg.synapses_per_connection, len(pre)).astype(np.int64)
    return Wiring(rng, d, frame, cls, nt_true, pre, post, weight)

"""Class-level design of the synthetic connectome: sizes, ROIs, zones, block model, NT, pairs.

Everything here is drawn once per seed and indexed by class (K) or ROI (R). The order of the
random draws is part of the dataset's identity: changing it changes every table of a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import BOX, CLASS_NAMES, SyntheticConfig

__all__ = ["Design", "make_design"]


@dataclass
class Design:
    """Class-level parameters drawn from the seed (all arrays indexed by class or ROI)."""

    sizes: np.ndarray          # (K,) neurons per class
    roi_center: np.ndarray     # (R, 3) voxels
    roi_radius: np.ndarray     # (R,) voxels
    soma_center: np.ndarray    # (K, 3) voxels
    in_roi: np.ndarray         # (K, R) input ROI distribution
    out_roi: np.ndarray        # (K, R) output ROI distribution
    zone_in: np.ndarray        # (K, R, 3) offset of a class's dendrites in each ROI, voxels
    zone_out: np.ndarray       # (K, R, 3) offset of a class's axon terminals, voxels
    rate: np.ndarray           # (K, K) expected connections from one neuron of c1 to one of c2
    nt_prob: np.ndarray        # (K, 6) neurotransmitter distribution per class
    dependency: dict           # class name -> "both" | "synapse" | "wiring"
    geometry_pairs: list       # [(g, h)]: classes that differ only in synapse zones
    wiring_pairs: list         # [(a, b, x, y)]: a prefers target x, b prefers y


def class_sizes(n: int, k: int, ratio: float) -> np.ndarray:
    """Power-law class sizes summing to ``n``, largest/smallest ~= ``ratio``.

    Example:
        >>> class_sizes(100, 4, 4.0).tolist()
        [48, 24, 16, 12]
    """
    a = np.log(ratio) / np.log(k)
    w = np.arange(1, k + 1, dtype=float) ** -a
    raw = n * w / w.sum()
    sizes = np.maximum(np.floor(raw).astype(int), 1)
    rest = n - sizes.sum()
    order = np.argsort(-(raw - np.floor(raw)))
    sizes[order[: max(rest, 0)]] += 1
    while sizes.sum() > n:  # only when many classes were raised to 1
        sizes[np.argmax(sizes)] -= 1
    return sizes


def _dirichlet_rois(rng, k: int, r: int, n_active: int = 3) -> np.ndarray:
    p = np.zeros((k, r))
    for c in range(k):  # loop over classes (<= 16), not rows
        idx = rng.choice(r, n_active, replace=False)
        p[c, idx] = rng.dirichlet(np.full(n_active, 2.0))
    return p


def _zones(rng, k: int, r: int, separation: float, roi_radius: np.ndarray) -> np.ndarray:
    """(K, R, 3) unit directions scaled to half the zone separation, in voxels."""
    v = rng.normal(size=(k, r, 3))
    v /= np.linalg.norm(v, axis=2, keepdims=True)
    return v * (0.5 * separation * roi_radius)[None, :, None]


def _block_rates(rng, in_roi, out_roi, sizes, out_degree: float) -> np.ndarray:
    """Degree-corrected block model: log-normal rates, an assortative diagonal, ROI overlap."""
    k = len(sizes)
    base = np.exp(rng.normal(0.0, 1.2, (k, k)))
    base[np.arange(k), np.arange(k)] *= 3.0
    # a class pair meets only where the axons of one and dendrites of the other share ROIs
    overlap = out_roi @ in_roi.T
    base *= 0.2 + overlap / overlap.mean()
    return base / (base * sizes[None, :]).sum(1, keepdims=True) * out_degree


def _nt_distributions(rng, k: int) -> np.ndarray:
    """(K, 6) NT distribution: a main transmitter per class (fixed for a few named classes)."""
    nt_main = rng.choice(3, size=k, p=[0.6, 0.2, 0.2])  # ACh, GABA, Glu
    nt_main[CLASS_NAMES.index("DAN")] = 3 if k > CLASS_NAMES.index("DAN") else nt_main[0]
    for name, nt in (("ER", 1), ("hygrosensory", 4), ("thermosensory", 5)):
        if CLASS_NAMES.index(name) < k:
            nt_main[CLASS_NAMES.index(name)] = nt
    purity = rng.uniform(0.8, 0.97, k)
    nt_prob = np.tile(((1 - purity) / 5)[:, None], (1, 6))
    nt_prob[np.arange(k), nt_main] = purity
    return nt_prob


def _geometry_pairs(d: Design, order: list[int], n_pairs: int) -> None:
    """Make ``n_pairs`` class pairs share all wiring; only their zones still differ."""
    for _ in range(n_pairs):
        g, h = order.pop(0), order.pop(0)
        d.rate[h, :] = d.rate[g, :]
        d.rate[:, h] = d.rate[:, g]
        d.in_roi[h], d.out_roi[h], d.nt_prob[h] = d.in_roi[g], d.out_roi[g], d.nt_prob[g]
        d.geometry_pairs.append((g, h))
        d.dependency[CLASS_NAMES[g]] = d.dependency[CLASS_NAMES[h]] = "synapse"


def _wiring_pairs(d: Design, order: list[int], cfg: SyntheticConfig) -> None:
    """Make class pairs share all geometry; each prefers its own target class."""
    sizes, deg = d.sizes, cfg.out_degree
    for _ in range(cfg.n_wiring_pairs):
        a, b = order.pop(0), order.pop(0)
        x, y = order.pop(-1), order.pop(-1)  # targets: smaller "both" classes
        for arr in (d.in_roi, d.out_roi, d.nt_prob, d.zone_in, d.zone_out):
            arr[b] = arr[a]
        d.in_roi[y], d.zone_in[y] = d.in_roi[x], d.zone_in[x]  # targets share input geometry
        d.rate[:, b] = d.rate[:, a]
        # a fraction `wiring_preference` of a's expected partners are in x (b's: in y), the
        # rest keeps a's block-model profile, rescaled so the out-degree is unchanged
        rest = d.rate[a] * sizes
        rest[[x, y]] = 0.0
        d.rate[a] = d.rate[a] * (1.0 - cfg.wiring_preference) * deg / rest.sum()
        d.rate[b] = d.rate[a]
        strong, weak = cfg.wiring_preference * deg, 0.01 * deg
        d.rate[a, x], d.rate[a, y] = strong / sizes[x], weak / sizes[y]
        d.rate[b, y], d.rate[b, x] = strong / sizes[y], weak / sizes[x]
        d.wiring_pairs.append((a, b, x, y))
        d.dependency[CLASS_NAMES[a]] = d.dependency[CLASS_NAMES[b]] = "wiring"


def make_design(cfg: SyntheticConfig, rng: np.random.Generator) -> Design:
    """Draw the class-level design of ``cfg`` (see :class:`Design`)."""
    k, r = cfg.n_classes, cfg.n_rois
    box = np.asarray(BOX)
    sizes = class_sizes(cfg.n_neurons, k, cfg.imbalance)
    roi_center = rng.uniform(0.15, 0.85, (r, 3)) * box
    roi_radius = rng.uniform(1500.0, 3500.0, r)
    soma_center = rng.uniform(0.05, 0.95, (k, 3)) * box
    in_roi = _dirichlet_rois(rng, k, r)
    # every class's outputs also reach part of its own input ROIs (recurrence, overlap)
    out_roi = 0.7 * _dirichlet_rois(rng, k, r) + 0.3 * in_roi
    zone_in = _zones(rng, k, r, cfg.zone_separation, roi_radius)
    zone_out = _zones(rng, k, r, cfg.zone_separation, roi_radius)
    rate = _block_rates(rng, in_roi, out_roi, sizes, cfg.out_degree)
    nt_prob = _nt_distributions(rng, k)
    d = Design(sizes, roi_center, roi_radius, soma_center, in_roi, out_roi, zone_in, zone_out,
               rate, nt_prob, {CLASS_NAMES[c]: "both" for c in range(k)}, [], [])
    # roles: classes 2.. in size order, so that no pair includes the two largest classes
    order = list(range(2, k))
    _geometry_pairs(d, order, cfg.n_geometry_pairs)
    _wiring_pairs(d, order, cfg)
    return d

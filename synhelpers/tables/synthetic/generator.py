"""The embedded synthetic connectome: the default dataset of every notebook and test.

No account and no network are needed. The generator writes the same three tables as a
neuPrint download (:mod:`synhelpers.tables`), calibrated on public hemibrain facts
(``../shared/docs/data-contract.md``, section 4) and built so that its difficulty is known:

* **Size.** 200 neurons up to hemibrain scale (21,739 neurons, ~3.5M connections, ~14M
  synaptic pairs). Mean out-degree grows with size (~30 at 2,000 neurons, ~163 at 21,739, as in the
  hemibrain); synapses per connection are geometric with
  mean 4 (58 % of connections have 1 to 3); per-neuron degree propensities are log-normal
  (sigma 0.95 out, 1.13 in, matching the hemibrain's mean/median ratio of pre- and
  post-synapse counts), so synapse counts are heavy tailed.
* **Space.** Coordinates are int32 voxels (8 nm) in a 35,000 x 40,000 x 41,000 box with ~30
  named ROIs. A synapse of connection ``i -> j`` lies in an ROI drawn from
  ``out_roi[class_i] * in_roi[class_j]``, at the ROI centre plus class-specific *zones*
  (sub-ROI offsets), a per-neuron and a per-connection offset, and noise. The postsynaptic
  density lies 20-50 voxels from its T-bar, at a distance set by the presynaptic neuron's
  neurotransmitter (so NT is visible in synapse geometry).
* **Classes.** 16 named classes (largest ~15x the smallest). Each has a soma region, input
  and output ROIs, a row and a column of a degree-corrected stochastic block model, and a
  neurotransmitter distribution over ACh, GABA, Glu, dopamine, serotonin and octopamine
  (``predictedNt`` is the second label).
* **Known difficulty.** ``geometry`` pairs of classes share their wiring (identical block-model
  rows and columns, ROI distributions and degrees) and differ only in where inside the ROIs
  their synapses lie: only a synapse-level model separates them. ``wiring`` pairs share all of
  their synapse geometry (ROIs, zones, NT) and differ only in which partner class they
  target, where the two partner classes share their input geometry: only message passing
  separates them. A fraction of labels is flipped (label noise) and a few are left empty.

``synthetic.json`` records the settings, the seed, the **ceiling** (the accuracy and macro-F1
that predicting every neuron's noise-free class scores against the published, noisy labels:
no model can do better in expectation) and which information each class depends on. The
noise-free labels go to ``synthetic_truth.parquet``, which the pipeline never reads; tests
use it to check the ceiling.

Example:
    >>> con = generate(SyntheticConfig(n_neurons=200, seed=0))
    >>> con.name
    'synthetic (200 neurons, seed 0)'
    >>> sorted(con.neurons.columns)[:4]
    ['bodyId', 'cell_class', 'instance', 'post']
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..io import write_json, write_parquet
from .contract import Connectome, write_tables

__all__ = [
    "SyntheticConfig",
    "generate",
    "write_synthetic",
    "ensure_synthetic",
    "ceiling_of",
    "CLASS_NAMES",
    "ROI_NAMES",
    "NEUROTRANSMITTERS",
]

#: Class names, ordered from the largest class to the smallest.
CLASS_NAMES = (
    "KC", "CX_columnar", "OL_VPN", "ALPN", "LHLN", "SMP_local", "MBON", "LHON",
    "ALLN", "TuBu", "DAN", "CX_tangential", "DN", "ER", "hygrosensory", "thermosensory",
)
#: ROI names (hemibrain-style primary ROIs of the right hemisphere and midline).
ROI_NAMES = (
    "AL(R)", "MB(R)", "CA(R)", "PED(R)", "gL(R)", "bL(R)", "LH(R)", "SLP(R)", "SIP(R)", "SMP(R)",
    "CRE(R)", "LAL(R)", "FB", "EB", "PB", "NO", "BU(R)", "AOTU(R)", "AVLP(R)", "PVLP(R)",
    "PLP(R)", "WED(R)", "SCL(R)", "ICL(R)", "IB", "ATL(R)", "VES(R)", "EPA(R)", "GOR(R)", "SPS(R)",
    "IPS(R)", "SAD", "GNG", "ME(R)", "LO(R)", "LOP(R)",
)
#: Neurotransmitters, in neuPrint's ``predictedNt`` spelling.
NEUROTRANSMITTERS = ("acetylcholine", "gaba", "glutamate", "dopamine", "serotonin", "octopamine")
#: Mean T-bar -> postsynaptic-density distance per presynaptic neurotransmitter (voxels).
NT_SYNAPSE_DISTANCE = np.array([22.0, 30.0, 26.0, 38.0, 44.0, 50.0])
#: Hemibrain-like volume (voxels of 8 nm), x, y, z.
BOX = np.array([35_000.0, 40_000.0, 41_000.0])
VOXEL_NM = 8.0


@dataclass(frozen=True)
class SyntheticConfig:
    """Settings of the synthetic connectome. All defaults are the documented benchmark.

    Attributes:
        n_neurons: number of neurons (200 .. ~25,000).
        seed: RNG seed; the same config gives byte-identical tables.
        n_classes: number of cell classes (10 .. 16).
        n_rois: number of named ROIs (<= 36).
        mean_out_degree: nominal partners per neuron before duplicate draws merge; ``None`` =
            ``33.7 * (N/2000) ** 0.662`` (~30 distinct partners at 2,000 neurons, ~163 at 21,739).
        mean_synapses_per_connection: mean of the geometric weight distribution (>= 1).
        imbalance: size ratio of the largest to the smallest class.
        label_noise: fraction of ``cell_class`` labels replaced by another class.
        nt_label_noise: fraction of ``predictedNt`` labels replaced by another NT.
        unlabelled_fraction: fraction of neurons whose ``cell_class`` is left empty.
        n_geometry_pairs: class pairs that differ only in synapse positions.
        n_wiring_pairs: class pairs that differ only in wiring.
        zone_separation: distance between the zones of two classes in an ROI, in ROI radii.
        wiring_preference: fraction of a wiring-pair neuron's partner draws that go to its
            preferred target class (the other target class gets ~1 %). Repeated draws of one
            pair merge into one connection and the target classes are small, so the fraction
            of *distinct* partners is lower (~0.37 at 2,000 neurons for 0.5).
    """

    n_neurons: int = 2000
    seed: int = 0
    n_classes: int = 16
    n_rois: int = 30
    mean_out_degree: float | None = None
    mean_synapses_per_connection: float = 4.0
    imbalance: float = 15.0
    label_noise: float = 0.05
    nt_label_noise: float = 0.05
    unlabelled_fraction: float = 0.03
    n_geometry_pairs: int = 2
    n_wiring_pairs: int = 2
    zone_separation: float = 1.0
    wiring_preference: float = 0.5

    def __post_init__(self) -> None:
        if not 10 <= self.n_neurons <= 200_000:
            raise ValueError(f"n_neurons must be in [10, 200000], got {self.n_neurons}")
        if not 2 <= self.n_classes <= len(CLASS_NAMES):
            raise ValueError(f"n_classes must be in [2, {len(CLASS_NAMES)}], got {self.n_classes}")
        if not 2 <= self.n_rois <= len(ROI_NAMES):
            raise ValueError(f"n_rois must be in [2, {len(ROI_NAMES)}], got {self.n_rois}")
        if 4 * (self.n_geometry_pairs + self.n_wiring_pairs) > self.n_classes:
            raise ValueError("too many geometry/wiring pairs for n_classes "
                             "(each pair uses 2 classes, each wiring pair 2 more as targets)")
        if self.mean_synapses_per_connection < 1:
            raise ValueError("mean_synapses_per_connection must be >= 1")
        for name in ("label_noise", "nt_label_noise", "unlabelled_fraction"):
            if not 0 <= getattr(self, name) < 0.5:
                raise ValueError(f"{name} must be in [0, 0.5)")

    @property
    def out_degree(self) -> float:
        if self.mean_out_degree is not None:
            return float(self.mean_out_degree)
        # nominal rate before repeated draws of a pair merge: gives ~30 distinct partners at
        # 2,000 neurons and ~163 at 21,739 (the hemibrain's mean out-degree)
        return float(min(max(33.7 * (self.n_neurons / 2000.0) ** 0.662, 8.0), self.n_neurons / 4))


# --------------------------------------------------------------------------- design


@dataclass
class _Design:
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
    geometry_pairs: list
    wiring_pairs: list


def _class_sizes(n: int, k: int, ratio: float) -> np.ndarray:
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


def _design(cfg: SyntheticConfig, rng: np.random.Generator) -> _Design:
    k, r = cfg.n_classes, cfg.n_rois
    sizes = _class_sizes(cfg.n_neurons, k, cfg.imbalance)
    roi_center = rng.uniform(0.15, 0.85, (r, 3)) * BOX
    roi_radius = rng.uniform(1500.0, 3500.0, r)
    soma_center = rng.uniform(0.05, 0.95, (k, 3)) * BOX
    in_roi = _dirichlet_rois(rng, k, r)
    out_roi = _dirichlet_rois(rng, k, r)
    # every class's outputs also reach part of its own input ROIs (recurrence, overlap)
    out_roi = 0.7 * out_roi + 0.3 * in_roi

    def zones() -> np.ndarray:
        v = rng.normal(size=(k, r, 3))
        v /= np.linalg.norm(v, axis=2, keepdims=True)
        return v * (0.5 * cfg.zone_separation * roi_radius)[None, :, None]

    zone_in, zone_out = zones(), zones()

    # degree-corrected block model: log-normal block rates plus assortative diagonal
    base = np.exp(rng.normal(0.0, 1.2, (k, k)))
    base[np.arange(k), np.arange(k)] *= 3.0
    # a class pair meets only where the axons of one and dendrites of the other share ROIs
    overlap = out_roi @ in_roi.T
    base *= 0.2 + overlap / overlap.mean()
    rate = base / (base * sizes[None, :]).sum(1, keepdims=True) * cfg.out_degree

    nt_main = rng.choice(3, size=k, p=[0.6, 0.2, 0.2])  # ACh, GABA, Glu
    nt_main[CLASS_NAMES.index("DAN")] = 3 if k > CLASS_NAMES.index("DAN") else nt_main[0]
    for name, nt in (("ER", 1), ("hygrosensory", 4), ("thermosensory", 5)):
        if CLASS_NAMES.index(name) < k:
            nt_main[CLASS_NAMES.index(name)] = nt
    purity = rng.uniform(0.8, 0.97, k)
    nt_prob = np.tile(((1 - purity) / 5)[:, None], (1, 6))
    nt_prob[np.arange(k), nt_main] = purity

    # roles: classes 2.. in size order, so that no pair includes the two largest classes
    order = list(range(2, k))
    dependency = {CLASS_NAMES[c]: "both" for c in range(k)}
    geometry_pairs, wiring_pairs = [], []
    for _ in range(cfg.n_geometry_pairs):
        g, h = order.pop(0), order.pop(0)
        rate[h, :] = rate[g, :]
        rate[:, h] = rate[:, g]
        in_roi[h], out_roi[h], nt_prob[h] = in_roi[g], out_roi[g], nt_prob[g]
        geometry_pairs.append((g, h))  # zones differ: only synapse positions separate them
        dependency[CLASS_NAMES[g]] = dependency[CLASS_NAMES[h]] = "synapse"
    for _ in range(cfg.n_wiring_pairs):
        a, b = order.pop(0), order.pop(0)
        x, y = order.pop(-1), order.pop(-1)  # targets: smaller "both" classes
        for arr in (in_roi, out_roi, nt_prob, zone_in, zone_out):
            arr[b] = arr[a]
        in_roi[y], zone_in[y] = in_roi[x], zone_in[x]  # targets share input geometry
        rate[:, b] = rate[:, a]
        # a fraction `wiring_preference` of a's expected partners are in x (b's: in y), the
        # rest keeps a's block-model profile, rescaled so the out-degree is unchanged
        rest = rate[a] * sizes
        rest[[x, y]] = 0.0
        rate[a] = rate[a] * (1.0 - cfg.wiring_preference) * cfg.out_degree / rest.sum()
        rate[b] = rate[a]
        strong, weak = cfg.wiring_preference * cfg.out_degree, 0.01 * cfg.out_degree
        rate[a, x], rate[a, y] = strong / sizes[x], weak / sizes[y]
        rate[b, y], rate[b, x] = strong / sizes[y], weak / sizes[x]
        wiring_pairs.append((a, b, x, y))
        dependency[CLASS_NAMES[a]] = dependency[CLASS_NAMES[b]] = "wiring"
    return _Design(sizes, roi_center, roi_radius, soma_center, in_roi, out_roi, zone_in,
                   zone_out, rate, nt_prob, dependency, geometry_pairs, wiring_pairs)


# --------------------------------------------------------------------------- sampling


def _sample_edges(cfg, rng, d: _Design, cls: np.ndarray, theta_out, theta_in):
    """Degree-corrected SBM: per block, Poisson count, endpoints drawn by propensity.

    Loops over the K x K blocks (<= 256); every block is vectorised.
    """
    k = cfg.n_classes
    n = cfg.n_neurons
    members = [np.flatnonzero(cls == c) for c in range(k)]
    pre_parts, post_parts = [], []
    for c1 in range(k):
        p_out = theta_out[members[c1]] / theta_out[members[c1]].sum()
        for c2 in range(k):
            lam = d.rate[c1, c2] * d.sizes[c1] * d.sizes[c2]
            m = rng.poisson(lam)
            if m == 0:
                continue
            p_in = theta_in[members[c2]] / theta_in[members[c2]].sum()
            pre_parts.append(members[c1][rng.choice(d.sizes[c1], m, p=p_out)])
            post_parts.append(members[c2][rng.choice(d.sizes[c2], m, p=p_in)])
    pre = np.concatenate(pre_parts)
    post = np.concatenate(post_parts)
    key = np.unique(pre.astype(np.int64) * n + post)  # one edge per pair, sorted
    pre, post = key // n, key % n
    keep = pre != post
    return pre[keep], post[keep]


def _categorical(rng, cum: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Sample one category per entry of ``rows`` from the cumulative table ``cum[rows]``.

    Groups by row (<= K*K distinct rows) so the memory stays O(len(rows)).
    """
    out = np.empty(len(rows), dtype=np.int64)
    u = rng.random(len(rows))
    order = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[order], np.arange(cum.shape[0] + 1))
    for g in np.flatnonzero(np.diff(bounds)):
        sel = order[bounds[g]: bounds[g + 1]]
        out[sel] = np.searchsorted(cum[g], u[sel], side="right")
    return np.minimum(out, cum.shape[1] - 1)


def generate(cfg: SyntheticConfig = SyntheticConfig(), *, progress: bool = False) -> Connectome:
    """Generate the synthetic connectome described in the module docstring.

    Args:
        cfg: the settings (see :class:`SyntheticConfig`).
        progress: print stage timings.

    Returns:
        A :class:`~synhelpers.tables.Connectome` whose ``meta`` holds everything
        ``synthetic.json`` records, and whose ``meta["truth"]`` is a DataFrame of the
        noise-free labels (``bodyId, true_cell_class, true_nt``).
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    d = _design(cfg, rng)
    k, r, n = cfg.n_classes, cfg.n_rois, cfg.n_neurons
    cls = rng.permutation(np.repeat(np.arange(k), d.sizes))
    nt_true = _categorical(rng, np.cumsum(d.nt_prob, 1), cls)
    theta_out = rng.lognormal(0.0, 0.95, n)
    theta_in = rng.lognormal(0.0, 1.13, n)

    pre, post = _sample_edges(cfg, rng, d, cls, theta_out, theta_in)
    n_edges = len(pre)
    weight = rng.geometric(1.0 / cfg.mean_synapses_per_connection, n_edges).astype(np.int64)
    if progress:
        print(f"[synth] {n_edges:,} connections in {time.perf_counter() - t0:.1f}s", flush=True)

    # ---- synapses: ROI per connection (mostly one ROI, sometimes a second one)
    pair_roi = d.out_roi[:, None, :] * d.in_roi[None, :, :] + 0.02 * d.out_roi[:, None, :]
    pair_roi /= pair_roi.sum(-1, keepdims=True)
    cum = np.cumsum(pair_roi.reshape(k * k, r), 1)
    edge_block = cls[pre] * k + cls[post]
    edge_roi_main = _categorical(rng, cum, edge_block)
    syn_edge = np.repeat(np.arange(n_edges), weight)
    n_syn = len(syn_edge)
    syn_roi = edge_roi_main[syn_edge]
    other = rng.random(n_syn) < 0.2
    syn_roi[other] = _categorical(rng, cum, edge_block[syn_edge[other]])

    # ---- positions (voxels): ROI centre + class zones + neuron and connection offsets + noise
    c_pre, c_post = cls[pre][syn_edge], cls[post][syn_edge]
    radius = d.roi_radius[syn_roi][:, None]
    neuron_off = rng.normal(0, 0.08, (n, 3))  # in ROI radii
    conn_off = rng.normal(0, 0.10, (n_edges, 3)).astype(np.float32)
    pos_pre = (
        d.roi_center[syn_roi]
        + 0.5 * (d.zone_out[c_pre, syn_roi] + d.zone_in[c_post, syn_roi])
        + radius * (neuron_off[pre[syn_edge]] + conn_off[syn_edge]
                    + rng.normal(0, 0.12, (n_syn, 3)))
    )
    del c_post, conn_off
    direction = rng.normal(size=(n_syn, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    dist = NT_SYNAPSE_DISTANCE[nt_true[pre[syn_edge]]] + rng.normal(0, 3.0, n_syn)
    pos_post = pos_pre + direction * dist[:, None]
    del direction, dist
    lo, hi = np.zeros(3), BOX - 1
    pos_pre = np.clip(np.rint(pos_pre), lo, hi).astype(np.int32)
    pos_post = np.clip(np.rint(pos_post), lo, hi).astype(np.int32)
    conf_pre = (0.5 + 0.5 * rng.beta(5.0, 1.5, n_syn)).astype(np.float32)
    conf_post = (0.5 + 0.5 * rng.beta(4.0, 1.5, n_syn)).astype(np.float32)
    if progress:
        print(f"[synth] {n_syn:,} synaptic pairs in {time.perf_counter() - t0:.1f}s", flush=True)

    # ---- tables
    body_id = _body_ids(rng, n)
    roi_names = np.array(ROI_NAMES[:r], dtype=object)
    roi_cat = pd.Categorical.from_codes(syn_roi, categories=list(ROI_NAMES[:r]))
    synapses = pd.DataFrame({
        "bodyId_pre": body_id[pre[syn_edge]],
        "bodyId_post": body_id[post[syn_edge]],
        "roi_pre": roi_cat,
        "roi_post": roi_cat,
        "x_pre": pos_pre[:, 0], "y_pre": pos_pre[:, 1], "z_pre": pos_pre[:, 2],
        "x_post": pos_post[:, 0], "y_post": pos_post[:, 1], "z_post": pos_post[:, 2],
        "confidence_pre": conf_pre,
        "confidence_post": conf_post,
    })
    del pos_pre, pos_post
    # per-ROI connection rows: count synapses per (edge, roi)
    key = syn_edge * r + syn_roi
    ukey, counts = np.unique(key, return_counts=True)
    connections = pd.DataFrame({
        "bodyId_pre": body_id[pre[ukey // r]],
        "bodyId_post": body_id[post[ukey // r]],
        "roi": roi_names[ukey % r],
        "weight": counts.astype(np.int64),
    })

    neurons, truth = _neurons_table(cfg, rng, d, cls, nt_true, body_id,
                                    np.bincount(pre, weights=weight, minlength=n),
                                    np.bincount(post, weights=weight, minlength=n))
    ceiling = ceiling_of(truth, neurons)
    name = f"synthetic ({n} neurons, seed {cfg.seed})"
    meta = {
        "name": name,
        "generator": "synhelpers.tables.synthetic",
        "config": asdict(cfg),
        "seed": cfg.seed,
        "n_neurons": int(n),
        "n_connections": int(n_edges),
        "n_connection_rows": int(len(connections)),
        "n_synapses": int(n_syn),
        "mean_out_degree": float(n_edges / n),
        "mean_synapses_per_connection": float(weight.mean()),
        "fraction_connections_1_to_3": float((weight <= 3).mean()),
        "voxel_nm": VOXEL_NM,
        "box_voxels": BOX.tolist(),
        "classes": list(CLASS_NAMES[:k]),
        "class_sizes": {CLASS_NAMES[c]: int(s) for c, s in enumerate(d.sizes)},
        "neurotransmitters": list(NEUROTRANSMITTERS),
        "rois": list(ROI_NAMES[:r]),
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
    if progress:
        print(f"[synth] tables in {time.perf_counter() - t0:.1f}s", flush=True)
    return Connectome(neurons, connections, synapses, name=name, meta={**meta, "truth": truth})


def _body_ids(rng, n: int) -> np.ndarray:
    ids = np.unique(rng.integers(200_000_000, 7_000_000_000, size=n + n // 10 + 16))
    ids = rng.permutation(ids)[:n]
    if len(ids) < n:  # pragma: no cover - astronomically unlikely
        raise RuntimeError("could not draw unique body ids")
    return ids.astype(np.int64)


def _neurons_table(cfg, rng, d, cls, nt_true, body_id, n_out, n_in):
    n, k = cfg.n_neurons, cfg.n_classes
    names = np.array(CLASS_NAMES[:k], dtype=object)
    nts = np.array(NEUROTRANSMITTERS, dtype=object)
    # published labels: flipped with probability label_noise to a different class
    flip = rng.random(n) < cfg.label_noise
    published = cls.copy()
    published[flip] = (cls[flip] + rng.integers(1, k, flip.sum())) % k
    cell_class = names[published].astype(object)
    cell_class[rng.random(n) < cfg.unlabelled_fraction] = None
    nt_flip = rng.random(n) < cfg.nt_label_noise
    nt_pub = nt_true.copy()
    nt_pub[nt_flip] = (nt_true[nt_flip] + rng.integers(1, 6, nt_flip.sum())) % 6
    # types: a few morphological types per class (same statistics; not a signal)
    subtype = rng.integers(0, np.maximum(d.sizes[cls] // 12, 1) + 1)
    type_ = np.char.add(np.char.add(names[cls].astype(str), "_"), subtype.astype(str))
    soma = np.rint(np.clip(d.soma_center[cls] + rng.normal(0, 1500, (n, 3)), 0, BOX - 1))
    no_soma = rng.random(n) < 0.2  # some bodies have no annotated soma
    # neuPrint's somaLocation is a list [x, y, z] (voxels), or null
    soma_arr = pa.ListArray.from_arrays(pa.array(np.arange(0, 3 * n + 1, 3, dtype=np.int32)),
                                        pa.array(soma.astype(np.int64).ravel()),
                                        mask=pa.array(no_soma))
    neurons = pd.DataFrame({
        "bodyId": body_id,
        "type": type_.astype(object),
        "instance": np.char.add(type_, "_R").astype(object),
        "status": "Traced",
        "cell_class": cell_class,
        "predictedNt": nts[nt_pub],
        "predictedNtProb": np.round(rng.uniform(0.55, 0.99, n), 3).astype(np.float32),
        "somaLocation": soma_arr.to_pandas(),  # object column of [x, y, z] arrays / None
        "pre": n_out.astype(np.int64),
        "post": n_in.astype(np.int64),
    })
    truth = pd.DataFrame({
        "bodyId": body_id,
        "true_cell_class": names[cls],
        "true_nt": nts[nt_true],
    })
    return neurons, truth


def ceiling_of(truth: pd.DataFrame, neurons: pd.DataFrame) -> dict:
    """Accuracy and macro-F1 of the noise-free labels against the published ones.

    Computed over the neurons whose published label is present. Returns a dict with
    ``ceiling``, ``ceiling_macro_f1``, ``nt_ceiling``, ``nt_ceiling_macro_f1`` (fractions 0..1)
    and ``label_noise_observed``.
    """
    from sklearn.metrics import accuracy_score, f1_score

    m = truth.merge(neurons[["bodyId", "cell_class", "predictedNt"]], on="bodyId")
    lab = m["cell_class"].notna()
    y_pub, y_true = m.loc[lab, "cell_class"].astype(str), m.loc[lab, "true_cell_class"].astype(str)
    acc = accuracy_score(y_pub, y_true)
    f1 = f1_score(y_pub, y_true, average="macro")
    nt_acc = accuracy_score(m["predictedNt"], m["true_nt"])
    nt_f1 = f1_score(m["predictedNt"], m["true_nt"], average="macro")
    return {
        "ceiling": float(acc),
        "ceiling_macro_f1": float(f1),
        "nt_ceiling": float(nt_acc),
        "nt_ceiling_macro_f1": float(nt_f1),
        "label_noise_observed": float(1 - acc),
    }


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
    import json

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


# --------------------------------------------------------------------------- CLI


def register(subparsers) -> None:
    p = subparsers.add_parser("synth", help="generate the embedded synthetic connectome",
                              description=write_synthetic.__doc__)
    p.add_argument("--neurons", type=int, default=2000, help="number of neurons (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--label-noise", type=float, default=SyntheticConfig.label_noise)
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    cfg = SyntheticConfig(n_neurons=args.neurons, seed=args.seed, label_noise=args.label_noise)
    con = write_synthetic(cfg, args.out, progress=True)
    m = con.meta
    print(f"wrote {con.name} to {args.out} in {time.perf_counter() - t0:.1f}s: "
          f"{m['n_connections']:,} connections, {m['n_synapses']:,} synaptic pairs; "
          f"ceiling accuracy {m['ceiling']:.3f}, macro-F1 {m['ceiling_macro_f1']:.3f}")
    return 0

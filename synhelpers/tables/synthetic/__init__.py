"""The embedded synthetic connectome: the default dataset of every notebook and test.

No account and no network are needed. The generator writes the same three tables as a
neuPrint download (:mod:`synhelpers.tables`), calibrated on public hemibrain facts
(``docs/data-contract.md``) and built so that its difficulty is known:

* **Size.** 200 neurons up to hemibrain scale (21,739 neurons, ~3.4M connections, ~13.5M
  synaptic pairs) and on to FlyWire scale (139,255 neurons, ~16.8M connections, ~54M
  synaptic pairs). Mean out-degree grows with size up to the hemibrain's (~30 at 2,000
  neurons, ~155 at 21,739; hemibrain ~163) and then falls to FlyWire's (~120); synapses per
  connection are geometric with mean 4 up to hemibrain size (58 % of connections have 1 to
  3), falling to 3.2 at FlyWire size (see :class:`SyntheticConfig`). Per-neuron degree
  propensities are log-normal (sigma 0.95 out, 1.13 in, matching the hemibrain's mean/median
  ratio of pre- and post-synapse counts), so synapse counts are heavy tailed. Above
  hemibrain size the synapses are drawn and written in chunks of edges (:mod:`.chunked`).
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
    >>> from synhelpers.tables.synthetic import SyntheticConfig, generate
    >>> con = generate(SyntheticConfig(n_neurons=200, seed=0))
    >>> con.name
    'synthetic (200 neurons, seed 0)'
    >>> sorted(con.neurons.columns)[:4]
    ['bodyId', 'cell_class', 'instance', 'post']
"""

from ..._lazy import lazy_exports

_EXPORTS = {
    **{name: ".config" for name in ("SyntheticConfig", "CLASS_NAMES", "ROI_NAMES",
                                   "NEUROTRANSMITTERS", "MAX_NEURONS", "MIN_NEURONS", "VOXEL_NM")},
    **{name: ".generator" for name in ("generate", "write_synthetic", "ensure_synthetic",
                                            "write_individuals", "dataset_name")},
    **{name: ".frames" for name in ("Frame", "draw_frame")},
    "ceiling_of": ".neurons",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

"""Settings and fixed vocabularies of the synthetic connectome (pure Python: cheap to import)."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "SyntheticConfig",
    "CLASS_NAMES",
    "ROI_NAMES",
    "NEUROTRANSMITTERS",
    "NT_SYNAPSE_DISTANCE",
    "BOX",
    "VOXEL_NM",
    "MAX_NEURONS",
    "MIN_NEURONS",
    "HEMIBRAIN_NEURONS",
    "FLYWIRE_NEURONS",
    "FLYWIRE_NOMINAL_DEGREE",
    "FLYWIRE_SYNAPSES_PER_CONNECTION",
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
NT_SYNAPSE_DISTANCE = (22.0, 30.0, 26.0, 38.0, 44.0, 50.0)
#: Hemibrain-like volume (voxels of 8 nm), x, y, z.
BOX = (35_000.0, 40_000.0, 41_000.0)
VOXEL_NM = 8.0
#: Range of ``n_neurons`` the generator accepts (the CLI checks it before any work).
MIN_NEURONS, MAX_NEURONS = 10, 200_000
#: Traced neurons of the hemibrain v1.2.1: the generator's first calibration ends here.
HEMIBRAIN_NEURONS = 21_739
#: Neurons of FlyWire v783 (whole brain): the second calibration point.
FLYWIRE_NEURONS = 139_255
#: Nominal partner draws per neuron at FlyWire size: seed 0 then gives 16.82M distinct
#: connections (120.8 per neuron; FlyWire v783: ~16.8M connections, ~120 per neuron).
FLYWIRE_NOMINAL_DEGREE = 113.7
#: Mean synapses per connection at FlyWire size for the default 4.0 (FlyWire v783: ~54M
#: partner-resolved synapses / ~16.8M connections = 3.2; hemibrain: 14.3M / 3.55M = 4.0).
FLYWIRE_SYNAPSES_PER_CONNECTION = 3.2
_DEFAULT_SYNAPSES_PER_CONNECTION = 4.0


@dataclass(frozen=True)
class SyntheticConfig:
    """Settings of the synthetic connectome. All defaults are the documented benchmark.

    Size calibration (what ``None`` and the defaults mean, see :attr:`out_degree` and
    :attr:`synapses_per_connection`):

    * Up to hemibrain size (:data:`HEMIBRAIN_NEURONS` = 21,739) the nominal degree is
      ``33.7 * (N/2000) ** 0.662``: ~30 distinct partners per neuron at 2,000 neurons and ~155
      at 21,739 (3.38M connections, 13.5M synaptic pairs; hemibrain v1.2.1: 3.55M connections,
      14.3M synaptic pairs, mean out-degree ~163), with 4 synapses per connection.
    * That power law is not extrapolated: it would give ~560 partners per neuron at FlyWire
      size. Above 21,739 neurons both quantities follow power laws in ``N`` from their hemibrain
      values to FlyWire v783's at :data:`FLYWIRE_NEURONS` = 139,255 neurons (~16.8M
      connections, ~120 per neuron; ~54M partner-resolved synaptic pairs, 3.2 per
      connection), and stay there beyond. The nominal degree falls from 163.5 to
      :data:`FLYWIRE_NOMINAL_DEGREE` (113.7; seed 0 gives 16.82M connections and ~54M pairs at
      139,255), and the excess of the mean synapses per connection over 1 shrinks by the
      factor that takes the default 4.0 to :data:`FLYWIRE_SYNAPSES_PER_CONNECTION` (3.2).
    * Nothing changes at or below 21,739 neurons: those datasets are byte-identical to the
      ones the first calibration wrote.

    Attributes:
        n_neurons: number of neurons (10 .. 200,000; 200 .. ~150,000 are the tested sizes).
        seed: RNG seed; the same config gives byte-identical tables.
        n_classes: number of cell classes (2 .. 16).
        n_rois: number of named ROIs (2 .. 36).
        mean_out_degree: nominal partners per neuron before duplicate draws merge; ``None`` =
            the size calibration above (:attr:`out_degree`); a number is used as given.
        mean_synapses_per_connection: mean of the geometric weight distribution (>= 1) up to
            hemibrain size; above it the excess over 1 shrinks with size as described above
            (:attr:`synapses_per_connection`: 3.2 at FlyWire size for the default 4.0).
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
        individual: which individual of the same design (same classes and wiring rules) to
            draw: 0 is the base connectome; others have their own neurons, edges, synapse
            positions, label noise and coordinate frame (see :mod:`.frames`).
        rotate_deg: rotate the individual's frame by up to this many degrees about z.
        mirror: mirror the individual's frame left-right.

    Example:
        >>> SyntheticConfig(n_neurons=500).out_degree > 0
        True
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
    individual: int = 0
    rotate_deg: float = 0.0
    mirror: bool = False

    def __post_init__(self) -> None:
        if not MIN_NEURONS <= self.n_neurons <= MAX_NEURONS:
            raise ValueError(f"n_neurons must be in [{MIN_NEURONS}, {MAX_NEURONS}], "
                             f"got {self.n_neurons}")
        if not 2 <= self.n_classes <= len(CLASS_NAMES):
            raise ValueError(f"n_classes must be in [2, {len(CLASS_NAMES)}], got {self.n_classes}")
        if not 2 <= self.n_rois <= len(ROI_NAMES):
            raise ValueError(f"n_rois must be in [2, {len(ROI_NAMES)}], got {self.n_rois}")
        if 4 * (self.n_geometry_pairs + self.n_wiring_pairs) > self.n_classes:
            raise ValueError("too many geometry/wiring pairs for n_classes "
                             "(each pair uses 2 classes, each wiring pair 2 more as targets)")
        if self.individual < 0 or not 0 <= self.rotate_deg <= 180:
            raise ValueError("individual must be >= 0 and rotate_deg in [0, 180]")
        if self.mean_synapses_per_connection < 1:
            raise ValueError("mean_synapses_per_connection must be >= 1")
        for name in ("label_noise", "nt_label_noise", "unlabelled_fraction"):
            if not 0 <= getattr(self, name) < 0.5:
                raise ValueError(f"{name} must be in [0, 0.5)")

    @property
    def out_degree(self) -> float:
        """Nominal partner draws per neuron (repeated draws of a pair merge into one edge).

        Example:
            >>> round(SyntheticConfig(n_neurons=21_739).out_degree, 1)
            163.5
            >>> SyntheticConfig(n_neurons=FLYWIRE_NEURONS).out_degree
            113.7
        """
        if self.mean_out_degree is not None:
            return float(self.mean_out_degree)
        if self.n_neurons <= HEMIBRAIN_NEURONS:
            # gives ~30 distinct partners at 2,000 neurons and ~155 at 21,739 (hemibrain: ~163)
            return float(min(max(33.7 * (self.n_neurons / 2000.0) ** 0.662, 8.0),
                             self.n_neurons / 4))
        at_hemibrain = 33.7 * (HEMIBRAIN_NEURONS / 2000.0) ** 0.662
        return at_hemibrain * above_hemibrain(self.n_neurons, FLYWIRE_NOMINAL_DEGREE / at_hemibrain)

    @property
    def synapses_per_connection(self) -> float:
        """Mean of the geometric synapse count of a connection (>= 1).

        ``mean_synapses_per_connection`` up to hemibrain size; above it ``1 + (m - 1) * f(N)``,
        with ``f`` falling from 1 at 21,739 neurons to 2.2 / 3 at 139,255 (4.0 -> 3.2).

        Example:
            >>> SyntheticConfig(n_neurons=2000).synapses_per_connection
            4.0
            >>> round(SyntheticConfig(n_neurons=FLYWIRE_NEURONS).synapses_per_connection, 6)
            3.2
        """
        m = float(self.mean_synapses_per_connection)
        if self.n_neurons <= HEMIBRAIN_NEURONS:
            return m
        ratio = (FLYWIRE_SYNAPSES_PER_CONNECTION - 1) / (_DEFAULT_SYNAPSES_PER_CONNECTION - 1)
        return 1.0 + (m - 1.0) * above_hemibrain(self.n_neurons, ratio)


def above_hemibrain(n_neurons: int, ratio_at_flywire: float) -> float:
    """Factor of a size power law: 1 up to hemibrain size, ``ratio_at_flywire`` at FlyWire size
    (log-log interpolation between 21,739 and 139,255 neurons), constant beyond.

    Example:
        >>> above_hemibrain(21_739, 0.5), above_hemibrain(139_255, 0.5), above_hemibrain(200_000, 0.5)
        (1.0, 0.5, 0.5)
    """
    n = min(max(n_neurons, HEMIBRAIN_NEURONS), FLYWIRE_NEURONS)
    t = math.log(n / HEMIBRAIN_NEURONS) / math.log(FLYWIRE_NEURONS / HEMIBRAIN_NEURONS)
    return float(ratio_at_flywire ** t)

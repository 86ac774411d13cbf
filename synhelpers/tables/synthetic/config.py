"""Settings and fixed vocabularies of the synthetic connectome (pure Python: cheap to import)."""

from __future__ import annotations

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


@dataclass(frozen=True)
class SyntheticConfig:
    """Settings of the synthetic connectome. All defaults are the documented benchmark.

    Attributes:
        n_neurons: number of neurons (10 .. 200,000; 200 .. ~150,000 are the tested sizes).
        seed: RNG seed; the same config gives byte-identical tables.
        n_classes: number of cell classes (2 .. 16).
        n_rois: number of named ROIs (2 .. 36).
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
        """Nominal partner draws per neuron (repeated draws of a pair merge into one edge)."""
        if self.mean_out_degree is not None:
            return float(self.mean_out_degree)
        # gives ~30 distinct partners at 2,000 neurons and ~163 at 21,739 (the hemibrain's)
        return float(min(max(33.7 * (self.n_neurons / 2000.0) ** 0.662, 8.0), self.n_neurons / 4))

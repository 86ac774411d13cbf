"""Point-set augmentation in training and test-time augmentation (TTA) in evaluation.

The transforms live in :mod:`synhelpers.augment`; this module wires them into a model's
point-set encoders (:class:`~synhelpers.models.synapse_encoder.SynapseSetEncoder` and
:class:`~synhelpers.models.cloud_encoder.SynapseCloudEncoder`) through the model's ``augment``
argument: a callable ``batch dict -> batch dict`` applied to every padded chunk *before* the
(optionally checkpointed) encoding, so a recomputed chunk sees the same points.

One forward pass = one draw of the global parameters (rotation angle, mirror coin, scale):
:class:`ForwardAugment` draws them in :meth:`~ForwardAugment.begin` and applies them to every
chunk of the synapse sets and of the site clouds, so the whole brain moves as one. Per-point
randomness (jitter, dropout) is drawn per chunk from the same generator.

Frame notes (see :mod:`synhelpers.augment.spatial`): ``mirror_x`` reflects about x = 0 of the
normalised frame, the centre of the synapses' bounding box (the midline only for a centred
whole brain); rotations about the origin move points relative to the (unaugmented) ROI
centres. ``edge_dropout`` changes the graph, not the point sets, and is not available
(it would need the CSR synapse tables re-gathered every step).
"""

from __future__ import annotations

import torch

from ..augment import Compose, get_augmentation, parse_augment_spec, tta_rngs

__all__ = ["ForwardAugment", "point_augmentation", "tta_forward", "length_unit_nm"]

#: Augmentations that act on the graph, not on point sets.
GRAPH_AUGMENTATIONS = ("edge_dropout",)


def length_unit_nm(data) -> float:
    """Nanometres per unit of the graph's normalised frame (the mean over connectomes when a
    union holds several; then 'jitter' is in nm only approximately, within their spread)."""
    if "pos_unit_um" in data:
        return float(data.pos_unit_um.float().mean()) * 1000.0
    return float(data.pos_scale) * float(data.voxel_nm)


def point_augmentation(spec: str | None, data=None) -> Compose | None:
    """The augmentation for ``spec`` (``"none"``/None: None), checked for full-graph training.
    ``data``: the graph, for the length unit of 'jitter' (None: only check the spec).

    Raises:
        ValueError: unknown name or parameter (the message lists the allowed ones), or a
            graph augmentation.

    Example:
        >>> point_augmentation("edge_dropout")
        Traceback (most recent call last):
        ...
        ValueError: --augment 'edge_dropout': ['edge_dropout'] act on the wiring graph ...
    """
    items = parse_augment_spec(spec)
    if not items:
        return None
    graph_level = [n for n, _ in items if n in GRAPH_AUGMENTATIONS]
    if graph_level:
        raise ValueError(f"--augment {spec!r}: {graph_level} act on the wiring graph and are not "
                         "available in full-graph training; use point-set augmentations "
                         "(rotate_*, mirror_*, scale, scale_aniso, jitter, dropout, conf_resample)")
    return get_augmentation(spec, length_unit_nm=1.0 if data is None else length_unit_nm(data))


class ForwardAugment:
    """An augmentation bound to a generator, with one draw of global parameters per forward.

    Example:
        >>> import torch
        >>> from synhelpers.augment import get_augmentation
        >>> fa = ForwardAugment(get_augmentation("rotate_z:theta=90"), torch.Generator().manual_seed(0))
        >>> fa.begin()
        >>> pos = torch.tensor([[[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]])
        >>> out = fa({"pos": pos})  # both sets turn by the same angle
        >>> bool(torch.allclose(out["pos"].norm(dim=-1), torch.ones(2, 1)))
        True
    """

    def __init__(self, augmentation: Compose, generator: torch.Generator):
        self.augmentation = augmentation
        self.generator = generator
        self.params: dict | None = None

    def begin(self) -> None:
        """Draw the global parameters of the next forward pass."""
        self.params = self.augmentation.sample(self.generator)

    def __call__(self, batch: dict) -> dict:
        if self.params is None:
            self.begin()
        return self.augmentation(batch, self.generator, self.params)


def tta_forward(module, data, columns, k: int, spec: str | None, seed: int = 0,
                chunk_size: int | None = None):
    """Softmax probabilities averaged over ``k`` views, and those of view 0 (unaugmented).

    View ``i >= 1`` is augmented with ``spec`` from generator ``tta_rngs(k, seed)[i]``, so the
    views are the same on every call. Each view is one whole-graph evaluation of
    ``module`` (a :class:`~synhelpers.train.module.NodeClassifier`) with every neighbour, in
    one forward (``chunk_size`` None) or layer-wise in chunks. Returns
    ``({column: (N, C)}, {column: (N, C)})`` float32.
    """
    aug = point_augmentation(spec, data) if k > 1 else None
    rngs = tta_rngs(k, seed, device=next(module.parameters()).device)
    total, first = {}, {}
    for i in range(k):  # K whole-graph evaluations
        view = None
        if i:
            view = ForwardAugment(aug, rngs[i])
            view.begin()
        out = module.whole_graph_logits(data, chunk_size, augment=view)
        for c in columns:
            p = out[c].float().softmax(-1)
            total[c] = total[c] + p if c in total else p
            if i == 0:
                first[c] = p
    return {c: total[c] / k for c in columns}, first

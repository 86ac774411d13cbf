"""What every model returns: :class:`ModelOutput`, the fused logits per label column plus the
training-only auxiliary outputs, each in its own typed field (no string keys to parse).

Indexing a ``ModelOutput`` by a label column gives that column's fused logits, so code that
only predicts reads ``out["cell_class"]`` whatever the model; the loss reads :attr:`aux` too.

Example:
    >>> import torch
    >>> out = ModelOutput({"cell_class": torch.zeros(4, 3)},
    ...                   aux={"wiring": {"cell_class": torch.ones(4, 3)}})
    >>> out["cell_class"].shape, list(out), sorted(out.aux)
    (torch.Size([4, 3]), ['cell_class'], ['wiring'])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from torch import Tensor

__all__ = ["ModelOutput"]


@dataclass
class ModelOutput(Mapping):
    """A model's outputs for N nodes.

    Attributes:
        logits: ``{column: (N, C_column)}`` the fused heads' logits (what is predicted).
        aux: ``{view: {column: (N, C_column)}}`` auxiliary heads, present in training only:
            one per view of a fused model (``"wiring"``, ``"synapse"``) and the edge votes
            trained alone (``"edges"``); the loss adds them with ``TrainConfig.aux_weight``.
        votes: ``{column: (N, C_column)}`` the mean log-probability that a neuron's outgoing
            connections give it (``edge_votes``; already added to :attr:`logits`).
    """

    logits: dict[str, Tensor]
    aux: dict[str, dict[str, Tensor]] = field(default_factory=dict)
    votes: dict[str, Tensor] = field(default_factory=dict)

    def __getitem__(self, column: str) -> Tensor:
        return self.logits[column]

    def __iter__(self) -> Iterator[str]:
        return iter(self.logits)

    def __len__(self) -> int:
        return len(self.logits)

"""Settings of the answers stage that the command line needs (pure Python: no torch, so
``python -m synhelpers suggest --help`` stays fast).

The ``suggest`` command and :func:`synhelpers.answers.suggest.suggest` both take their
defaults from :class:`SuggestConfig`, and every strategy check reads :data:`STRATEGIES`, so
each default has one home.

Example:
    >>> SuggestConfig().strategy in STRATEGIES
    True
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STRATEGIES", "SuggestConfig"]

#: Active-learning strategies, "higher score = ask first" (see :mod:`synhelpers.answers.active`).
STRATEGIES = ("margin", "entropy", "bald", "coreset", "random")


@dataclass(frozen=True)
class SuggestConfig:
    """Defaults of ``suggest`` (which unlabelled neurons to annotate next).

    Attributes:
        n: how many neurons to suggest.
        strategy: one of :data:`STRATEGIES`.
        mc_samples: Monte-Carlo dropout passes for ``bald``.
        seed: random seed of ``random``, ``bald`` and ``coreset``.
    """

    n: int = 50
    strategy: str = "margin"
    mc_samples: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; allowed: {', '.join(STRATEGIES)}")
        if self.n < 1 or self.mc_samples < 1 or self.seed < 0:
            raise ValueError("n and mc_samples must be >= 1 and seed >= 0")

"""Active learning in one import: ``synhelpers.active`` (the name the issue uses).

The code lives in the training stage, beside what it trains and scores:

- :mod:`synhelpers.runs.active`: the strategies (``rank_candidates``: margin, entropy, bald,
  coreset, random; ``mc_dropout_probs``) and pool helpers (``initial_labelled``, ``reveal``);
- :mod:`synhelpers.runs.active_loop`: the simulation on a fully labelled connectome
  (``ActiveConfig``, ``simulate``, ``labels_to_reach``);
- :mod:`synhelpers.runs.active_task`: saved, reusable simulations and their figure
  (``run_active``, ``run_active_task``, ``plot_active_curves``);
- :mod:`synhelpers.runs.suggest`: ``suggest``, the table behind ``python -m synhelpers suggest``.

This module only re-exports them (lazily: importing it loads no torch).

Example:
    >>> from synhelpers import active
    >>> active.STRATEGIES
    ('margin', 'entropy', 'bald', 'coreset', 'random')
"""

from ._lazy import lazy_exports

_EXPORTS = {
    **{n: "synhelpers.runs.active" for n in ("STRATEGIES", "rank_candidates", "mc_dropout_probs",
                                             "initial_labelled", "reveal")},
    **{n: "synhelpers.runs.active_loop" for n in ("ActiveConfig", "simulate", "labels_to_reach")},
    **{n: "synhelpers.runs.active_task" for n in ("run_active", "run_active_task",
                                                  "plot_active_curves", "ActiveResult")},
    "suggest": "synhelpers.runs.suggest",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

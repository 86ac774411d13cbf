"""Stage 4, train: one Lightning step for every way of training, the baseline, run folders.

- :mod:`.run`         ``run_training``: N seeds, selection on validation, one test evaluation
- :mod:`.module`      the Lightning module: one loss, one validation, one optimiser set-up
- :mod:`.minibatch`   seed batches with sampled neighbourhoods (full graph = one batch of all)
- :mod:`.losses`      the loss registry (``ce``, ``weighted_ce``, ``focal``, ``logit_adjusted``)
- :mod:`.baseline`    the quick logistic-regression baseline
- :mod:`.metrics`     one definition of accuracy and macro-F1 for every model
- :mod:`.run_folder`  a run folder that cannot be lost; ``.vocab``: what a run was trained on
- :mod:`.config`      ``TrainConfig``, ``BaselineConfig`` (cheap to import)
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": ".config", "BaselineConfig": ".config",
    "run_training": ".run", "load_data": ".run",
    "run_baseline": ".baseline", "fit_quick_baseline": ".baseline",
    "get_loss": ".losses", "list_losses": ".losses", "register_loss": ".losses",
    "classification_metrics": ".metrics", "macro_f1": ".metrics",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

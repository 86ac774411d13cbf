"""Stage 3, runs: training, the baseline, metrics and saved results.

- :mod:`.train`     ``run_training``: N seeds, selection on validation, one test evaluation
- :mod:`.module`    the Lightning module (losses, logging) and data module
- :mod:`.baseline`  the quick logistic-regression baseline
- :mod:`.metrics`   one definition of accuracy and macro-F1 for every model
- :mod:`.ablation`  several models and modes with saved-run reuse (notebooks 03/04)
- :mod:`.results`   load saved runs, mean ± std tables
- :mod:`.config`    ``TrainConfig``, ``BaselineConfig`` (cheap to import)
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": ".config", "BaselineConfig": ".config",
    "run_training": ".train", "load_data": ".train",
    "run_baseline": ".baseline", "fit_quick_baseline": ".baseline",
    "run_ablation": ".ablation", "run_task": ".ablation",
    "load_runs": ".results", "summary_table": ".results",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

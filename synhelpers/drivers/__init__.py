"""Drivers of the numbered notebooks and the run profiles: not the library's core.

Each notebook tells its story and calls one driver, so that a notebook stays thin and two
notebooks that show the same comparison share its code.

- :mod:`.profile`      run profiles: ``default`` (what a person runs) and ``small`` (CI)
- :mod:`.ablation`     ``run_task`` (notebooks 03, 04), ``run_held_out`` (05)
- :mod:`.answers`      ``task_answers``, ``individual_answers`` (06, 07)
- :mod:`.active_task`  ``run_active_task``, ``plot_active_curves`` (08)
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "run_ablation": ".ablation", "run_task": ".ablation", "run_held_out": ".ablation",
    "task_answers": ".answers", "individual_answers": ".answers", "saved_runs": ".answers",
    "run_active": ".active_task", "run_active_task": ".active_task",
    "plot_active_curves": ".active_task",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

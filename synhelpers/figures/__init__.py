"""Stage 6, figures: every plot, drawn from graphs and saved runs (views are beside, in
:mod:`synhelpers.views`).

- :mod:`.save`   ``save_figure`` (PNG + SVG) and ``figure_name`` (kind + parameters)
- :mod:`.graph`  figures of a graph (notebook 02)
- :mod:`.runs`   figures of saved runs (notebooks 00, 03, 04)
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "save_figure": ".save", "figure_name": ".save",
    "make_graph_figures": ".graph", "make_run_figures": ".runs", "task_figures": ".runs",
    **{n: ".graph" for n in ("plot_degree_distributions", "plot_synapses_per_connection",
                             "plot_synapses_3d", "plot_roi_innervation")},
    "plot_ablation": ".runs", "plot_per_class_f1": ".runs", "results_figures": ".results",
    "class_colors": ".colors", "UNKNOWN_COLOR": ".colors",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

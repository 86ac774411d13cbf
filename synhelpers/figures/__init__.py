"""Stage 4, figures: every plot, drawn from graphs and saved runs.

- :mod:`.save`   ``save_figure`` (PNG + SVG) and ``figure_name`` (kind + parameters)
- :mod:`.graph`  figures of a graph (notebook 02)
- :mod:`.runs`   figures of saved runs (notebooks 00, 03, 04)
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "save_figure": ".save", "figure_name": ".save",
    "make_graph_figures": ".graph", "make_run_figures": ".runs", "task_figures": ".runs",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

"""synhelpers: learn neuron representations from a connectome's wiring and its synapse positions.

Stages, each a folder, with files between them (flyvis-style layout):

- ``synhelpers.tables``   tables: the data contract, the synthetic connectome, downloads
- ``synhelpers.graph``    graph: tables -> cached ``torch_geometric.data.Data`` with CSR synapse sets
- ``synhelpers.models``   the encoders (synapse, connectome, fused) and their registry
- ``synhelpers.train``    train: one Lightning step for every mode, the baseline, ``metrics.json``
- ``synhelpers.answers``  answers: load a run; predict, embed, suggest; active learning
- ``synhelpers.figures``  figures: every plot, drawn from graphs and saved runs
- ``synhelpers.views``    beside the figures: Neuroglancer views and navis exports
- ``synhelpers.drivers``  the notebooks' drivers and run profiles (not the library's core)
- ``synhelpers.testing``  local fake servers and small random graphs for tests

Notebooks and scripts use the top-level names below (``synhelpers.run_training``, ...).
Heavy libraries are imported on first use (see :mod:`synhelpers._lazy`).
"""

from ._lazy import lazy_exports

__version__ = "0.2.0"

_EXPORTS = {
    # tables
    **{n: ".tables.contract" for n in ("Connectome", "TableError", "WeightMismatchWarning",
                                       "from_frames", "load_tables", "write_tables")},
    **{n: ".tables.synthetic" for n in ("SyntheticConfig", "generate", "write_synthetic",
                                        "ensure_synthetic", "ceiling_of")},
    **{n: ".tables.download" for n in ("fetch_dataset", "resolve_token", "DownloadError")},
    # graph
    **{n: ".graph" for n in ("GraphConfig", "build_cached", "load_graph", "save_graph",
                             "graph_fingerprint", "load_data")},
    # models
    **{n: ".models" for n in ("ModelConfig", "build_model", "list_models", "TASK_COLUMNS")},
    # train
    **{n: ".train" for n in ("TrainConfig", "BaselineConfig", "run_training", "run_baseline")},
    # answers
    # (a function named like its module is mapped to that module: once imported, the submodule
    # would shadow the package's lazy name)
    "predict": ".answers.predict", "embed": ".answers.embed", "suggest": ".answers.suggest",
    **{n: ".answers" for n in ("load_run", "LoadedRun", "nearest_neighbours", "test_scores",
                               "load_runs", "summary_table", "honesty_checks")},
    # figures and views
    **{n: ".figures" for n in ("save_figure", "figure_name", "make_graph_figures",
                               "make_run_figures", "task_figures", "plot_ablation",
                               "plot_per_class_f1", "results_figures")},
    **{n: ".views" for n in ("write_view", "find_chromium", "load_view", "screenshot_view")},
    # the notebooks' drivers and run profiles
    "profile": ".drivers.profile",
    **{n: ".drivers" for n in ("run_task", "run_held_out", "task_answers", "individual_answers",
                               "run_active_task", "plot_active_curves")},
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
__all__ = [*__all__, "__version__"]

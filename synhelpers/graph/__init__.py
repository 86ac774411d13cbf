"""Stage 2, graph: connectome tables -> a cached ``torch_geometric.data.Data``.

- :mod:`.build`     ``build_graph``: nodes, edges, CSR synapse sets, features, labels, split
- :mod:`.cache`     ``build_cached``, ``save_graph``, ``load_graph``, ``graph_fingerprint``
- :mod:`.union`     ``build_union``: several connectomes in one graph
- :mod:`.views`     ``subgraph``, ``inductive_train_graph``
- :mod:`.features`, :mod:`.labels`, :mod:`.split`, :mod:`.synapses`: the builder's steps
- :mod:`.label_context` the known types of each neuron's partners as features (label trick);
  import ``label_context`` from it (the module has the function's name)
- :mod:`.config`    ``GraphConfig`` (cheap to import)
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "GraphConfig": ".config", "BUILDER_VERSION": ".config", "SPLITS": ".config",
    "build_graph": ".build", "check_finite": ".build",
    "build_cached": ".cache", "save_graph": ".cache", "load_graph": ".cache",
    "graph_fingerprint": ".cache", "load_data": ".cache", "build_union": ".union",
    "subgraph": ".views", "inductive_train_graph": ".views",
    "node_features": ".features", "make_split": ".split", "split_frame": ".split", "with_split": ".split",
    "label_budget": ".split", "apply_label_budget": ".split", "budgeted_split": ".split",
    "label_trick_split": ".label_context",
    "label_trick_context": ".label_context",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

"""Stage 5, answers: what a saved run says about neurons.

- :mod:`.load`     ``load_run``: a run's weights, configs and graph fingerprint, checked
- :mod:`.predict`  ``predict``: per-neuron predictions (``predictions.parquet``)
- :mod:`.embed`    ``embed``: per-neuron representations and nearest neighbours
- :mod:`.suggest`  ``suggest``: which neurons to annotate next
- :mod:`.config`   ``STRATEGIES`` and ``SuggestConfig`` (no torch: the command line reads them)
- :mod:`.active`   active-learning strategies; :mod:`.active_loop` the simulated annotation loop
- :mod:`.results`  saved runs as mean ± std tables

Example:
    >>> from synhelpers import answers
    >>> answers.STRATEGIES
    ('margin', 'entropy', 'bald', 'coreset', 'random')
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "load_run": ".load", "LoadedRun": ".load",
    "predict": ".predict", "write_predictions": ".predict", "test_scores": ".predict",
    "embed": ".embed", "nearest_neighbours": ".embed", "embedding_matrix": ".embed",
    "write_embeddings": ".embed",
    "suggest": ".suggest", "SuggestConfig": ".config", "STRATEGIES": ".config",
    "rank_candidates": ".active", "mc_dropout_probs": ".active",
    "initial_labelled": ".active", "reveal": ".active",
    "ActiveConfig": ".active_loop", "simulate": ".active_loop", "labels_to_reach": ".active_loop",
    "load_runs": ".results", "summary_table": ".results", "honesty_checks": ".results",
    "read_predictions": ".prediction_table",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

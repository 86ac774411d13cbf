"""Test helpers that also serve the notebooks: local fake servers and small random graphs.

- :class:`~synhelpers.testing.fake_neuprint.FakeNeuprintServer`: a local HTTPS server that
  answers the real neuprint-python client (datasets, version, Cypher queries) from small tables.
- :class:`~synhelpers.testing.fake_neuprint.ExportFileServer`: a local HTTP file server for the
  public bulk-export formats, with HTTP Range support and fault injection.
- :func:`~synhelpers.testing.random_graph.make_random_graph`: a small graph with every attribute
  of a built one, for model and training tests.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    **{name: ".fake_neuprint" for name in ("ExportFileServer", "Fault", "FakeDataset",
                                           "FakeNeuprintServer")},
    "make_random_graph": ".random_graph",
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

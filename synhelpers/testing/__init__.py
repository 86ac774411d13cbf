"""Test helpers that also serve the notebooks: local fake servers for offline runs.

- :class:`~synhelpers.testing.fake_neuprint.FakeNeuprintServer`: a local HTTPS server that
  answers the real neuprint-python client (datasets, version, Cypher queries) from small tables.
- :class:`~synhelpers.testing.fake_neuprint.ExportFileServer`: a local HTTP file server for the
  public bulk-export formats, with HTTP Range support and fault injection.
"""

from .fake_neuprint import ExportFileServer, FakeDataset, FakeNeuprintServer, Fault

__all__ = ["ExportFileServer", "Fault", "FakeDataset", "FakeNeuprintServer"]

"""The project's own error types. The CLI prints any of them as one line and exits with 2.

``TableError`` (the data contract) and ``DownloadError`` (downloads) are also
``SynhelpersError``s; their messages name the file, column and rows, or the URL.
"""

from __future__ import annotations

__all__ = ["SynhelpersError", "ConfigError", "GraphError", "RunError", "OutputError"]


class SynhelpersError(Exception):
    """Base class of every error the project raises on purpose (bad input, bad settings)."""


class ConfigError(SynhelpersError, ValueError):
    """A setting or command-line argument is invalid; the message lists the valid choices."""


class GraphError(SynhelpersError, ValueError):
    """A graph cannot be built or loaded (non-finite values, a stale or broken cache, ...)."""


class RunError(SynhelpersError, RuntimeError):
    """A training run cannot start or continue (a model needs a view the data lacks, ...)."""


class OutputError(ConfigError):
    """An output path would overwrite what the tool did not write (the user's files, a folder
    of another kind or purpose), or is malformed (wrong suffix, a folder, a link); the message
    names the path. See :mod:`synhelpers.outputs`."""

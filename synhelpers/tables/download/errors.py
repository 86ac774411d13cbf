"""Download errors: each one prints as a single line and never carries a token.

Every error is a :class:`DownloadError`; the message is scrubbed of any secret registered by
:mod:`synhelpers.tables.download.token` and folded onto one line, so it can be shown as-is in a
terminal, a log or a notebook.
"""

from __future__ import annotations

from ...errors import SynhelpersError
from .scrubbing import scrub

__all__ = [
    "DownloadError",
    "NoTokenError",
    "TokenRejectedError",
    "UnknownDatasetError",
    "ServerUnreachableError",
    "DownloadTimeoutError",
    "ServerError",
    "BadAnswerError",
    "DiskFullError",
    "ExportIntegrityError",
]


class DownloadError(SynhelpersError, RuntimeError):
    """Base class: a download failed; the message is one line, token-free."""

    def __init__(self, message: str):
        super().__init__(" ".join(scrub(str(message)).split()))


class NoTokenError(DownloadError):
    """No neuPrint token was found (argument, environment variable or token file)."""


class TokenRejectedError(DownloadError):
    """The server answered 401 or 403 to the token."""


class UnknownDatasetError(DownloadError):
    """The server does not list the requested dataset.

    Attributes:
        available: the dataset names the server lists.
    """

    def __init__(self, message: str, available: list[str] | None = None):
        self.available = list(available or [])
        super().__init__(message)


class ServerUnreachableError(DownloadError):
    """The server could not be reached, or kept dropping the connection, after the retries."""


class DownloadTimeoutError(DownloadError):
    """Requests kept timing out after the retries."""


class ServerError(DownloadError):
    """The server kept answering 5xx (or another unexpected status) after the retries."""


class BadAnswerError(DownloadError):
    """An answer lacks the expected columns (or cannot be parsed)."""


class DiskFullError(DownloadError):
    """Writing a table failed because the disk is full; nothing partial is left behind."""


class ExportIntegrityError(DownloadError):
    """A downloaded export file has the wrong size or checksum (it was removed)."""

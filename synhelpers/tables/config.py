"""Network settings of the downloads (pure Python: the ``download`` command's ``--help`` reads
its defaults from here without importing pandas or requests).

:func:`synhelpers.tables.download.fetch_dataset`, the neuPrint and export routes, the file
transfer and the ``download`` command all take their defaults from :class:`DownloadConfig`,
so each default has one home.

Example:
    >>> DownloadConfig().retries
    4
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DownloadConfig", "RETRY_STATUS", "MAX_WAIT_S"]

#: HTTP statuses retried with backoff (neuPrint queries and export files alike).
RETRY_STATUS = (500, 502, 503, 504)
#: Longest wait between two attempts, seconds (the backoff doubles up to this).
MAX_WAIT_S = 30.0


@dataclass(frozen=True)
class DownloadConfig:
    """How a download talks to the server.

    Attributes:
        batch_size: bodies per batch (one Parquet part per table per batch; a rerun resumes
            at the first missing batch).
        timeout: seconds per request (connect and each read, requests' meaning).
        retries: extra attempts after the first, for connection errors, timeouts, dropped
            connections and :data:`RETRY_STATUS` answers.
        backoff: first wait after a failure, seconds; attempt ``k`` (from 0) waits
            ``min(MAX_WAIT_S, backoff * 2**k)``.
    """

    batch_size: int = 500
    timeout: float = 60.0
    retries: int = 4
    backoff: float = 0.5

"""Download from a neuPrint server with neuprint-python (``Client``, ``fetch_neurons``,
``fetch_adjacencies``, ``fetch_synapse_connections``), in resumable batches of bodies.

The client sets no request timeout and retries only failed connects, so its HTTP session is
replaced by :class:`RetrySession`: every request gets a timeout, and timeouts, dropped
connections and 5xx answers are retried with exponential backoff. Failures that outlast the
retries become the one-line errors of :mod:`synhelpers.tables.download.errors`.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import requests
from tqdm.auto import tqdm

from ..config import MAX_WAIT_S, RETRY_STATUS, DownloadConfig
from .errors import (
    BadAnswerError,
    DownloadError,
    DownloadTimeoutError,
    NoTokenError,
    ServerError,
    ServerUnreachableError,
    TokenRejectedError,
    UnknownDatasetError,
)
from .token import TOKEN_HELP, Token, scrub

__all__ = ["RetrySession", "connect", "download_neuprint", "DEFAULT_SERVER", "NEURON_COLUMNS"]

log = logging.getLogger(__name__)

DEFAULT_SERVER = "https://neuprint.janelia.org"
_NET = DownloadConfig()  # network defaults (one home: synhelpers.tables.config)

#: Columns each answer must have (else :class:`BadAnswerError`).
NEURON_COLUMNS = ["bodyId"]
CONNECTION_COLUMNS = ["bodyId_pre", "bodyId_post", "roi", "weight"]
SYNAPSE_COLUMNS = ["bodyId_pre", "bodyId_post", "roi_pre", "roi_post", "x_pre", "y_pre", "z_pre",
                   "x_post", "y_post", "z_post", "confidence_pre", "confidence_post"]


class RetrySession(requests.Session):
    """A ``requests.Session`` with a default timeout and retries with exponential backoff.

    Retried: connection errors, timeouts, connections dropped mid-answer
    (``ChunkedEncodingError``) and 500/502/503/504 answers. Attempt ``k`` (from 0) waits
    ``backoff * 2**k`` seconds (at most 30 s) before the next one.

    Attributes:
        timeout: seconds, for connect and for each read (requests' meaning).
        retries: extra attempts after the first.
        backoff: first wait, seconds.
    """

    __attrs__ = [*requests.Session.__attrs__, "timeout", "retries", "backoff"]
    timeout: float = _NET.timeout
    retries: int = _NET.retries
    backoff: float = _NET.backoff

    def request(self, method, url, **kwargs):  # noqa: D102
        kwargs.setdefault("timeout", self.timeout)
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                r = super().request(method, url, **kwargs)
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as e:
                last = e
                log.info("attempt %d of %s failed: %s", attempt + 1, method, type(e).__name__)
            else:
                if r.status_code not in RETRY_STATUS or attempt == self.retries:
                    return r
                log.info("attempt %d of %s answered %d", attempt + 1, method, r.status_code)
            if attempt < self.retries:
                time.sleep(min(MAX_WAIT_S, self.backoff * 2 ** attempt))
        assert last is not None
        raise last


def _classify(e: BaseException, server: str, timeout: float, retries: int) -> DownloadError:
    """Map a requests/neuprint exception to a one-line :class:`DownloadError`."""
    what = f"{server}"
    if isinstance(e, requests.HTTPError) and e.response is not None:
        code = e.response.status_code
        if code in (401, 403):
            return TokenRejectedError(
                f"the neuPrint server {what} rejected the token (HTTP {code}); check that it is "
                f"current and complete ({TOKEN_HELP.split(', then')[0]})")
        detail = ""
        with contextlib.suppress(Exception):
            detail = ": " + str(e.response.json().get("error", ""))[:200]
        return ServerError(f"the neuPrint server {what} answered HTTP {code} after {retries} "
                           f"retries{detail}")
    if isinstance(e, requests.Timeout):
        return DownloadTimeoutError(f"requests to {what} timed out ({timeout:g} s each) "
                                    f"{retries + 1} times in a row; the server is slow or "
                                    "overloaded, rerun later (finished batches are kept) or "
                                    "raise timeout=")
    if isinstance(e, requests.exceptions.SSLError):
        return ServerUnreachableError(f"TLS failure talking to {what}: {type(e).__name__} "
                                      "(for a local test server set REQUESTS_CA_BUNDLE)")
    if isinstance(e, requests.exceptions.ChunkedEncodingError):
        return ServerUnreachableError(f"the connection to {what} kept dropping in the middle "
                                      f"of answers ({retries + 1} attempts); rerun to resume")
    if isinstance(e, requests.ConnectionError):
        return ServerUnreachableError(f"cannot reach the neuPrint server {what} "
                                      f"({retries + 1} attempts): check the address and the network")
    if isinstance(e, KeyError | ValueError | IndexError | TypeError):
        return BadAnswerError(f"unexpected answer from {what}: {type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200] if str(e) else ''} "
                              "(expected columns missing?)")
    return DownloadError(f"download from {what} failed: {type(e).__name__}: "
                         f"{str(e).splitlines()[0][:200] if str(e) else ''}")


@contextlib.contextmanager
def _errors(server: str, timeout: float, retries: int) -> Iterator[None]:
    try:
        yield
    except DownloadError:
        raise
    except (requests.RequestException, KeyError, ValueError, IndexError, TypeError) as e:
        raise _classify(e, server, timeout, retries) from None


def _check_columns(df: pd.DataFrame, needed: list[str], what: str, server: str) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise BadAnswerError(f"the answer of {server} for {what} lacks the expected column(s) "
                             f"{missing} (has {list(df.columns)[:12]})")


def connect(dataset: str, token: Token | None, server: str = DEFAULT_SERVER, *,
            timeout: float = _NET.timeout, retries: int = _NET.retries,
            backoff: float = _NET.backoff):
    """Open a ``neuprint.Client`` for ``dataset`` with timeouts and retries.

    Raises:
        NoTokenError, TokenRejectedError, UnknownDatasetError, ServerUnreachableError,
        DownloadTimeoutError: one line each.
    """
    import neuprint
    import neuprint.client as npc

    if token is None:
        raise NoTokenError(f"no neuPrint token: {TOKEN_HELP}")

    class _Session(RetrySession):
        pass

    _Session.timeout, _Session.retries, _Session.backoff = timeout, retries, backoff
    url = server if "://" in server else "https://" + server
    with _errors(url, timeout, retries), mock.patch.object(npc, "Session", _Session):
        try:
            client = neuprint.Client(url, dataset=dataset, token=token.reveal(), progress=False)
        except RuntimeError as e:
            msg = str(e)
            if "does not exist" in msg or "no datasets" in msg:
                avail = sorted(neuprint.Client.DATASETS_CACHE.get(url.rstrip("/"), {}) or [])
                raise UnknownDatasetError(
                    f"dataset {dataset!r} is not on {url}; available: {', '.join(avail) or 'none'}",
                    available=avail) from None
            raise DownloadError(f"cannot open neuPrint client for {url}: {scrub(msg.splitlines()[0])}") from None
    return client


def describe_criteria(nc) -> str:
    """A stable text for a NeuronCriteria (its own repr fails in neuprint-python 0.6.4)."""
    props = [*getattr(nc, "list_props", []), *getattr(nc, "list_props_regex", [])]
    items = []
    for k in sorted(set(props)):
        v = getattr(nc, k, None)
        if v is not None and len(v):
            items.append(f"{k.rstrip('_')}={list(v)!r}")
    for k in ("label", "regex", "cropped", "min_pre", "min_post", "rois", "roi_req"):
        v = getattr(nc, k, None)
        if v not in (None, False, 0, "Neuron", (), [], set()):
            items.append(f"{k}={sorted(v) if isinstance(v, set) else v!r}")
    return "NeuronCriteria(" + ", ".join(items) + ")"


def _batches(ids: np.ndarray, size: int) -> list[np.ndarray]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def _sort_neurons(df: pd.DataFrame) -> pd.DataFrame:
    drop = [c for c in ("roiInfo", "inputRois", "outputRois") if c in df.columns]
    df = df.drop(columns=drop)
    if "somaLocation" in df.columns:
        df["somaLocation"] = df["somaLocation"].map(
            lambda v: [int(x) for x in v] if isinstance(v, list | tuple | np.ndarray) else None)
    from neuprint.queries.neurons import CORE_NEURON_COLS

    # neuprint-python orders the non-core columns through a set: fix the order
    cols = [c for c in CORE_NEURON_COLS if c in df.columns]
    df = df[cols + sorted(c for c in df.columns if c not in cols)]
    return df.sort_values("bodyId", kind="stable").reset_index(drop=True)


def _criteria(criteria, client) -> tuple[str, Callable[[], object], list[int] | None]:
    """``(description, factory of a fresh NeuronCriteria for the targets, body list or None)``."""
    from neuprint import NeuronCriteria as NC

    if criteria is None:
        return "status='Traced'", lambda: NC(status="Traced", client=client), None
    if isinstance(criteria, NC):
        return describe_criteria(criteria), lambda: copy.copy(criteria), None
    body_list = sorted({int(b) for b in criteria})
    if not body_list:
        raise DownloadError("criteria is an empty list of bodyIds")
    return f"bodyId list ({len(body_list)} bodies)", lambda: NC(bodyId=body_list, client=client), body_list


class _BatchFetcher:
    """Fetch the missing parts of one batch of bodies (neurons, connections, synapses)."""

    def __init__(self, client, target: Callable[[], object], store, synapses: bool,
                 timeout: float, retries: int):
        self.client, self.target, self.store, self.synapses = client, target, store, synapses
        self.url, self.timeout, self.retries = client.server, timeout, retries

    def guard(self):
        return _errors(self.url, self.timeout, self.retries)

    def __call__(self, i: int, batch: np.ndarray, rows: dict[str, int]) -> None:
        from neuprint import NeuronCriteria as NC
        from neuprint import fetch_adjacencies, fetch_neurons, fetch_synapse_connections

        client, store, url = self.client, self.store, self.url
        def src():
            return NC(bodyId=batch.tolist(), client=client)
        if not store.has("neurons", i):
            with self.guard():
                n = fetch_neurons(src(), omit_rois=True, client=client)
            _check_columns(n, NEURON_COLUMNS, f"neurons of batch {i}", url)
            rows["neurons"] += store.write("neurons", i, _sort_neurons(n))
        if not store.has("connections", i):
            with self.guard():
                _, c = fetch_adjacencies(src(), self.target(), properties=[], weight_props=None,
                                         threads=1, client=client)
            _check_columns(c, CONNECTION_COLUMNS, f"connections of batch {i}", url)
            c = c[CONNECTION_COLUMNS].sort_values(["bodyId_pre", "bodyId_post", "roi"], kind="stable")
            rows["connections"] += store.write("connections", i, c)
        if self.synapses and not store.has("synapses", i):
            with self.guard():
                s = fetch_synapse_connections(src(), self.target(), client=client)
            _check_columns(s, SYNAPSE_COLUMNS, f"synapses of batch {i}", url)
            s = s[SYNAPSE_COLUMNS].sort_values(SYNAPSE_COLUMNS[:2] + SYNAPSE_COLUMNS[4:], kind="stable")
            rows["synapses"] += store.write("synapses", i, s)


def _run_batches(fetch: _BatchFetcher, batches: list[np.ndarray], tables: list[str], desc: str,
                 progress: bool) -> None:
    """Fetch every batch whose parts are not all there; the bar shows rows so far."""
    store = fetch.store
    rows = dict.fromkeys(tables, 0)
    with tqdm(total=len(batches), unit="batch", desc=desc, disable=not progress) as bar:
        for i, batch in enumerate(batches):
            done = [t for t in tables if store.has(t, i)]
            for t in done:
                rows[t] += store.rows(t, i)
            if len(done) < len(tables):
                fetch(i, batch, rows)
            bar.update(1)
            bar.set_postfix({t[:3]: f"{r:,}" for t, r in rows.items()}, refresh=False)


def download_neuprint(
    dataset: str, out: Path, token: Token | None, *, criteria=None, synapses: bool = True,
    server: str = DEFAULT_SERVER, batch_size: int = _NET.batch_size, timeout: float = _NET.timeout,
    retries: int = _NET.retries, backoff: float = _NET.backoff, progress: bool = True, store_factory: Callable[[dict], object],
) -> dict:
    """Fetch the parts of a neuPrint download (see :func:`synhelpers.tables.download.fetch_dataset`).

    Returns:
        ``{"store": PartStore, "n_batches": int, "tables": [...], "manifest": {...}}``
    """
    import neuprint
    from neuprint import fetch_neurons

    client = connect(dataset, token, server, timeout=timeout, retries=retries, backoff=backoff)
    url = client.server
    criteria_desc, target, body_list = _criteria(criteria, client)
    plan = {"source": "neuprint", "server": url, "dataset": dataset, "criteria": criteria_desc,
            "synapses": bool(synapses), "batch_size": int(batch_size)}
    if body_list is not None:
        plan["bodies_sha"] = hashlib.sha256(str(body_list).encode()).hexdigest()
    store = store_factory(plan)
    fetch = _BatchFetcher(client, target, store, synapses, timeout, retries)

    def fetch_ids():
        with fetch.guard():
            df = fetch_neurons(target(), omit_rois=True, returned_columns=["bodyId"], client=client)
        _check_columns(df, ["bodyId"], "the body list", url)
        return np.sort(df["bodyId"].to_numpy(np.int64))

    ids = store.bodies(fetch_ids)
    if len(ids) == 0:
        raise DownloadError(f"no neurons on {url} match the criteria {criteria_desc}")
    batches = _batches(ids, batch_size)
    tables = ["neurons", "connections"] + (["synapses"] if synapses else [])
    _run_batches(fetch, batches, tables, f"{dataset} ({len(ids):,} bodies)", progress)
    with fetch.guard():
        version = client.fetch_version()
    manifest = {
        "dataset": dataset, "source": "neuprint", "server": url, "server_version": version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "neuprint_python_version": neuprint.__version__, "criteria": criteria_desc,
        "batch_size": int(batch_size), "n_batches": len(batches),
    }
    return {"store": store, "n_batches": len(batches), "tables": tables, "manifest": manifest}

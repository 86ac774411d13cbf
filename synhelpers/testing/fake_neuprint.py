"""Local fake servers for offline tests and notebooks.

:class:`FakeNeuprintServer` is an HTTPS server on ``127.0.0.1`` (ephemeral port, self-signed
certificate made with ``cryptography``) that answers the real neuprint-python 0.6 client:

- ``GET /api/dbmeta/datasets``: the datasets it serves,
- ``GET /api/version``: ``{"Version": "1.7.0"}`` (below 1.7.3, so the client speaks JSON),
- ``POST /api/custom/custom``: the Cypher that ``fetch_neurons``, ``fetch_adjacencies`` and
  ``fetch_synapse_connections`` send, interpreted just far enough (node filters on
  ``bodyId``/``status``/``type``/``instance``/any property, ``AND``/``OR``/``NOT``, regexes,
  ``WITH [...] as n_search_bodyId`` globals, edge weight and synapse confidence filters).

It answers from small tables in the data contract's layout (:class:`FakeDataset`). Faults
(:class:`Fault`: an HTTP status, a delay, a connection dropped mid-answer) are injected on
the Cypher endpoint after a given number of queries.

:class:`ExportFileServer` is a plain-HTTP file server for the public bulk exports: it honours
``Range`` requests and can truncate an answer or advertise a wrong checksum.

Both run in a background thread and stop when their ``with`` block ends::

    >>> import pandas as pd
    >>> ds = FakeDataset("toy:v1", pd.DataFrame({"bodyId": [1, 2], "status": ["Traced"] * 2}),
    ...                  pd.DataFrame({"bodyId_pre": [1], "bodyId_post": [2], "roi": ["A"], "weight": [3]}))
    >>> with FakeNeuprintServer([ds]) as srv:  # doctest: +SKIP
    ...     os.environ["REQUESTS_CA_BUNDLE"] = str(srv.ca_file)
    ...     Client(srv.url, dataset="toy:v1", token="x")
"""

from __future__ import annotations

import ast
import base64
import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Fault", "FakeDataset", "FakeNeuprintServer", "ExportFileServer", "make_self_signed_cert"]

SERVER_VERSION = "1.7.0"


# --------------------------------------------------------------------------------------------
# certificate
# --------------------------------------------------------------------------------------------

def make_self_signed_cert(folder: str | os.PathLike) -> tuple[Path, Path]:
    """Write a self-signed certificate for ``localhost``/``127.0.0.1`` into ``folder``.

    Returns:
        ``(cert_file, key_file)``; ``cert_file`` doubles as the CA bundle for ``REQUESTS_CA_BUNDLE``.
    """
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = Path(folder)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = _dt.datetime.now(_dt.timezone(_dt.timedelta(0)))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


# --------------------------------------------------------------------------------------------
# faults
# --------------------------------------------------------------------------------------------

@dataclass
class Fault:
    """A fault injected on the Cypher endpoint (``/api/custom/custom``).

    Attributes:
        kind: ``"status"`` (answer ``status`` with ``{"error": message}``), ``"delay"`` (sleep
            ``delay_s`` seconds before answering) or ``"drop"`` (send the headers and half the
            body, then close the connection).
        after: number of Cypher queries answered normally before the fault starts.
        times: number of consecutive queries it affects (``None``: all later ones).
        status, message, delay_s: parameters of the fault.
    """

    kind: str
    after: int = 0
    times: int | None = 1
    status: int = 500
    message: str = "injected fault"
    delay_s: float = 0.0

    def active(self, index: int) -> bool:
        if index < self.after:
            return False
        return self.times is None or index < self.after + self.times


# --------------------------------------------------------------------------------------------
# dataset
# --------------------------------------------------------------------------------------------

_NEURON_EXCLUDE = {"roiInfo"}


class FakeDataset:
    """Tables behind one fake neuPrint dataset.

    Args:
        name: dataset name as the server lists it, e.g. ``"hemibrain:v1.2.1"``.
        neurons: one row per body; ``bodyId`` plus any properties (``type``, ``instance``,
            ``status``, ``class``, ``predictedNt`` ...). ``somaLocation`` may be ``[x, y, z]``,
            ``"x,y,z"`` or missing.
        connections: per-ROI connections ``bodyId_pre, bodyId_post, roi, weight``.
        synapses: optional ``bodyId_pre, bodyId_post, roi_pre, roi_post, x_pre .. z_post,
            confidence_pre, confidence_post``.
        drop_columns: columns to leave out of every Cypher answer (fault injection).
    """

    def __init__(self, name: str, neurons: pd.DataFrame, connections: pd.DataFrame,
                 synapses: pd.DataFrame | None = None, *, drop_columns: set[str] | None = None):
        self.name = name
        self.drop_columns = set(drop_columns or ())
        n = neurons.copy()
        if "status" not in n.columns:
            n["status"] = "Traced"
        n = n.sort_values("bodyId", kind="stable").reset_index(drop=True)
        n["bodyId"] = n["bodyId"].astype(np.int64)
        self.neurons = n
        self._row_of = pd.Series(np.arange(len(n)), index=n["bodyId"].to_numpy())
        c = connections.copy()
        if "roi" not in c.columns:
            c["roi"] = "NotPrimary"
        c = c.sort_values(["bodyId_pre", "bodyId_post", "roi"], kind="stable").reset_index(drop=True)
        self.roi_connections = c
        tot = c.groupby(["bodyId_pre", "bodyId_post"], sort=True)["weight"].sum().reset_index()
        self.edges = tot
        self._edge_pre = tot["bodyId_pre"].to_numpy(np.int64)
        self._edge_post = tot["bodyId_post"].to_numpy(np.int64)
        self._edge_order_post = np.argsort(self._edge_post, kind="stable")
        # per-pair slices into roi_connections (same sort order as edges)
        key = c["bodyId_pre"].to_numpy(np.int64), c["bodyId_post"].to_numpy(np.int64)
        starts = np.flatnonzero(np.r_[True, (np.diff(key[0]) != 0) | (np.diff(key[1]) != 0)])
        self._roi_start = starts
        self._roi_stop = np.r_[starts[1:], len(c)]
        self.rois = sorted(set(c["roi"].dropna()) - {"NotPrimary"})
        if synapses is not None:
            s = synapses.reset_index(drop=True)
            self.synapses = s
            self._syn_pre_order = np.argsort(s["bodyId_pre"].to_numpy(np.int64), kind="stable")
            self._syn_pre_sorted = s["bodyId_pre"].to_numpy(np.int64)[self._syn_pre_order]
            self._syn_post_order = np.argsort(s["bodyId_post"].to_numpy(np.int64), kind="stable")
            self._syn_post_sorted = s["bodyId_post"].to_numpy(np.int64)[self._syn_post_order]
            for side in ("pre", "post"):
                if f"roi_{side}" in s.columns:
                    self.rois = sorted(set(self.rois) | set(s[f"roi_{side}"].dropna()))
        else:
            self.synapses = None
        self._roi_info_cache: dict[int, str] | None = None
        self._cond_cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_connectome(cls, name: str, connectome, **kw) -> FakeDataset:
        """Build from a :class:`synhelpers.tables.Connectome` (e.g. the synthetic one)."""
        return cls(name, connectome.neurons, connectome.connections, connectome.synapses, **kw)

    # -- properties -------------------------------------------------------------------------

    @property
    def neuron_properties(self) -> dict[str, str]:
        props = {c: "string" for c in self.neurons.columns if c not in _NEURON_EXCLUDE}
        props["roiInfo"] = "string"
        return props

    def meta(self) -> dict:
        short = self.name.split(":")[0]
        roi_info = {r: {"pre": 0, "post": 0} for r in self.rois}
        return {
            "dataset": short,
            "tag": self.name.split(":")[-1],
            "primaryRois": list(self.rois),
            "superLevelRois": list(self.rois),
            "roiInfo": json.dumps(roi_info),
            "roiHierarchy": json.dumps({"name": "root", "children": [{"name": r} for r in self.rois]}),
            "neuroglancerInfo": "{}",
            "neuroglancerMeta": "[]",
            "statusDefinitions": "{}",
            "postHighAccuracyThreshold": 0.0,
            "preHPThreshold": 0.0,
            "postHPThreshold": 0.0,
            "totalPreCount": int(self.edges["weight"].sum()),
            "totalPostCount": int(self.edges["weight"].sum()),
            "neuronProperties": json.dumps(self.neuron_properties),
            "ntSynapseProperties": "{}",
        }

    def neuron_roi_info(self, body: int) -> str:
        with self._lock:
            if self._roi_info_cache is None:
                info: dict[int, dict] = {}
                c = self.roi_connections
                c = c[c["roi"] != "NotPrimary"]
                for side, col in (("pre", "bodyId_pre"), ("post", "bodyId_post")):
                    g = c.groupby([col, "roi"])["weight"].sum()
                    for (b, r), w in g.items():
                        info.setdefault(int(b), {}).setdefault(r, {})[side] = int(w)
                self._roi_info_cache = {b: json.dumps(v) for b, v in info.items()}
        return self._roi_info_cache.get(int(body), "{}")

    # -- selection --------------------------------------------------------------------------

    def select(self, var: str, conds: list, globals_: dict) -> np.ndarray | None:
        """Body ids of the neurons matching all of ``conds`` (``None``: no restriction)."""
        if not conds:
            return None
        ids_limit = None
        rest = []
        for c in conds:
            ids = _body_list(c, var, globals_)
            if ids is not None:
                ids_limit = ids if ids_limit is None else np.intersect1d(ids_limit, ids)
            else:
                rest.append(c)
        df = self.neurons
        if ids_limit is not None:
            rows = self._row_of.reindex(ids_limit).dropna().to_numpy(np.int64)
            df = df.iloc[np.sort(rows)]
        if not rest:
            return df["bodyId"].to_numpy(np.int64)
        key = repr(rest) + repr(sorted(globals_.items())) if ids_limit is None else None
        if key is not None and key in self._cond_cache:
            return self._cond_cache[key]
        mask = np.ones(len(df), bool)
        for c in rest:
            mask &= _eval(c, df, var, globals_)
        out = df["bodyId"].to_numpy(np.int64)[mask]
        if key is not None:
            self._cond_cache[key] = out
        return out


# --------------------------------------------------------------------------------------------
# a tiny Cypher WHERE-clause interpreter
# --------------------------------------------------------------------------------------------

_KEYWORDS = re.compile(r"\b(WITH DISTINCT|WITH|WHERE|MATCH|RETURN|ORDER BY|CALL|YIELD|UNWIND|LIMIT)\b")
_ATOM = re.compile(r"(?P<var>[A-Za-z_]\w*)\.(?P<prop>`[^`]+`|\w+)(?:\.(?P<sub>\w+))?")


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Split ``text`` on ``sep`` outside brackets and quotes."""
    out, depth, cur, quote = [], 0, [], None
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [s.strip() for s in out if s.strip()]


def _read_value(s: str, i: int):
    """Read a literal (string, number, list, bool, identifier) at ``s[i:]``; return (value, end)."""
    while i < len(s) and s[i].isspace():
        i += 1
    if i >= len(s):
        raise ValueError("value expected")
    ch = s[i]
    if ch in "'\"":
        j = i + 1
        while j < len(s) and s[j] != ch:
            j += 2 if s[j] == "\\" else 1
        return ast.literal_eval(s[i:j + 1]), j + 1
    if ch == "[":
        depth, j, quote = 0, i, None
        while j < len(s):
            c = s[j]
            if quote:
                if c == quote:
                    quote = None
            elif c in "'\"":
                quote = c
            elif c == "[":
                depth += 1
            elif c == "]":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        text = s[i:j + 1].replace("null", "None").replace("true", "True").replace("false", "False")
        return list(ast.literal_eval(text)), j + 1
    m = re.compile(r"-?\d+(\.\d+)?([eE]-?\d+)?").match(s, i)
    if m:
        return ast.literal_eval(m.group(0)), m.end()
    m = re.compile(r"\w+").match(s, i)
    if m:
        word = m.group(0)
        if word.lower() in ("true", "false"):
            return word.lower() == "true", m.end()
        return ("$var", word), m.end()
    raise ValueError(f"cannot read a value at {s[i:i + 20]!r}")


def _tokenize(s: str) -> list:
    toks, i = [], 0
    ops = ("=~", "<>", ">=", "<=", "=", ">", "<")
    while i < len(s):
        if s[i].isspace():
            i += 1
            continue
        if s[i] in "()":
            toks.append(s[i])
            i += 1
            continue
        m = re.compile(r"(AND|OR|NOT)\b", re.I).match(s, i)
        if m and not re.compile(r"NOT\s+NULL", re.I).match(s, i):
            toks.append(m.group(1).upper())
            i = m.end()
            continue
        m = re.compile(r"exists\s*\(\s*", re.I).match(s, i)
        if m:
            a = _ATOM.match(s, m.end())
            j = s.index(")", a.end()) + 1
            toks.append(("exists", a.group("var"), a.group("prop").strip("`")))
            i = j
            continue
        a = _ATOM.match(s, i)
        if not a:
            raise ValueError(f"cannot parse condition near {s[i:i + 30]!r}")
        var, prop, sub = a.group("var"), a.group("prop").strip("`"), a.group("sub")
        i = a.end()
        while i < len(s) and s[i].isspace():
            i += 1
        rest = s[i:]
        m = re.compile(r"(IS\s+NOT\s+NULL|IS\s+NULL|NOT\s+NULL)", re.I).match(rest)
        if m:
            toks.append(("notnull" if "NOT" in m.group(1).upper() else "isnull", var, prop))
            i += m.end()
            continue
        m = re.compile(r"(in|IN)\b").match(rest)
        op = "in" if m else next((o for o in ops if rest.startswith(o)), None)
        if op is None:
            toks.append(("tag", var, prop))
            continue
        i += len(op) if not m else m.end()
        value, i = _read_value(s, i)
        toks.append(("cmp", var, prop if sub is None else f"{prop}.{sub}", op, value))
    return toks


def _parse_expr(toks: list):
    """Recursive descent: expr := term (OR term)*; term := factor (AND factor)*."""
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else None

    def take():
        pos[0] += 1
        return toks[pos[0] - 1]

    def expr():
        node = term()
        while peek() == "OR":
            take()
            node = ("or", node, term())
        return node

    def term():
        node = factor()
        while peek() == "AND":
            take()
            node = ("and", node, factor())
        return node

    def factor():
        t = take()
        if t == "NOT":
            return ("not", factor())
        if t == "(":
            node = expr()
            take()  # ')'
            return node
        return t

    node = expr()
    return node


def _conjuncts(node) -> list:
    if isinstance(node, tuple) and node and node[0] == "and":
        return _conjuncts(node[1]) + _conjuncts(node[2])
    return [node]


def _vars(node) -> set[str]:
    if not isinstance(node, tuple):
        return set()
    if node[0] in ("and", "or"):
        return _vars(node[1]) | _vars(node[2])
    if node[0] == "not":
        return _vars(node[1])
    return {node[1]}


def _resolve(value, globals_: dict):
    if isinstance(value, tuple) and value and value[0] == "$var":
        return globals_.get(value[1], [])
    return value


def _body_list(cond, var: str, globals_: dict) -> np.ndarray | None:
    """If ``cond`` is ``var.bodyId = x`` or ``var.bodyId in [...]``, the ids; else None."""
    if isinstance(cond, tuple) and cond[0] == "cmp" and cond[2] == "bodyId" and cond[3] in ("=", "in"):
        v = _resolve(cond[4], globals_)
        v = v if isinstance(v, list) else [v]
        return np.unique(np.asarray([x for x in v if x is not None], dtype=np.int64))
    return None


def _column(df: pd.DataFrame, prop: str) -> pd.Series:
    if prop in df.columns:
        return df[prop]
    return pd.Series([None] * len(df), index=df.index, dtype=object)


def _eval(node, df: pd.DataFrame, var: str, globals_: dict) -> np.ndarray:
    """Evaluate a condition tree on the rows of ``df`` (a neurons table); boolean array."""
    kind = node[0]
    if kind == "and":
        return _eval(node[1], df, var, globals_) & _eval(node[2], df, var, globals_)
    if kind == "or":
        return _eval(node[1], df, var, globals_) | _eval(node[2], df, var, globals_)
    if kind == "not":
        return ~_eval(node[1], df, var, globals_)
    col = _column(df, node[2])
    if kind in ("exists", "notnull"):
        return col.notna().to_numpy()
    if kind == "isnull":
        return col.isna().to_numpy()
    if kind == "tag":
        return col.fillna(False).astype(bool).to_numpy()
    _, _, prop, op, value = node
    value = _resolve(value, globals_)
    if op == "in":
        return col.isin(list(value)).to_numpy()
    if op == "=~":
        rx = re.compile(value)
        return np.array([isinstance(x, str) and rx.fullmatch(x) is not None for x in col], bool)
    num = pd.to_numeric(col, errors="coerce") if not isinstance(value, str) else col
    return {
        "=": lambda: (num == value).fillna(False).to_numpy(bool),
        "<>": lambda: (num != value).fillna(False).to_numpy(bool),
        ">=": lambda: (num >= value).fillna(False).to_numpy(bool),
        "<=": lambda: (num <= value).fillna(False).to_numpy(bool),
        ">": lambda: (num > value).fillna(False).to_numpy(bool),
        "<": lambda: (num < value).fillna(False).to_numpy(bool),
    }[op]()


@dataclass
class _Query:
    """A parsed Cypher query: node conditions per variable, global lists, return items."""

    text: str
    conds: dict[str, list] = field(default_factory=dict)
    globals_: dict[str, list] = field(default_factory=dict)
    returns: list[tuple[str, str]] = field(default_factory=list)
    match: str = ""


def _parse_query(cypher: str) -> _Query:
    lines = [ln for ln in cypher.splitlines() if not ln.strip().startswith("//")]
    text = "\n".join(ln.split("//")[0] if "//" in ln and "'" not in ln and '"' not in ln else ln
                     for ln in lines)
    q = _Query(text)
    for m in re.finditer(r"(\[[^\[\]]*\])\s+as\s+(\w+)", text):
        q.globals_[m.group(2)] = _read_value(m.group(1), 0)[0]
    parts = _KEYWORDS.split(text)
    # parts: [pre, KW, body, KW, body, ...]
    for kw, body in zip(parts[1::2], parts[2::2]):
        body = body.strip()
        if kw == "MATCH":
            q.match += " " + body
        elif kw == "WHERE":
            for c in _conjuncts(_parse_expr(_tokenize(body))):
                vs = _vars(c)
                if len(vs) == 1:
                    q.conds.setdefault(vs.pop(), []).append(c)
        elif kw == "RETURN":
            for item in _split_top(body):
                m = re.match(r"(.*?)\s+(?:as|AS)\s+(\w+)\s*$", item, re.S)
                expr, alias = (m.group(1).strip(), m.group(2)) if m else (item.strip(), item.strip())
                q.returns.append((expr, alias))
    return q


# --------------------------------------------------------------------------------------------
# answering queries
# --------------------------------------------------------------------------------------------

def _point(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        value = [int(float(v)) for v in value.split(",")]
    return {"type": "Point", "coordinates": [int(v) for v in list(value)], "crs": {"srid": 9157}}


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, float) and np.isnan(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    return v


def _edge_selection(ds: FakeDataset, pre_ids, post_ids, min_weight: int) -> np.ndarray:
    """Indices into ``ds.edges`` for pre in pre_ids and post in post_ids (None: any)."""
    if pre_ids is not None and (post_ids is None or len(pre_ids) <= len(post_ids)):
        lo = np.searchsorted(ds._edge_pre, pre_ids, "left")
        hi = np.searchsorted(ds._edge_pre, pre_ids, "right")
        idx = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) if len(lo) else np.zeros(0, np.int64)
        if post_ids is not None:
            idx = idx[np.isin(ds._edge_post[idx], post_ids)]
    elif post_ids is not None:
        sorted_post = ds._edge_post[ds._edge_order_post]
        lo = np.searchsorted(sorted_post, post_ids, "left")
        hi = np.searchsorted(sorted_post, post_ids, "right")
        idx = ds._edge_order_post[np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)])] \
            if len(lo) else np.zeros(0, np.int64)
        if pre_ids is not None:
            idx = idx[np.isin(ds._edge_pre[idx], pre_ids)]
    else:
        idx = np.arange(len(ds.edges))
    idx = np.sort(idx.astype(np.int64))
    if min_weight > 1:
        idx = idx[ds.edges["weight"].to_numpy()[idx] >= min_weight]
    return idx


def _min_weight(q: _Query) -> int:
    w = 1
    for c in q.conds.get("e", []):
        if isinstance(c, tuple) and c[0] == "cmp" and c[2] == "weight" and c[3] in (">=", ">"):
            w = max(w, int(c[4]) + (1 if c[3] == ">" else 0))
    return w


def answer_cypher(ds: FakeDataset, cypher: str) -> dict:
    """Answer one Cypher query from neuprint-python with ``{"columns": [...], "data": [...]}``."""
    if "runTimeboxed" in cypher:
        inner = re.search(r'runTimeboxed\("(.*?)",\s*\{', cypher, re.S).group(1).replace('\\"', '"')
        sub = answer_cypher(ds, inner)
        return {"columns": ["count"], "data": [[sub["data"][0][0]]]}
    q = _parse_query(cypher)
    if ":Meta" in q.match:
        return _answer_meta(ds, q)
    if "SynapsesTo" in q.match:
        return _answer_synapses(ds, q)
    if "ConnectsTo" in q.match:
        return _answer_edges(ds, q)
    var = re.search(r"\(\s*(\w+)\s*:", q.match).group(1)
    ids = ds.select(var, q.conds.get(var, []), q.globals_)
    df = ds.neurons if ids is None else ds.neurons.iloc[ds._row_of.reindex(ids).to_numpy(np.int64)]
    if len(q.returns) == 1 and q.returns[0][0].startswith("count("):
        return {"columns": [q.returns[0][1]], "data": [[len(df)]]}
    cols, data_cols = [], []
    for expr, alias in q.returns:
        cols.append(alias)
        prop = expr.split(".", 1)[1].strip("`") if "." in expr else expr
        if prop == "roiInfo":
            data_cols.append([ds.neuron_roi_info(b) for b in df["bodyId"]])
        elif prop == "somaLocation":
            data_cols.append([_point(v) for v in _column(df, prop)])
        else:
            data_cols.append([_plain(v) for v in _column(df, prop)])
    return _finish(ds, cols, [list(r) for r in zip(*data_cols)] if data_cols else [])


def _answer_meta(ds: FakeDataset, q: _Query) -> dict:
    meta = ds.meta()
    cols, row = [], []
    for expr, alias in q.returns:
        cols.append(alias)
        if expr in ("m", "n"):
            row.append({k: v for k, v in meta.items()})
        elif "." in expr:
            row.append(meta.get(expr.split(".", 1)[1]))
        else:  # parsed json fields of fetch_meta
            v = meta.get(alias)
            row.append(json.loads(v) if isinstance(v, str) else v)
    return {"columns": cols, "data": [row]}


def _answer_edges(ds: FakeDataset, q: _Query) -> dict:
    pre = ds.select("n", q.conds.get("n", []), q.globals_)
    post = ds.select("m", q.conds.get("m", []), q.globals_)
    idx = _edge_selection(ds, pre, post, _min_weight(q))
    e = ds.edges.iloc[idx]
    cols, data_cols = [], []
    for expr, alias in q.returns:
        cols.append(alias)
        if expr == "n.bodyId":
            data_cols.append(e["bodyId_pre"].tolist())
        elif expr == "m.bodyId":
            data_cols.append(e["bodyId_post"].tolist())
        elif expr == "e.weight":
            data_cols.append(e["weight"].astype(int).tolist())
        elif expr == "e.roiInfo":
            rc = ds.roi_connections
            infos = []
            for i in idx:
                sl = rc.iloc[ds._roi_start[i]:ds._roi_stop[i]]
                infos.append(json.dumps({r: {"pre": int(w), "post": int(w)}
                                         for r, w in zip(sl["roi"], sl["weight"]) if r != "NotPrimary"}))
            data_cols.append(infos)
        else:  # coalesce(e.weightHP, 0) and friends
            data_cols.append([0] * len(e))
    return _finish(ds, cols, [list(r) for r in zip(*data_cols)])


def _answer_synapses(ds: FakeDataset, q: _Query) -> dict:
    cols = [alias for _, alias in q.returns]
    if ds.synapses is None:
        return {"columns": cols, "data": []}
    pre = ds.select("n", q.conds.get("n", []), q.globals_)
    post = ds.select("m", q.conds.get("m", []), q.globals_)
    if pre is not None and (post is None or len(pre) <= len(post)):
        lo = np.searchsorted(ds._syn_pre_sorted, pre, "left")
        hi = np.searchsorted(ds._syn_pre_sorted, pre, "right")
        rows = ds._syn_pre_order[np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)])] \
            if len(lo) else np.zeros(0, np.int64)
        if post is not None:
            rows = rows[np.isin(ds.synapses["bodyId_post"].to_numpy()[rows], post)]
    elif post is not None:
        lo = np.searchsorted(ds._syn_post_sorted, post, "left")
        hi = np.searchsorted(ds._syn_post_sorted, post, "right")
        rows = ds._syn_post_order[np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)])] \
            if len(lo) else np.zeros(0, np.int64)
        if pre is not None:
            rows = rows[np.isin(ds.synapses["bodyId_pre"].to_numpy()[rows], pre)]
    else:
        rows = np.arange(len(ds.synapses))
    s = ds.synapses.iloc[np.sort(rows)]
    for var, side in (("ns", "pre"), ("ms", "post")):
        for c in q.conds.get(var, []):
            if isinstance(c, tuple) and c[0] == "cmp" and c[2] == "confidence":
                conf = s[f"confidence_{side}"].to_numpy()
                s = s[conf > c[4]] if c[3] == ">" else s[conf >= c[4]]
    if _min_weight(q) > 1:
        w = ds.edges.set_index(["bodyId_pre", "bodyId_post"])["weight"]
        keep = w.reindex(pd.MultiIndex.from_frame(s[["bodyId_pre", "bodyId_post"]])).to_numpy() >= _min_weight(q)
        s = s[keep]
    src = {
        "n.bodyId": "bodyId_pre", "m.bodyId": "bodyId_post",
        "ns.location.x": "x_pre", "ns.location.y": "y_pre", "ns.location.z": "z_pre",
        "ms.location.x": "x_post", "ms.location.y": "y_post", "ms.location.z": "z_post",
        "ns.confidence": "confidence_pre", "ms.confidence": "confidence_post",
    }
    data_cols = []
    for expr, _alias in q.returns:
        if expr in src:
            col = s[src[expr]]
            data_cols.append([round(float(v), 6) for v in col] if "confidence" in expr else col.astype(np.int64).tolist())
        elif expr.startswith("apoc.map.removeKeys(ns"):
            data_cols.append([{} if r is None or (isinstance(r, float)) else {r: True}
                              for r in _column(s, "roi_pre")])
        elif expr.startswith("apoc.map.removeKeys(ms"):
            data_cols.append([{} if r is None or (isinstance(r, float)) else {r: True}
                              for r in _column(s, "roi_post")])
        else:
            data_cols.append([None] * len(s))
    return _finish(ds, cols, [list(r) for r in zip(*data_cols)])


def _finish(ds: FakeDataset, cols: list[str], data: list) -> dict:
    if ds.drop_columns:
        keep = [i for i, c in enumerate(cols) if c not in ds.drop_columns]
        cols = [cols[i] for i in keep]
        data = [[r[i] for i in keep] for r in data]
    return {"columns": cols, "data": data}


# --------------------------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------------------------

class _BackgroundServer:
    """Start/stop a ThreadingHTTPServer in a daemon thread; context manager."""

    httpd: ThreadingHTTPServer

    def _serve(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()

    def stop(self) -> None:
        if getattr(self, "httpd", None) is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self._thread.join(timeout=5)
            self.httpd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "FakeNeuprint/" + SERVER_VERSION

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr log
        return None

    def _send_json(self, status: int, obj, *, drop: bool = False) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if drop:
            self.wfile.write(body[: max(1, len(body) // 2)])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def _authorised(self) -> bool:
        fake: FakeNeuprintServer = self.server.fake  # type: ignore[attr-defined]
        got = self.headers.get("Authorization", "")
        if fake.token is not None and got != f"Bearer {fake.token}":
            self._send_json(401, {"error": "invalid token"})
            return False
        return True

    def do_GET(self):  # noqa: N802
        fake: FakeNeuprintServer = self.server.fake  # type: ignore[attr-defined]
        fake._log("GET", self.path)
        if not self._authorised():
            return
        if self.path.startswith("/api/dbmeta/datasets"):
            self._send_json(200, {name: {"last-mod": "2024-01-01", "uuid": "fake", "ROIs": ds.rois}
                                  for name, ds in fake.datasets.items()})
        elif self.path.startswith("/api/version"):
            self._send_json(200, {"Version": SERVER_VERSION})
        elif self.path.startswith("/api/dbmeta/version"):
            self._send_json(200, {"Version": "4.0"})
        else:
            self._send_json(404, {"error": f"no such endpoint {self.path}"})

    def do_POST(self):  # noqa: N802
        fake: FakeNeuprintServer = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        fake._log("POST", self.path)
        if not self._authorised():
            return
        if not self.path.startswith("/api/custom/custom"):
            self._send_json(404, {"error": f"no such endpoint {self.path}"})
            return
        index = fake._next_query_index()
        drop = False
        for f in fake.faults:
            if f.active(index):
                if f.kind == "status":
                    self._send_json(f.status, {"error": f.message})
                    return
                if f.kind == "delay":
                    time.sleep(f.delay_s)
                elif f.kind == "drop":
                    drop = True
        try:
            body = json.loads(raw)
            ds = fake.datasets[body.get("dataset") or next(iter(fake.datasets))]
            fake.queries.append(body["cypher"]) if fake.record_queries else None
            result = answer_cypher(ds, body["cypher"])
        except Exception as e:  # a bug or an unsupported query: answer like neuPrint does
            self._send_json(400, {"error": f"fake server cannot answer: {type(e).__name__}: {e}"})
            return
        self._send_json(200, result, drop=drop)


class FakeNeuprintServer(_BackgroundServer):
    """A local HTTPS neuPrint look-alike for the real neuprint-python client.

    Args:
        datasets: the datasets it serves (:class:`FakeDataset`).
        token: the only accepted token (``None``: accept any, including none).
        faults: :class:`Fault` list applied to ``/api/custom/custom`` by query index.
        record_queries: keep every Cypher text in :attr:`queries` (for debugging).

    Attributes:
        url: ``https://127.0.0.1:<port>``.
        ca_file: the self-signed certificate; point ``REQUESTS_CA_BUNDLE`` at it.
        requests: ``(method, path)`` of every request received.

    Use as a context manager; :meth:`env` sets ``REQUESTS_CA_BUNDLE`` for the block.
    """

    def __init__(self, datasets: list[FakeDataset], *, token: str | None = None,
                 faults: list[Fault] | None = None, record_queries: bool = False):
        self.datasets = {d.name: d for d in datasets}
        self.token = token
        self.faults = list(faults or [])
        self.record_queries = record_queries
        self.queries: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self._count = 0
        self._count_lock = threading.Lock()
        self._tmp = tempfile.mkdtemp(prefix="fake-neuprint-")
        self.cert_file, key_file = make_self_signed_cert(self._tmp)
        self.ca_file = self.cert_file
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.fake = self  # type: ignore[attr-defined]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, key_file)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._serve()

    def _log(self, method: str, path: str) -> None:
        self.requests.append((method, path))

    def _next_query_index(self) -> int:
        with self._count_lock:
            i = self._count
            self._count += 1
        return i

    @property
    def n_queries(self) -> int:
        """Number of Cypher queries received so far."""
        return self._count

    @contextlib.contextmanager
    def env(self):
        """Set ``REQUESTS_CA_BUNDLE`` to this server's certificate inside the block."""
        old = os.environ.get("REQUESTS_CA_BUNDLE")
        os.environ["REQUESTS_CA_BUNDLE"] = str(self.ca_file)
        try:
            yield self
        finally:
            if old is None:
                os.environ.pop("REQUESTS_CA_BUNDLE", None)
            else:
                os.environ["REQUESTS_CA_BUNDLE"] = old

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self._tmp, ignore_errors=True)


class _FileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002
        return None

    def do_HEAD(self):  # noqa: N802
        self._serve(head=True)

    def do_GET(self):  # noqa: N802
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        srv: ExportFileServer = self.server.files  # type: ignore[attr-defined]
        name = self.path.lstrip("/").split("?")[0]
        srv.requests.append((self.command, name, self.headers.get("Range")))
        data = srv.files.get(name)
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start, status = 0, 200
        rng = self.headers.get("Range")
        if rng and srv.ranges:
            m = re.match(r"bytes=(\d+)-", rng)
            start = int(m.group(1)) if m else 0
            status = 206
            if start >= len(data):  # as Google Cloud Storage: 416 with the file's length
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes" if srv.ranges else "none")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        md5 = srv.md5_override.get(name) or base64.b64encode(hashlib.md5(data).digest()).decode()
        self.send_header("x-goog-hash", f"md5={md5}")
        self.end_headers()
        if head:
            return
        key = (name, "get")
        n_get = srv._gets.get(key, 0)
        srv._gets[key] = n_get + 1
        cut = srv.truncate.get(name)
        if cut is not None and n_get < srv.truncate_times:
            # send only part of the body, then drop the connection (a network failure)
            self.wfile.write(body[: max(0, cut - start)])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


class ExportFileServer(_BackgroundServer):
    """A local HTTP file server for the bulk-export formats (tar.gz of CSVs, feather files).

    Args:
        files: ``{relative path: bytes}``; served under ``http://127.0.0.1:<port>/<path>``.
        ranges: honour ``Range: bytes=N-`` with ``206 Partial Content`` (resume), or ``416``
            with ``Content-Range: bytes */SIZE`` when ``N`` is at or past the end.
        truncate: ``{path: n_bytes}``: the first ``truncate_times`` GETs of that path send
            only up to byte ``n_bytes`` of the file and then drop the connection.
        md5_override: ``{path: base64 md5}`` advertised in ``x-goog-hash`` instead of the real
            one (a bad checksum, as Google Cloud Storage would report it).

    Attributes:
        url: base URL ending in ``/``.
        requests: ``(method, path, Range header)`` of every request.
    """

    def __init__(self, files: dict[str, bytes], *, ranges: bool = True,
                 truncate: dict[str, int] | None = None, truncate_times: int = 1,
                 md5_override: dict[str, str] | None = None):
        self.files = dict(files)
        self.ranges = ranges
        self.truncate = dict(truncate or {})
        self.truncate_times = truncate_times
        self.md5_override = dict(md5_override or {})
        self.requests: list[tuple[str, str, str | None]] = []
        self._gets: dict = {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _FileHandler)
        self.httpd.daemon_threads = True
        self.httpd.files = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._serve()

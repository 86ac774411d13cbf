"""neuPrint download path, end to end through the real neuprint-python client against the
local HTTPS fake server (synhelpers.testing). One test per fault."""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from download_fixtures import (
    MARKED_TOKEN,
    all_text_under,
    expected_traced,
    fake_server,
    fast,
    small_datasets,
    small_tables,
)

from synhelpers.tables import load_tables
from synhelpers.tables.download import (
    BadAnswerError,
    DiskFullError,
    DownloadTimeoutError,
    NoTokenError,
    ServerUnreachableError,
    Token,
    TokenRejectedError,
    UnknownDatasetError,
    fetch_dataset,
)
from synhelpers.tables.download import parts as parts_mod
from synhelpers.testing import FakeDataset, Fault

HB = "hemibrain:v1.2.1"
TABLES = ("neurons.parquet", "connections.parquet", "synapses.parquet")


def read(out: Path) -> dict[str, pd.DataFrame]:
    return {f: pd.read_parquet(Path(out) / f) for f in TABLES if (Path(out) / f).exists()}


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        pd.testing.assert_frame_equal(a[k], b[k], check_like=False)


def assert_nothing_final(out: Path) -> None:
    out = Path(out)
    for f in (*TABLES, "manifest.json"):
        assert not (out / f).exists(), f
    leftovers = [p for p in out.rglob("*.tmp")]
    assert not leftovers, leftovers


def one_line(e: BaseException) -> str:
    s = str(e)
    assert "\n" not in s and s.strip() == s and s
    return s


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """An uninterrupted hemibrain download from the fake server."""
    out = tmp_path_factory.mktemp("baseline")
    with fake_server() as srv:
        fetch_dataset(HB, out, token=MARKED_TOKEN, server=srv.url, **fast())
        n_queries = srv.n_queries
    return {"out": out, "tables": read(out), "n_queries": n_queries}


# ---- the happy path -----------------------------------------------------------------------

def test_download_gives_the_three_tables_and_a_manifest(baseline):
    neurons, conn, syn = small_tables(seed=1)
    traced, c, s = expected_traced(neurons, conn, syn)
    t = baseline["tables"]
    assert sorted(t["neurons.parquet"]["bodyId"]) == sorted(traced)
    got = t["connections.parquet"].sort_values(["bodyId_pre", "bodyId_post", "roi"]).reset_index(drop=True)
    exp = c.sort_values(["bodyId_pre", "bodyId_post", "roi"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[["bodyId_pre", "bodyId_post", "roi", "weight"]], exp, check_dtype=False)
    assert len(t["synapses.parquet"]) == len(s)
    assert t["synapses.parquet"]["x_pre"].dtype == "int32"
    assert {"type", "instance", "status", "somaLocation"} <= set(t["neurons.parquet"].columns)
    m = json.loads((baseline["out"] / "manifest.json").read_text())
    assert m["dataset"] == HB and m["server_version"] == "1.7.0" and m["neuprint_python_version"] == "0.6.4"
    assert m["row_counts"] == {"neurons": len(traced), "connections": len(c), "synapses": len(s)}
    from synhelpers.io import sha256_file
    for table, f in zip(("neurons", "connections", "synapses"), TABLES):
        assert m["sha256"][table] == sha256_file(baseline["out"] / f)
    assert m["created"] and m["server"].startswith("https://127.0.0.1")
    con = load_tables(baseline["out"])  # validates against the data contract
    assert con.name == HB
    assert not (baseline["out"] / ".parts").exists()


def test_manc_labels_come_with_the_neurons(tmp_path):
    with fake_server() as srv:
        fetch_dataset("manc:v1.2.1", tmp_path, token=MARKED_TOKEN, server=srv.url, synapses=False, **fast())
    n = pd.read_parquet(tmp_path / "neurons.parquet")
    neurons, _, _ = small_tables(seed=2, manc=True)
    for col in ("class", "subclass", "predictedNt", "predictedNtProb"):
        assert col in n.columns
        exp = neurons.set_index("bodyId").loc[n["bodyId"], col].tolist()
        assert n[col].tolist() == exp
    assert not (tmp_path / "synapses.parquet").exists()


def test_hemibrain_annotation_join(tmp_path):
    neurons, _, _ = small_tables(seed=1)
    ann = pd.DataFrame({"bodyId": neurons.bodyId[:5], "type": "WRONG", "cell_class": ["CX", "ALPN", None, "DAN", "CX"]})
    f = tmp_path / "meta.csv"
    ann.to_csv(f, index=False)
    with fake_server() as srv:
        fetch_dataset(HB, tmp_path / "o", token=MARKED_TOKEN, server=srv.url, synapses=False,
                      annotations=f, **fast())
    n = pd.read_parquet(tmp_path / "o" / "neurons.parquet").set_index("bodyId")
    assert n.loc[neurons.bodyId[0], "cell_class"] == "CX"
    assert n.loc[neurons.bodyId[1], "cell_class"] == "ALPN"
    assert n.loc[neurons.bodyId[0], "type"] == neurons.type[0]  # neuPrint's type wins
    assert n["cell_class"].isna().sum() == len(n) - 4


def test_annotation_join_reads_the_public_hemibrain_meta_format():
    real = Path(__file__).resolve().parents[2] / "shared" / "data" / "hemibrain_meta.csv"
    if not real.exists():
        pytest.skip("../shared/data/hemibrain_meta.csv not present")
    from synhelpers.tables.download import join_annotations
    head = pd.read_csv(real, nrows=50)
    n = pd.DataFrame({"bodyId": head.bodyId[:10].astype("int64"), "type": "x"})
    j = join_annotations(n, head)
    assert {"cell_class", "morphology_type", "ito_lee_hemilineage"} <= set(j.columns)
    assert (j["type"] == "x").all() and len(j) == 10


def test_subset_by_body_list_and_by_neuron_criteria(tmp_path):
    from neuprint import NeuronCriteria as NC
    neurons, conn, _ = small_tables(seed=1)
    ids = neurons.bodyId[:10].tolist()
    with fake_server() as srv:
        fetch_dataset(HB, tmp_path / "a", token=MARKED_TOKEN, server=srv.url, criteria=ids, **fast())
        a = read(tmp_path / "a")
        assert sorted(a["neurons.parquet"].bodyId) == sorted(ids)
        c = a["connections.parquet"]
        assert c.bodyId_pre.isin(ids).all() and c.bodyId_post.isin(ids).all()
        exp = conn[conn.bodyId_pre.isin(ids) & conn.bodyId_post.isin(ids)]
        assert c.weight.sum() == exp.weight.sum()
        fetch_dataset(HB, tmp_path / "b", token=MARKED_TOKEN, server=srv.url, criteria=NC(type="T1"),
                      synapses=False, **fast())
    b = read(tmp_path / "b")
    assert set(b["neurons.parquet"].type) == {"T1"}
    assert len(b["neurons.parquet"]) == (neurons.type == "T1").sum()


def test_progress_bar_counts_batches_and_rows(tmp_path, capsys):
    import tqdm.auto

    from synhelpers.tables.download import neuprint_source
    assert neuprint_source.tqdm is tqdm.auto.tqdm
    with fake_server() as srv:
        fetch_dataset(HB, tmp_path, token=MARKED_TOKEN, server=srv.url, synapses=False,
                      **fast(progress=True, batch_size=12))
    err = capsys.readouterr().err
    assert "3/3" in err and "batch" in err and "con=" in err


# ---- token --------------------------------------------------------------------------------

def test_token_sources(tmp_path, monkeypatch):
    from synhelpers.tables.download import resolve_token
    monkeypatch.delenv("NEUPRINT_APPLICATION_CREDENTIALS", raising=False)
    assert resolve_token() is None
    monkeypatch.setenv("NEUPRINT_APPLICATION_CREDENTIALS", "from-env")
    assert resolve_token().reveal() == "from-env"
    f = tmp_path / "tok.json"
    f.write_text(json.dumps({"token": "from-file"}))
    assert resolve_token(token_file=f).reveal() == "from-file"
    assert resolve_token("from-arg", token_file=f).reveal() == "from-arg"
    t = Token("secret-value")
    assert "secret-value" not in repr(t) + str(t) + f"{t}" + repr([t])


def test_token_file_and_env_var_work_for_downloads(tmp_path, monkeypatch):
    f = tmp_path / "token.txt"
    f.write_text(MARKED_TOKEN + "\n")
    monkeypatch.delenv("NEUPRINT_APPLICATION_CREDENTIALS", raising=False)
    with fake_server() as srv:
        ids = small_tables(seed=1)[0].bodyId[:20].tolist()
        fetch_dataset(HB, tmp_path / "a", token_file=f, server=srv.url, criteria=ids, synapses=False, **fast())
        monkeypatch.setenv("NEUPRINT_APPLICATION_CREDENTIALS", MARKED_TOKEN)
        fetch_dataset(HB, tmp_path / "b", server=srv.url, criteria=ids, synapses=False, **fast())
    assert (tmp_path / "a" / "manifest.json").exists() and (tmp_path / "b" / "manifest.json").exists()


def test_no_token_says_where_a_token_comes_from(tmp_path, monkeypatch):
    monkeypatch.delenv("NEUPRINT_APPLICATION_CREDENTIALS", raising=False)
    with pytest.raises(NoTokenError) as ei:
        fetch_dataset(HB, tmp_path, **fast())
    msg = one_line(ei.value)
    assert "NEUPRINT_APPLICATION_CREDENTIALS" in msg and "account" in msg and "exports" in msg
    assert_nothing_final(tmp_path)


def test_marked_token_never_leaks(tmp_path, caplog, capsys):
    """Download with a marked token, fail with it too, and search every output for it."""
    caplog.set_level(logging.DEBUG)
    texts = []
    with fake_server() as srv:
        fetch_dataset(HB, tmp_path / "ok", token=MARKED_TOKEN, server=srv.url,
                      **fast(progress=True, keep_parts=True))
    with fake_server(token="another-token") as srv:  # 401 with the marked token
        with pytest.raises(TokenRejectedError) as ei:
            fetch_dataset(HB, tmp_path / "bad", token=MARKED_TOKEN, server=srv.url, **fast())
        texts += [str(ei.value), repr(ei.value)]
    with fake_server(faults=[Fault("status", after=2, times=None, status=500,
                                   message=f"boom Bearer {MARKED_TOKEN}")]) as srv:
        with pytest.raises(Exception) as ei:
            fetch_dataset(HB, tmp_path / "err", token=MARKED_TOKEN, server=srv.url, **fast())
        texts += [str(ei.value), repr(ei.value)]
    texts.append(repr(Token(MARKED_TOKEN)))
    out, err = capsys.readouterr()
    texts += [out, err, caplog.text, all_text_under(tmp_path)]
    assert (tmp_path / "ok" / ".parts").exists()  # parts were searched too
    assert all(MARKED_TOKEN not in t for t in texts)
    assert "another-token" not in "".join(texts)


def test_rejected_token_401(tmp_path):
    with fake_server(token="the-right-one") as srv:
        with pytest.raises(TokenRejectedError) as ei:
            fetch_dataset(HB, tmp_path, token="wrong", server=srv.url, **fast())
    assert "401" in one_line(ei.value)
    assert_nothing_final(tmp_path)


# ---- faults -------------------------------------------------------------------------------

def test_500_then_success(tmp_path, baseline):
    with fake_server(faults=[Fault("status", after=5, times=1, status=500)]) as srv:
        fetch_dataset(HB, tmp_path, token=MARKED_TOKEN, server=srv.url, **fast())
        assert srv.n_queries == baseline["n_queries"] + 1  # the failed query was retried once
    assert_same(read(tmp_path), baseline["tables"])


def test_timeout_outlasting_retries(tmp_path):
    with fake_server(faults=[Fault("delay", after=3, times=None, delay_s=1.5)]) as srv:
        t0 = time.time()
        with pytest.raises(DownloadTimeoutError) as ei:
            fetch_dataset(HB, tmp_path, token=MARKED_TOKEN, server=srv.url, **fast(timeout=0.3, retries=1))
        assert time.time() - t0 < 10
    assert "timed out" in one_line(ei.value)
    assert_nothing_final(tmp_path)


def test_transient_timeout_is_retried(tmp_path, baseline):
    with fake_server(faults=[Fault("delay", after=4, times=1, delay_s=1.0)]) as srv:
        fetch_dataset(HB, tmp_path, token=MARKED_TOKEN, server=srv.url, **fast(timeout=0.4))
    assert_same(read(tmp_path), baseline["tables"])


def test_connection_dropped_mid_batch(tmp_path, baseline):
    with fake_server(faults=[Fault("drop", after=9, times=1)]) as srv:
        fetch_dataset(HB, tmp_path, token=MARKED_TOKEN, server=srv.url, **fast())
    assert_same(read(tmp_path), baseline["tables"])


def test_unknown_dataset_lists_the_available_ones(tmp_path):
    with fake_server() as srv:
        with pytest.raises(UnknownDatasetError) as ei:
            fetch_dataset("flywire:v9", tmp_path, token=MARKED_TOKEN, server=srv.url, **fast())
    msg = one_line(ei.value)
    assert "hemibrain:v1.2.1" in msg and "manc:v1.2.1" in msg
    assert ei.value.available == ["hemibrain:v1.2.1", "manc:v1.2.1"]
    assert_nothing_final(tmp_path)


def test_server_unreachable(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(ServerUnreachableError) as ei:
        fetch_dataset(HB, tmp_path, token=MARKED_TOKEN, server=f"https://127.0.0.1:{port}", **fast())
    assert "cannot reach" in one_line(ei.value)
    assert_nothing_final(tmp_path)


def test_answer_missing_expected_columns(tmp_path):
    with fake_server(datasets=small_datasets(drop_columns={"weight"})) as srv:
        with pytest.raises(BadAnswerError) as ei:
            fetch_dataset(HB, tmp_path, token=MARKED_TOKEN, server=srv.url, **fast())
    assert "weight" in one_line(ei.value)
    assert_nothing_final(tmp_path)


def test_disk_full_leaves_nothing_corrupt_and_resumes(tmp_path, baseline, monkeypatch):
    real = pq.write_table
    calls = {"n": 0}

    def full(table, where, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 5:
            Path(where).write_bytes(b"half a part")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(table, where, *a, **kw)

    monkeypatch.setattr(parts_mod.pq, "write_table", full)
    with fake_server() as srv:
        with pytest.raises(DiskFullError) as ei:
            fetch_dataset(HB, tmp_path, token=MARKED_TOKEN, server=srv.url, **fast())
        assert "disk full" in one_line(ei.value)
        assert_nothing_final(tmp_path)
        for p in (tmp_path / ".parts").rglob("*.parquet"):
            pq.read_table(p)  # every part left is whole
        monkeypatch.setattr(parts_mod.pq, "write_table", real)
        fetch_dataset(HB, tmp_path, token=MARKED_TOKEN, server=srv.url, **fast())
    assert_same(read(tmp_path), baseline["tables"])


KILL_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from download_fixtures import MARKED_TOKEN, fast
from synhelpers.tables.download import fetch_dataset
fetch_dataset({ds!r}, {out!r}, token=MARKED_TOKEN, server={url!r}, **fast())
"""


def test_killed_at_random_batch_then_rerun_is_identical(tmp_path, baseline):
    seed = int.from_bytes(os.urandom(4), "little")
    stop_after = random.Random(seed).randint(1, 10)  # parts written before the kill (15 in all)
    out = tmp_path / "out"
    with fake_server() as srv:
        env = dict(os.environ, REQUESTS_CA_BUNDLE=str(srv.ca_file), PYTHONPATH=str(Path(__file__).parents[1]))
        code = KILL_SCRIPT.format(tests=str(Path(__file__).parent), ds=HB, out=str(out), url=srv.url)
        proc = subprocess.Popen([sys.executable, "-c", code], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while time.time() < deadline and proc.poll() is None:
                if len(list(out.glob(".parts/*/*/part-*.parquet"))) >= stop_after:
                    break
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
        done = len(list(out.glob(".parts/*/*/part-*.parquet")))
        assert done >= 1, f"seed {seed}"
        assert not (out / "synapses.parquet").exists(), f"seed {seed}: killed too late"
        before = srv.n_queries
        fetch_dataset(HB, out, token=MARKED_TOKEN, server=srv.url, **fast())
        rerun_queries = srv.n_queries - before
    assert rerun_queries < baseline["n_queries"], f"seed {seed}: finished parts were not skipped"
    assert_same(read(out), baseline["tables"])


# ---- CLI ----------------------------------------------------------------------------------

def test_cli_download_with_bodies_file(tmp_path, monkeypatch, capsys):
    from synhelpers.cli import main

    ids = small_tables(seed=1)[0].bodyId[:6].tolist()
    (tmp_path / "ids.txt").write_text("# some\n" + "\n".join(map(str, ids)) + "\n")
    (tmp_path / "tok").write_text(MARKED_TOKEN)
    monkeypatch.delenv("NEUPRINT_APPLICATION_CREDENTIALS", raising=False)
    with fake_server() as srv:
        assert main(["download", "--dataset", HB, "--out", str(tmp_path / "o"),
                     "--bodies", str(tmp_path / "ids.txt"), "--token-file", str(tmp_path / "tok"),
                     "--server", srv.url, "--quiet", "--timeout", "5"]) == 0
        assert main(["download", "--dataset", "nope:v1", "--out", str(tmp_path / "p"),
                     "--token-file", str(tmp_path / "tok"), "--server", srv.url, "--quiet"]) == 2
    assert sorted(pd.read_parquet(tmp_path / "o" / "neurons.parquet").bodyId) == sorted(ids)
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "hemibrain:v1.2.1" in err[-1]


def test_fake_server_answers_unknown_queries_with_an_error():
    from neuprint import Client
    with fake_server() as srv:
        c = Client(srv.url, dataset=HB, token=MARKED_TOKEN, progress=False)
        with pytest.raises(Exception, match="fake server cannot answer|400"):
            c.fetch_custom("THIS IS NOT CYPHER")
        df = c.fetch_custom("MATCH (n:Neuron) WHERE n.status = 'Traced' RETURN count(n) as c")
    assert df["c"].iloc[0] == 36
    _ = FakeDataset

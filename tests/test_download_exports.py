"""Token-free path: public bulk exports served by a local HTTP file server."""

from __future__ import annotations

import base64
import hashlib
import json

import pandas as pd
import pytest
from download_fixtures import (
    expected_traced,
    export_server,
    fast,
    hemibrain_export_files,
    manc_export_files,
)

from synhelpers.tables import load_tables
from synhelpers.tables.download import (
    ExportIntegrityError,
    ServerUnreachableError,
    exports,
    fetch_dataset,
)

POINTS = "hemibrain-v1.2-synapse-points-with-body-roi-type-status.feather"


@pytest.fixture(autouse=True)
def _no_token(monkeypatch):
    monkeypatch.delenv("NEUPRINT_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setattr(exports, "CHUNK", 1024)  # small steps so a truncation keeps bytes


def test_hemibrain_exports_to_the_three_tables(tmp_path):
    files, (n, c, s) = hemibrain_export_files()
    traced, ce, se = expected_traced(n, c, s)
    with export_server(files) as srv:
        fetch_dataset("hemibrain:v1.2.1", tmp_path, source="exports", exports_url=srv.url, **fast())
    con = load_tables(tmp_path)
    assert sorted(con.neurons.bodyId) == sorted(traced)
    assert set(con.neurons.columns) >= {"bodyId", "type", "instance", "status"}
    got = con.connections.groupby(["bodyId_pre", "bodyId_post"])["weight"].sum()
    exp = ce.groupby(["bodyId_pre", "bodyId_post"])["weight"].sum()
    pd.testing.assert_series_equal(got, exp, check_dtype=False)
    assert len(con.synapses) == len(se)
    key = ["bodyId_pre", "bodyId_post", "x_pre", "y_pre", "z_pre", "x_post", "y_post", "z_post"]
    a = con.synapses[key].sort_values(key).reset_index(drop=True)
    b = se[key].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["source"] == "exports" and m["export_version"] == "hemibrain v1.2"
    assert m["row_counts"]["synapses"] == len(se)
    assert {r["file"] for r in m["export_files"]} == set(files)


def test_manc_exports_with_labels(tmp_path):
    files, (n, c, s) = manc_export_files()
    traced, ce, _ = expected_traced(n, c, s)
    with export_server(files) as srv:
        fetch_dataset("manc:v1.2.1", tmp_path, source="exports", exports_url=srv.url, **fast())
    con = load_tables(tmp_path)
    assert sorted(con.neurons.bodyId) == sorted(traced)
    for col in ("class", "subclass", "predictedNt", "predictedNtProb"):
        exp = n.set_index("bodyId").loc[con.neurons.bodyId, col].tolist()
        assert con.neurons[col].tolist() == exp
    assert con.connections.weight.sum() == ce.weight.sum()
    assert con.synapses is None
    assert json.loads((tmp_path / "manifest.json").read_text())["export_version"] == "manc v1.0"


def test_truncated_export_resumes_with_http_range(tmp_path):
    files, _ = hemibrain_export_files()
    with export_server(files, truncate={POINTS: 9000}) as srv:
        fetch_dataset("hemibrain:v1.2.1", tmp_path, source="exports", exports_url=srv.url, **fast())
        gets = [r for r in srv.requests if r[1] == POINTS]
    assert gets[0][2] is None and gets[1][2] is not None and gets[1][2].startswith("bytes=")
    assert int(gets[1][2][6:-1]) > 0  # resumed, not restarted
    assert (tmp_path / ".downloads" / POINTS).read_bytes() == files[POINTS]
    assert (tmp_path / "synapses.parquet").exists()


def test_truncated_beyond_retries_leaves_no_table(tmp_path):
    files, _ = hemibrain_export_files()
    with export_server(files, truncate={POINTS: 1000}, truncate_times=100, ranges=False) as srv:
        with pytest.raises(ServerUnreachableError) as ei:
            fetch_dataset("hemibrain:v1.2.1", tmp_path, source="exports", exports_url=srv.url, **fast())
    assert "\n" not in str(ei.value) and "rerun" in str(ei.value)
    assert not (tmp_path / ".downloads" / POINTS).exists()
    assert not any((tmp_path / f).exists() for f in ("neurons.parquet", "connections.parquet", "manifest.json"))


def test_bad_checksum_is_detected_and_the_file_removed(tmp_path):
    files, _ = hemibrain_export_files()
    wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    with export_server(files, md5_override={POINTS: wrong}) as srv:
        with pytest.raises(ExportIntegrityError) as ei:
            fetch_dataset("hemibrain:v1.2.1", tmp_path, source="exports", exports_url=srv.url, **fast())
    assert "checksum" in str(ei.value) and "\n" not in str(ei.value)
    assert not (tmp_path / ".downloads" / POINTS).exists()
    assert not (tmp_path / ".downloads" / (POINTS + ".part")).exists()
    assert not (tmp_path / "neurons.parquet").exists()


def test_known_sha256_mismatch_is_detected(tmp_path):
    files, _ = manc_export_files()
    name = "manc-v1.0-neuron-properties.feather"
    with export_server(files) as srv:
        with pytest.raises(ExportIntegrityError):
            exports.download_file(srv.url + name, tmp_path / name,
                                  spec=exports.ExportFile(name, sha256="0" * 64), progress=False)
        rec = exports.download_file(srv.url + name, tmp_path / name, progress=False,
                                    spec=exports.ExportFile(name, sha256=hashlib.sha256(files[name]).hexdigest()))
    assert rec["size"] == len(files[name])


def test_exports_reject_neuron_criteria(tmp_path):
    from synhelpers.tables.download import DownloadError
    with pytest.raises(DownloadError, match="list of bodyIds"):
        fetch_dataset("hemibrain:v1.2.1", tmp_path, source="exports", criteria=object(), **fast())


def test_export_differences_text_is_documented():
    t = exports.EXPORT_DIFFERENCES
    assert "v1.2" in t and "v1.0" in t and "NotPrimary" in t

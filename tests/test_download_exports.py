"""Token-free path: public bulk exports served by a local HTTP file server."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import tarfile

import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from download_fixtures import (
    HB_TAR,
    HTML_PAGE,
    expected_traced,
    export_server,
    fast,
    feather_bytes,
    hemibrain_export_files,
    hemibrain_tar_with,
    manc_export_files,
    manifest_with,
)

from synhelpers.tables import load_tables
from synhelpers.tables.download import (
    DownloadError,
    ExportIntegrityError,
    ServerUnreachableError,
    exports,
    fetch_dataset,
    transfer,
)
from synhelpers.tables.download.manifest import ExportFile, TarMember, load_manifest, read_manifest
from synhelpers.tables.download.verify import read_tar_members, verify_content

POINTS = "hemibrain-v1.2-synapse-points-with-body-roi-type-status.feather"
PARTNERS = "hemibrain-v1.2-synapse-partners.feather"
HB = "hemibrain:v1.2.1"
LOGGER = "synhelpers.tables.download.transfer"


def bad_copies(out, name):
    return sorted((out / ".downloads").glob(name + ".bad-*"))


@pytest.fixture(autouse=True)
def _no_token(monkeypatch):
    monkeypatch.delenv("NEUPRINT_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setattr(transfer, "CHUNK", 1024)  # small steps so a truncation keeps bytes


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


def test_bad_checksum_is_detected_and_the_file_moved_aside(tmp_path):
    files, _ = hemibrain_export_files()
    wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    with export_server(files, md5_override={POINTS: wrong}) as srv:
        with pytest.raises(ExportIntegrityError) as ei:
            fetch_dataset("hemibrain:v1.2.1", tmp_path, source="exports", exports_url=srv.url, **fast())
    assert "checksum" in str(ei.value) and "\n" not in str(ei.value)
    assert not (tmp_path / ".downloads" / POINTS).exists()
    assert not (tmp_path / ".downloads" / (POINTS + ".part")).exists()
    assert [p.read_bytes() for p in bad_copies(tmp_path, POINTS)] == [files[POINTS]]
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


# ---- files that are not what they claim ------------------------------------------------------

def test_html_page_answered_with_200_is_refused_on_every_run_then_replaced(tmp_path):
    """Regression: a captive portal's page (with a matching length and x-goog-hash) was cached
    as verified, and every rerun then failed with a raw tarfile.ReadError."""
    files, _ = hemibrain_export_files()
    dl = tmp_path / ".downloads"
    with export_server({**files, HB_TAR: HTML_PAGE}) as srv:
        for _run in ("first download", "rerun"):
            with pytest.raises(ExportIntegrityError) as ei:
                fetch_dataset(HB, tmp_path, source="exports", exports_url=srv.url, **fast())
            msg = str(ei.value)
            assert "\n" not in msg and HB_TAR in msg and "HTML page" in msg and "moved aside" in msg
            assert not (dl / HB_TAR).exists() and not (dl / (HB_TAR + ".ok.json")).exists()
            assert [p.read_bytes() for p in bad_copies(tmp_path, HB_TAR)] == [HTML_PAGE]
        assert [r[1] for r in srv.requests].count(HB_TAR) == 2  # the rerun asked again
    with export_server(files) as srv:  # the network is fixed
        fetch_dataset(HB, tmp_path, source="exports", exports_url=srv.url, **fast())
    assert (dl / HB_TAR).read_bytes() == files[HB_TAR]
    assert len(load_tables(tmp_path).neurons) > 0


def _cache_as_an_earlier_version_did(out, name: str, data: bytes) -> None:
    dl = out / ".downloads"
    dl.mkdir(parents=True, exist_ok=True)
    (dl / name).write_bytes(data)
    rec = {"file": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (dl / (name + ".ok.json")).write_text(json.dumps(rec))


def test_html_page_cached_as_verified_earlier_is_moved_aside_and_downloaded_again(tmp_path, caplog):
    files, _ = hemibrain_export_files()
    _cache_as_an_earlier_version_did(tmp_path, HB_TAR, HTML_PAGE)
    with caplog.at_level(logging.WARNING, logger=LOGGER), export_server(files) as srv:
        fetch_dataset(HB, tmp_path, source="exports", exports_url=srv.url, **fast())
    assert (tmp_path / ".downloads" / HB_TAR).read_bytes() == files[HB_TAR]
    assert [p.read_bytes() for p in bad_copies(tmp_path, HB_TAR)] == [HTML_PAGE]
    (warning,) = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert HB_TAR in warning and "moved aside" in warning and "HTML page" in warning
    assert "\n" not in warning
    assert (tmp_path / "neurons.parquet").exists()


def test_error_after_moving_a_cached_copy_aside_says_so(tmp_path):
    files, _ = hemibrain_export_files()
    _cache_as_an_earlier_version_did(tmp_path, HB_TAR, HTML_PAGE)
    with export_server({**files, HB_TAR: HTML_PAGE}) as srv:
        with pytest.raises(ExportIntegrityError) as ei:
            fetch_dataset(HB, tmp_path, source="exports", exports_url=srv.url, **fast())
    msg = str(ei.value)
    assert "\n" not in msg and f"the cached {HB_TAR} failed its check" in msg
    assert len(bad_copies(tmp_path, HB_TAR)) == 1  # only the newest bad copy is kept


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_damaged_cached_tar_is_moved_aside_and_downloaded_again(tmp_path, caplog, damage):
    files, _ = hemibrain_export_files()
    cached = tmp_path / ".downloads" / HB_TAR
    with export_server(files) as srv:
        fetch_dataset(HB, tmp_path, source="exports", exports_url=srv.url, **fast())
    good = cached.read_bytes()
    middle = len(good) // 2
    bad = good[:middle] if damage == "truncated" else \
        good[:middle] + bytes(b ^ 0x5A for b in good[middle:middle + 64]) + good[middle + 64:]
    cached.write_bytes(bad)
    with caplog.at_level(logging.WARNING, logger=LOGGER), export_server(files) as srv:
        fetch_dataset(HB, tmp_path, source="exports", exports_url=srv.url, **fast())
        assert [r[1] for r in srv.requests].count(HB_TAR) == 1
    assert cached.read_bytes() == good
    assert [p.read_bytes() for p in bad_copies(tmp_path, HB_TAR)] == [bad]
    assert any(HB_TAR in r.getMessage() and "moved aside" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("member", "kind", "words"), [
    ((tarfile.SYMTYPE, "/etc/passwd"), "symlink", "symbolic link"),
    ((tarfile.LNKTYPE, "exported-traced-adjacencies-v1.2/README"), "hardlink", "hard link"),
    ((tarfile.DIRTYPE, ""), "directory", "directory"),
])
def test_tar_member_that_is_not_a_regular_file_is_refused(tmp_path, member, kind, words):
    files, _ = hemibrain_export_files()
    tarball = hemibrain_tar_with({"traced-neurons.csv": member})
    with export_server({**files, HB_TAR: tarball}) as srv:
        with pytest.raises(ExportIntegrityError) as ei:
            fetch_dataset(HB, tmp_path, source="exports", exports_url=srv.url, **fast())
    msg = str(ei.value)
    assert HB_TAR in msg and "traced-neurons.csv" in msg and words in msg and "\n" not in msg
    assert not (tmp_path / ".downloads" / HB_TAR).exists()
    # the conversion step reads members with the same checks
    (tmp_path / "t.tar.gz").write_bytes(tarball)
    with pytest.raises(ExportIntegrityError, match=words):
        read_tar_members(tmp_path / "t.tar.gz", exports.EXPORTS["hemibrain"].adjacency[0].members)


def test_tar_member_over_its_size_cap_is_refused(tmp_path):
    files, _ = hemibrain_export_files()
    manifest = manifest_with({}, {"traced-roi-connections.csv": {"max_bytes": 64}})
    with export_server(files) as srv:
        with pytest.raises(ExportIntegrityError) as ei:
            fetch_dataset(HB, tmp_path, source="exports", exports_url=srv.url,
                          export_manifest=manifest, **fast())
    msg = str(ei.value)
    assert HB_TAR in msg and "traced-roi-connections.csv" in msg and "cap of 64 bytes" in msg
    (tmp_path / "t.tar.gz").write_bytes(files[HB_TAR])
    with pytest.raises(ExportIntegrityError, match="cap of 64 bytes"):
        read_tar_members(tmp_path / "t.tar.gz", (TarMember("traced-roi-connections.csv", max_bytes=64),))


def test_feather_missing_an_expected_column_is_refused_with_the_column_named(tmp_path):
    files, _ = hemibrain_export_files()
    partners = pd.read_feather(io.BytesIO(files[PARTNERS])).drop(columns="post_id")
    with export_server({**files, PARTNERS: feather_bytes(partners)}) as srv:
        with pytest.raises(ExportIntegrityError) as ei:
            fetch_dataset(HB, tmp_path, source="exports", exports_url=srv.url, **fast())
    msg = str(ei.value)
    assert PARTNERS in msg and "'post_id' (or 'post')" in msg and "pre_id" in msg
    assert not (tmp_path / ".downloads" / PARTNERS).exists()


def test_manifest_size_and_md5_are_checked_not_only_the_http_answer(tmp_path):
    files, _ = hemibrain_export_files()
    other = hemibrain_export_files(seed=3)[0][HB_TAR]  # a valid tarball, but not the published one
    md5 = base64.b64encode(hashlib.md5(files[HB_TAR]).digest()).decode()
    manifest = manifest_with({HB_TAR: {"md5": md5, "size": len(files[HB_TAR])}})
    with export_server({**files, HB_TAR: other}) as srv:
        with pytest.raises(ExportIntegrityError) as ei:
            fetch_dataset(HB, tmp_path / "a", source="exports", exports_url=srv.url,
                          export_manifest=manifest, **fast())
    assert "export manifest" in str(ei.value) and HB_TAR in str(ei.value)
    with export_server(files) as srv:
        fetch_dataset(HB, tmp_path / "b", source="exports", exports_url=srv.url,
                      export_manifest=manifest, **fast())
    rec = json.loads((tmp_path / "b" / ".downloads" / (HB_TAR + ".ok.json")).read_text())
    assert rec["md5"] == md5 and rec["size"] == len(files[HB_TAR])


def _table_files(tmp_path) -> dict:
    df = pd.DataFrame({"pre_id": [1, 2], "post_id": [3, 4]})
    paths = {k: tmp_path / f"partners.{k}" for k in ("feather", "v1.feather", "parquet", "csv")}
    feather.write_feather(df, paths["feather"])  # V2, LZ4-compressed
    feather.write_feather(df, paths["v1.feather"], version=1)
    pq.write_table(pa.Table.from_pandas(df), paths["parquet"])
    df.to_csv(paths["csv"], index=False)
    return paths


@pytest.mark.filterwarnings("ignore:Feather V1:DeprecationWarning")
@pytest.mark.parametrize("kind", ["feather", "v1.feather", "parquet", "csv"])
def test_content_check_of_each_table_kind(tmp_path, kind):
    path = _table_files(tmp_path)[kind]
    cols = (("pre_id", "pre"), ("post_id", "post"))
    assert verify_content(path, ExportFile(path.name, columns=cols))
    with pytest.raises(ExportIntegrityError, match=r"'weight' \(or 'w'\)") as ei:
        verify_content(path, ExportFile(path.name, columns=(*cols, ("weight", "w"))))
    assert path.name in str(ei.value)
    html = tmp_path / ("page." + kind)
    html.write_bytes(HTML_PAGE)
    with pytest.raises(ExportIntegrityError, match=html.name):
        verify_content(html, ExportFile(html.name, columns=cols))


def test_packaged_manifest_describes_every_export_file():
    sets = load_manifest()
    assert sets == exports.EXPORTS and set(sets) == {"hemibrain", "manc"}
    for es in sets.values():
        for spec in [*es.adjacency, *es.synapse_files, *([es.properties] if es.properties else [])]:
            if spec.file_kind == "tar.gz":
                assert spec.members and all(m.columns and m.max_bytes for m in spec.members)
            else:
                assert spec.columns, spec.name
    for ds in read_manifest()["datasets"].values():
        for f in ds["files"]:  # unknown sizes and checksums stay null, with a note saying so
            assert f["size"] is None or isinstance(f["size"], int)
            if None in (f["size"], f["md5"], f["sha256"]):
                assert "not checked" in f["note"], f["name"]


def test_unknown_file_kind_and_bad_manifest_are_one_line_errors(tmp_path):
    with pytest.raises(DownloadError, match="no content check"):
        ExportFile("notes.txt").file_kind  # noqa: B018
    with pytest.raises(DownloadError, match="malformed") as ei:
        load_manifest({"datasets": {"x": {"files": []}}})
    assert "\n" not in str(ei.value)


@pytest.mark.parametrize("extra", [b"", b"junk past the end"])
def test_part_left_whole_or_too_long_is_finished_by_a_416_answer(tmp_path, extra):
    """A crash after the last byte leaves a whole ``.part``: the resumed request is answered
    416, and the part is checked (not downloaded again); a part longer than the file restarts."""
    files, _ = manc_export_files()
    name = "manc-v1.0-neuron-properties.feather"
    (tmp_path / (name + ".part")).write_bytes(files[name] + extra)
    with export_server(files) as srv:
        rec = exports.download_file(srv.url + name, tmp_path / name, progress=False, backoff=0.01)
        ranges = [r[2] for r in srv.requests if r[1] == name]
    assert rec["size"] == len(files[name]) and (tmp_path / name).read_bytes() == files[name]
    assert ranges == ([f"bytes={len(files[name])}-"] if not extra
                      else [f"bytes={len(files[name] + extra)}-", None])


def test_unusable_export_url_is_a_one_line_error_naming_it(tmp_path):
    with pytest.raises(DownloadError) as ei:
        fetch_dataset(HB, tmp_path, source="exports", exports_url="gopher://example.invalid/x/", **fast())
    assert "gopher://example.invalid/x/" + HB_TAR in str(ei.value) and "\n" not in str(ei.value)

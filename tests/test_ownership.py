"""Never overwrite what the tool did not write (issue 21): the ownership guard of
:mod:`synhelpers.outputs`, and its use by ``synth --out``, ``download --out`` and
``build --out``; half-written tables never pass as whole ones."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from synhelpers import TableError, from_frames, load_tables, write_tables
from synhelpers.cli import main
from synhelpers.errors import OutputError
from synhelpers.outputs import (
    MARKER,
    check_complete,
    check_output_file,
    claim_folder,
    owned_files,
    read_marker,
    record_file,
    remove_owned,
    writing,
)
from synhelpers.tables.synthetic import SyntheticConfig, write_synthetic

SMALL = SyntheticConfig(n_neurons=200, seed=3)


def digests(root: Path) -> dict[str, str]:
    """Every file under ``root`` (the marker too) -> SHA-256 of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def user_tables(folder: Path) -> Path:
    """The user's own connectome, written with write_tables (no marker, no sidecar)."""
    n = pd.DataFrame({"bodyId": [1, 2, 3], "cell_class": ["A", "B", "A"]})
    c = pd.DataFrame({"bodyId_pre": [1, 2], "bodyId_post": [2, 3], "weight": [4, 1]})
    write_tables(from_frames(n, c, name="mine"), folder)
    return folder


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# --------------------------------------------------------------------------- the guard itself


def test_claim_folder_new_empty_and_own(tmp_path):
    claim_folder(tmp_path / "new", "graph")
    assert read_marker(tmp_path / "new").kind == "graph"
    (tmp_path / "empty").mkdir()
    claim_folder(tmp_path / "empty", "tables", purpose="synthetic")
    claim_folder(tmp_path / "empty", "tables", purpose="synthetic")  # again: its own folder
    claim_folder(tmp_path / "empty", "tables")  # no purpose asked: any tables folder


@pytest.mark.parametrize("setup, kind, purpose, text", [
    (lambda d: (d / "notes.txt").write_text("mine"), "graph", None, "did not write (notes.txt)"),
    (lambda d: claim_folder(d, "run"), "graph", None, "is a run folder, not a graph folder"),
    (lambda d: claim_folder(d, "tables", purpose="synthetic"), "tables", "download manc:v1.2.1",
     "(synthetic), not a tables folder (download manc:v1.2.1)"),
    (lambda d: (d / "metrics.json").write_text("{}"), "graph", None, "is a run folder"),
])
def test_claim_folder_refuses_in_one_line(tmp_path, setup, kind, purpose, text):
    d = tmp_path / "out"
    d.mkdir()
    setup(d)
    before = digests(d)
    with pytest.raises(OutputError, match="choose another --out") as e:
        claim_folder(d, kind, purpose=purpose)
    assert text in str(e.value) and str(e.value).startswith(str(d)) and "\n" not in str(e.value)
    assert digests(d) == before


def test_one_baseline_never_replaces_another_label_or_a_training_run(tmp_path):
    d = tmp_path / "baseline"
    claim_folder(d, "run", purpose="baseline cell_class")
    for other in ("baseline predictedNt", "train"):
        with pytest.raises(OutputError, match=rf"\(baseline cell_class\), not a run folder \({other}\)"):
            claim_folder(d, "run", purpose=other)
    claim_folder(d, "run", purpose="baseline cell_class")


def test_check_output_file_refuses_a_link(tmp_path):
    (tmp_path / "p.parquet").symlink_to(tmp_path / "nowhere.parquet")
    with pytest.raises(OutputError, match="a link"):
        check_output_file(tmp_path / "p.parquet", (".parquet",), "predictions")


def test_claim_folder_refuses_a_file_and_a_dangling_link(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="a file, not a folder"):
        claim_folder(tmp_path / "f", "graph")
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputError, match="a link to nothing"):
        claim_folder(tmp_path / "link", "graph")


def test_unreadable_marker_protects_the_folder(tmp_path):
    (tmp_path / MARKER).write_text("{not json")
    (tmp_path / "x.parquet").write_text("x")
    with pytest.raises(OutputError, match="not a readable synhelpers marker"):
        claim_folder(tmp_path, "tables")
    with pytest.raises(OutputError):
        remove_owned(tmp_path, "tables")
    assert (tmp_path / "x.parquet").exists()


def test_legacy_folders_are_adopted(tmp_path):
    """Folders the tool wrote before markers existed stay writable by the same command."""
    d = tmp_path / "syn"
    d.mkdir()
    (d / "synthetic.json").write_text("{}")
    (d / "neurons.parquet").write_text("x")
    (d / "own.txt").write_text("x")
    claim_folder(d, "tables", purpose="synthetic")
    m = read_marker(d)
    assert m.purpose == "synthetic" and set(m.files) == {"synthetic.json", "neurons.parquet"}
    dl = tmp_path / "dl"
    dl.mkdir()
    (dl / "manifest.json").write_text(json.dumps({"name": "manc:v1.2.1"}))
    with pytest.raises(OutputError, match=r"\(download manc:v1.2.1\)"):
        claim_folder(dl, "tables", purpose="download hemibrain:v1.2.1")


@pytest.mark.parametrize("name, suffixes, text", [
    ("p.csv", (".parquet",), "must end in .parquet"),
    ("", (".parquet",), "--out is empty"),
    ("sub", (".parquet",), "a folder"),
])
def test_check_output_file_suffix_folder_empty(tmp_path, name, suffixes, text):
    (tmp_path / "sub").mkdir()
    with pytest.raises(OutputError, match=text):
        check_output_file(tmp_path / name if name else "", suffixes, "predictions")


def test_check_output_file_never_overwrites_what_it_did_not_write(tmp_path, graph_dir):
    tables = user_tables(tmp_path / "tables")
    before = digests(tables)
    for name in ("neurons.parquet", "synapses.parquet"):  # existing, and reserved but absent
        with pytest.raises(OutputError, match=f"{name}"):
            check_output_file(tables / name, (".parquet",), "predictions")
    with pytest.raises(OutputError, match="belongs to a graph folder"):
        check_output_file(graph_dir / "split.parquet", (".parquet",), "predictions")
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text("{}")
    with pytest.raises(OutputError, match="belongs to a run folder"):
        check_output_file(run / "metrics.json", (".json",), "suggestions")
    (tmp_path / "mine.parquet").write_text("user data")
    with pytest.raises(OutputError, match="was not written by synhelpers as a predictions file"):
        check_output_file(tmp_path / "mine.parquet", (".parquet",), "predictions")
    assert digests(tables) == before
    # a file the tool wrote for this purpose may be written again; for another, not
    f = check_output_file(tmp_path / "p.parquet", (".parquet",), "predictions")
    f.write_text("p")
    record_file(f, "predictions")
    assert check_output_file(f, (".parquet",), "predictions") == f
    with pytest.raises(OutputError):
        check_output_file(f, (".parquet",), "embeddings")


def test_remove_owned_removes_only_recorded_files(tmp_path):
    d = tmp_path / "run"
    with writing(d, "run") as rec:
        (d / "metrics.json").write_text("{}")
        (d / "ckpt").mkdir()
        (d / "ckpt" / "a.ckpt").write_text("w")
        rec.add("metrics.json"), rec.add("ckpt"), rec.add("../outside.txt")
    (tmp_path / "outside.txt").write_text("user")
    (d / "notes.txt").write_text("user")
    assert owned_files(d) == [d / "ckpt", d / "metrics.json"]  # ../outside.txt is not followed
    removed = remove_owned(d, "run")
    assert sorted(removed) == [d / "ckpt", d / "metrics.json"]
    assert (d / "notes.txt").exists() and (tmp_path / "outside.txt").exists()
    user = user_tables(tmp_path / "tables")
    before = digests(user)
    with pytest.raises(OutputError):  # --overwrite on a folder that holds no run
        remove_owned(user, "run")
    assert digests(user) == before


def test_writing_interrupted_leaves_an_incomplete_folder(tmp_path):
    d = tmp_path / "t"
    with pytest.raises(RuntimeError), writing(d, "tables", writer="synth --out t"):
        raise RuntimeError("killed")
    with pytest.raises(OutputError, match="interrupted.*rerun `synth --out t`"):
        check_complete(d)


# --------------------------------------------------------------------------- synth --out


def test_synth_refuses_the_users_own_tables(tmp_path, capsys):
    tables = user_tables(tmp_path / "mine")
    before = digests(tables)
    assert main(["synth", "--neurons", "200", "--out", str(tables), "--quiet"]) == 2
    line = one_error_line(capsys)
    assert str(tables) in line and "did not write" in line
    assert digests(tables) == before


def test_synth_refuses_a_download_and_a_graph_folder(tmp_path, capsys, graph_dir):
    dl = tmp_path / "dl"
    claim_folder(dl, "tables", purpose="download hemibrain:v1.2.1")
    (dl / "neurons.parquet").write_text("downloaded")
    before = digests(dl)
    assert main(["synth", "--neurons", "200", "--out", str(dl), "--quiet"]) == 2
    assert "download hemibrain:v1.2.1" in one_error_line(capsys)
    assert digests(dl) == before
    assert main(["synth", "--neurons", "200", "--out", str(graph_dir), "--quiet"]) == 2
    assert "is a graph folder" in one_error_line(capsys)


def test_synth_rewrites_its_own_folder(tmp_path):
    d = tmp_path / "syn"
    write_synthetic(SMALL, d)
    (d / "notes.txt").write_text("mine")  # the user's file beside the tables is kept
    write_synthetic(SyntheticConfig(n_neurons=200, seed=4), d)
    assert load_tables(d).meta["config"]["seed"] == 4 and (d / "notes.txt").read_text() == "mine"
    assert {"neurons.parquet", "synthetic.json"} <= set(read_marker(d).files)


# --------------------------------------------------------------------------- half-written tables


def _kill_after(monkeypatch, module, name: str, calls: int):
    """Make ``module.name`` raise on call number ``calls + 1`` (a kill between two files)."""
    real, seen = getattr(module, name), []

    def writer(*args, **kwargs):
        if len(seen) == calls:
            raise KeyboardInterrupt("killed")
        seen.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, writer)


def test_synth_killed_after_two_tables_is_refused_by_build(tmp_path, monkeypatch, capsys):
    import synhelpers.tables.contract as contract

    d = tmp_path / "syn"
    _kill_after(monkeypatch, contract, "write_parquet", 2)  # neurons, connections, then killed
    with pytest.raises(KeyboardInterrupt):
        write_synthetic(SMALL, d)
    monkeypatch.undo()
    assert (d / "neurons.parquet").exists() and (d / "connections.parquet").exists()
    assert not (d / "synapses.parquet").exists()
    with pytest.raises(TableError, match="interrupted before it finished.*synth --neurons 200 --seed 3"):
        load_tables(d)
    assert main(["build", "--tables", str(d), "--out", str(tmp_path / "g"), "--quiet"]) == 2
    assert "interrupted" in one_error_line(capsys)
    write_synthetic(SMALL, d)  # the rerun the message names completes it
    assert load_tables(d).has_synapses


def test_synth_killed_before_its_sidecar_does_not_keep_the_old_name(tmp_path, monkeypatch):
    import synhelpers.tables.synthetic.generator as generator

    d = tmp_path / "syn"
    write_synthetic(SMALL, d)
    old = load_tables(d).name
    _kill_after(monkeypatch, generator, "write_json", 0)
    with pytest.raises(KeyboardInterrupt):
        write_synthetic(SyntheticConfig(n_neurons=250, seed=9), d)
    assert json.loads((d / "synthetic.json").read_text())["name"] == old  # the old sidecar
    with pytest.raises(TableError, match="interrupted"):
        load_tables(d)  # new tables under the old name and ceiling: refused


# --------------------------------------------------------------------------- download --out


def test_download_refuses_another_datasets_finished_download(tmp_path):
    from synhelpers.tables.download import fetch_dataset

    d = tmp_path / "manc"
    d.mkdir()
    (d / "neurons.parquet").write_text("manc neurons")
    (d / "manifest.json").write_text(json.dumps({"name": "manc:v1.2.1"}))  # an older download
    before = digests(d)
    with pytest.raises(OutputError, match=r"\(download manc:v1.2.1\), not a tables folder "
                                          r"\(download hemibrain:v1.2.1\)"):
        fetch_dataset("hemibrain:v1.2.1", d, source="exports", exports_url="http://127.0.0.1:9",
                      progress=False)
    assert digests(d) == before


def test_download_refuses_the_users_tables(tmp_path, capsys):
    tables = user_tables(tmp_path / "mine")
    before = digests(tables)
    assert main(["download", "--dataset", "hemibrain:v1.2.1", "--out", str(tables),
                 "--source", "exports", "--quiet"]) == 2
    assert "did not write" in one_error_line(capsys)
    assert digests(tables) == before


# --------------------------------------------------------------------------- build --out


def _existing(what: str, out: Path, graph_dir: Path) -> None:
    """Put at ``out`` one kind of thing the tool knows, or the user's own."""
    if what == "user_tables":
        user_tables(out)
    elif what == "synthetic_tables":
        write_synthetic(SMALL, out)
    elif what == "download":
        claim_folder(out, "tables", purpose="download manc:v1.2.1")
        (out / "neurons.parquet").write_text("downloaded")
    elif what == "graph":
        shutil.copytree(graph_dir, out)
    elif what == "run":
        out.mkdir()
        (out / "metrics.json").write_text("{}")
    elif what == "predictions":  # a folder of the user's holding a predictions file
        out.mkdir()
        (out / "predictions.parquet").write_text("p")
        record_file(out / "predictions.parquet", "predictions")
    elif what == "user_folder":
        out.mkdir()
        (out / "my_analysis.ipynb").write_text("{}")
    else:  # the user's own file given as the output folder
        out.write_text("mine")


COMMANDS = {
    "synth": ["synth", "--neurons", "200", "--quiet", "--out"],
    "download": ["download", "--dataset", "hemibrain:v1.2.1", "--source", "exports", "--quiet",
                 "--out"],
    "build": ["build", "--tables", "{tables}", "--min-class-count", "5", "--quiet", "--out"],
}
REFUSED = {  # what each command's --out must refuse: everything but its own kind and purpose
    "synth": ["user_tables", "download", "graph", "run", "predictions", "user_folder", "user_file"],
    "download": ["user_tables", "synthetic_tables", "download", "graph", "run", "predictions",
                 "user_folder", "user_file"],
    "build": ["user_tables", "synthetic_tables", "download", "run", "predictions", "user_folder",
              "user_file"],
}


@pytest.mark.parametrize("command, what", [(c, w) for c, ws in REFUSED.items() for w in ws])
def test_out_refuses_what_it_did_not_write(tmp_path, capsys, synthetic_dir, graph_dir, command, what):
    """Every --out of the tables and graph stages, pointed at each kind of existing folder or
    file: one line naming the path, exit 2, nothing changed."""
    out = tmp_path / "out"
    _existing(what, out, graph_dir)
    before = digests(out) if out.is_dir() else out.read_bytes()
    argv = [a.replace("{tables}", str(synthetic_dir)) for a in COMMANDS[command]]
    try:
        rc = main([*argv, str(out)])
    except SystemExit as e:  # argparse refuses a file given as a folder
        rc = e.code
    assert rc == 2
    line = one_error_line(capsys)
    assert str(out) in line and "--out" in line, line
    assert (digests(out) if out.is_dir() else out.read_bytes()) == before


def test_build_out_rebuilds_its_own_graph_folder(tmp_path, synthetic_dir):
    out = tmp_path / "g"
    for seed in ("1", "2"):
        assert main(["build", "--tables", str(synthetic_dir), "--min-class-count", "5",
                     "--split-seed", seed, "--quiet", "--out", str(out)]) == 0
    assert json.loads((out / "graph.json").read_text())["config"]["split_seed"] == 2

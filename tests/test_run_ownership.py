"""Never overwrite what the tool did not write, on the run side (issue 21): every ``--out`` of
``train``, ``baseline``, ``predict``, ``embed``, ``suggest``, ``figures`` and ``view`` pointed
at each kind of file and folder the tool knows (tables, graph, run, baseline, predictions, the
user's own): one line, exit 2, nothing changed; ``train --overwrite`` removes only the run's
own files; a run refuses checkpoints that are not its own."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from synhelpers import from_frames, write_tables
from synhelpers.cli import main
from synhelpers.errors import OutputError, RunError
from synhelpers.outputs import claim_folder, read_marker, record_file

#: A tiny, fast run (the world's run has 1 epoch; the commands below ask for 2, so pointing
#: ``train --out`` at the world's run is a rerun with other settings).
TRAIN = ["--label", "cell_class", "--model", "mlp", "--seeds", "1", "--max-epochs", "2",
         "--min-epochs", "1", "--threads", "1", "--quiet", "--set", "hidden=16"]


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def snapshot(p: Path):
    return digests(p) if p.is_dir() else p.read_bytes()


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def run_main(argv) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:  # argparse's one-line usage errors
        return int(e.code)


@pytest.fixture(scope="module")
def world(tmp_path_factory, graph_dir, synthetic_dir) -> Path:
    """A finished tiny run, a baseline, and a predictions file, each written by the tool."""
    from synhelpers.train import TrainConfig, run_training

    root = tmp_path_factory.mktemp("run_world")
    cfg = TrainConfig(model="mlp", labels=("cell_class",), seeds=1, max_epochs=1, min_epochs=1,
                      num_threads=1, progress="none", model_overrides={"hidden": 16})
    run_training(graph_dir, cfg, root / "run")
    assert main(["baseline", "--graph", str(graph_dir), "--out", str(root / "baseline")]) == 0
    (root / "preds").mkdir()
    assert main(["predict", "--run", str(root / "run"), "--data", str(graph_dir), "--out",
                 str(root / "preds" / "predictions.parquet")]) == 0
    return root


def _user_tables(folder: Path) -> None:
    n = pd.DataFrame({"bodyId": [1, 2, 3], "cell_class": ["A", "B", "A"]})
    c = pd.DataFrame({"bodyId_pre": [1, 2], "bodyId_post": [2, 3], "weight": [4, 1]})
    write_tables(from_frames(n, c, name="mine"), folder)


def _existing(what: str, out: Path, world: Path, graph_dir: Path, synthetic_dir: Path) -> None:
    """Put at ``out`` one kind of folder the tool knows, or the user's own."""
    if what == "user_tables":
        _user_tables(out)
    elif what == "synthetic_tables":
        shutil.copytree(synthetic_dir, out, ignore=shutil.ignore_patterns("graph"))
    elif what == "graph":
        shutil.copytree(graph_dir, out)
    elif what in ("run", "baseline", "preds"):
        shutil.copytree(world / what, out)
    elif what == "baseline_other_label":
        claim_folder(out, "run", purpose="baseline predictedNt")
        (out / "metrics.json").write_text('{"model": "logreg_baseline", "task": "predictedNt"}')
        record_file(out / "metrics.json", "run")
    elif what == "user_folder":
        out.mkdir()
        (out / "my_analysis.ipynb").write_text("{}")
    else:  # the user's own file given as the output folder
        out.write_text("mine")


FOLDER_COMMANDS = {
    "train": ["train", "--data", "{graph}", *TRAIN, "--out"],
    "train_overwrite": ["train", "--data", "{graph}", *TRAIN, "--overwrite", "--out"],
    "baseline": ["baseline", "--graph", "{graph}", "--out"],
    "figures": ["figures", "--graph", "{graph}", "--out"],
    "view": ["view", "--predictions", "{world}/preds/predictions.parquet", "--tables",
             "{tables}", "--out"],
}
EVERY = ["user_tables", "synthetic_tables", "graph", "run", "baseline", "baseline_other_label",
         "preds", "user_folder", "user_file"]
FOLDER_REFUSED = {
    "train": EVERY,  # its own run ("run") with other settings: refused, --overwrite named
    "train_overwrite": [w for w in EVERY if w != "run"],
    "baseline": [w for w in EVERY if w != "baseline"],
    "figures": EVERY,
    "view": EVERY,
}


@pytest.mark.parametrize("command, what", [(c, w) for c, ws in FOLDER_REFUSED.items() for w in ws])
def test_folder_out_refuses_what_it_did_not_write(tmp_path, capsys, world, graph_dir,
                                                  synthetic_dir, command, what):
    out = tmp_path / "out"
    _existing(what, out, world, graph_dir, synthetic_dir)
    before = snapshot(out)
    argv = [a.format(graph=graph_dir, world=world, tables=synthetic_dir)
            for a in FOLDER_COMMANDS[command]]
    assert run_main([*argv, out]) == 2
    line = one_error_line(capsys)
    assert str(out) in line, line
    assert snapshot(out) == before


FILE_COMMANDS = {
    "predict": ["predict", "--run", "{world}/run", "--data", "{graph}", "--out"],
    "embed": ["embed", "--run", "{world}/run", "--data", "{graph}", "--out"],
    "suggest": ["suggest", "--run", "{world}/run", "--data", "{graph}", "--out"],
}
#: target name -> (path, given the world), for each kind of file the tool knows
TARGETS = {
    "tables_neurons": lambda w, g, t: t / "neurons.parquet",
    "tables_new_table": lambda w, g, t: t / "sites.parquet",
    "graph_split": lambda w, g, t: g / "split.parquet",
    "graph_folder": lambda w, g, t: g,
    "run_metrics": lambda w, g, t: w / "run" / "metrics.json",
    "run_checkpoint": lambda w, g, t: w / "run" / "seed0" / "best.ckpt",
    "baseline_metrics": lambda w, g, t: w / "baseline" / "metrics.json",
    "predictions": lambda w, g, t: w / "preds" / "predictions.parquet",
    "user_parquet": lambda w, g, t: w / "user" / "mine.parquet",
    "user_csv": lambda w, g, t: w / "user" / "mine.csv",
}
FILE_REFUSED = {
    "predict": [t for t in TARGETS if t != "predictions"],  # its own predictions: rewritten
    "embed": list(TARGETS),
    "suggest": list(TARGETS),
}


@pytest.mark.parametrize("command, target", [(c, t) for c, ts in FILE_REFUSED.items() for t in ts])
def test_file_out_refuses_what_it_did_not_write(tmp_path, capsys, world, graph_dir,
                                                synthetic_dir, command, target):
    """Copies of the world's folders, so nothing shared can be lost if the guard fails."""
    w = tmp_path / "w"
    for name in ("run", "baseline", "preds"):
        shutil.copytree(world / name, w / name)
    (w / "user").mkdir()
    (w / "user" / "mine.parquet").write_bytes(b"PAR1 user data")
    (w / "user" / "mine.csv").write_text("a,b\n1,2\n")
    g = w / "graph"
    shutil.copytree(graph_dir, g)
    t = w / "tables"
    shutil.copytree(synthetic_dir, t, ignore=shutil.ignore_patterns("graph"))
    out = TARGETS[target](w, g, t)
    before = digests(w)
    argv = [a.format(world=w, graph=g) for a in FILE_COMMANDS[command]]
    assert run_main([*argv, out]) == 2
    line = one_error_line(capsys)
    assert out.name in line and "--out" in line, line
    assert digests(w) == before


def test_predict_rewrites_its_own_predictions(tmp_path, world, graph_dir):
    out = tmp_path / "p.parquet"
    for _ in range(2):
        assert main(["predict", "--run", str(world / "run"), "--data", str(graph_dir),
                     "--out", str(out)]) == 0
    assert read_marker(tmp_path).files == {"p.parquet": "predictions"}


def test_suggest_writes_a_csv_and_owns_it(tmp_path, world, graph_dir):
    out = tmp_path / "next.csv"
    for _ in range(2):
        assert main(["suggest", "--run", str(world / "run"), "--data", str(graph_dir),
                     "--n", "3", "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) == 3 and read_marker(tmp_path).files["next.csv"] == "suggestions"


# --------------------------------------------------------------------------- train --overwrite


def test_overwrite_removes_only_the_runs_own_files(tmp_path, world, graph_dir):
    run = tmp_path / "run"
    shutil.copytree(world / "run", run)
    (run / "notes.txt").write_text("mine")
    (run / "seed7").mkdir()  # a folder of the user's named like a seed the run does not have
    (run / "seed7" / "keep.txt").write_text("mine")
    assert main(["train", "--data", str(graph_dir), *TRAIN, "--overwrite", "--out", str(run)]) == 0
    assert (run / "notes.txt").read_text() == "mine" and (run / "seed7" / "keep.txt").exists()
    assert json.loads((run / "metrics.json").read_text())["config"]["max_epochs"] == 2


def test_overwrite_of_a_run_folder_of_an_older_version(tmp_path, world, graph_dir):
    """A run folder without a marker (written before markers existed) is adopted: its run
    files are the tool's, the user's other files are kept."""
    run = tmp_path / "run"
    shutil.copytree(world / "run", run)
    (run / ".synhelpers.json").unlink()
    (run / "notes.txt").write_text("mine")
    assert main(["train", "--data", str(graph_dir), *TRAIN, "--overwrite", "--out", str(run)]) == 0
    assert (run / "notes.txt").read_text() == "mine"
    assert json.loads((run / "metrics.json").read_text())["config"]["max_epochs"] == 2


# --------------------------------------------------------------------------- a run knows its weights


@pytest.fixture(scope="module")
def other_run(tmp_path_factory, graph_dir) -> Path:
    """A run of the same model and shapes on another split of the graph (another fingerprint)."""
    from synhelpers.graph import load_graph
    from synhelpers.graph.split import with_split
    from synhelpers.train import TrainConfig, run_training

    out = tmp_path_factory.mktemp("other") / "run"
    cfg = TrainConfig(model="mlp", labels=("cell_class",), seeds=1, max_epochs=1, min_epochs=1,
                      num_threads=1, progress="none", model_overrides={"hidden": 16})
    run_training(with_split(load_graph(graph_dir), 1), cfg, out)
    return out


def test_checkpoints_carry_the_runs_identity(world):
    from synhelpers.answers.load import load_run

    ckpt = torch.load(world / "run" / "seed0" / "best.ckpt", weights_only=True)
    ident = ckpt["hyper_parameters"]["identity"]
    metrics = json.loads((world / "run" / "metrics.json").read_text())
    run_json = json.loads((world / "run" / "run.json").read_text())
    assert ident == {"data_fingerprint": metrics["data_fingerprint"], "run_id": run_json["run_id"],
                     "tag": "seed0"}
    assert metrics["run_id"] == run_json["run_id"]
    assert load_run(world / "run").seeds == [0]


def test_a_checkpoint_of_another_graph_copied_in_is_refused(tmp_path, world, other_run, capsys,
                                                            graph_dir):
    run = tmp_path / "run"
    shutil.copytree(world / "run", run)
    shutil.copy(other_run / "seed0" / "best.ckpt", run / "seed0" / "best.ckpt")
    from synhelpers.answers.load import load_run

    with pytest.raises(RunError, match="not this run's checkpoint.*data_fingerprint, run_id"):
        load_run(run)
    assert main(["predict", "--run", str(run), "--data", str(graph_dir), "--out",
                 str(tmp_path / "p.parquet")]) == 2
    assert "not this run's checkpoint" in one_error_line(capsys)
    assert not (tmp_path / "p.parquet").exists()


@pytest.mark.parametrize("where", ["../other/seed0/best.ckpt", "ABSOLUTE", ""])
def test_a_checkpoint_path_outside_the_run_is_refused(tmp_path, world, other_run, where):
    from synhelpers.answers.load import load_run

    run = tmp_path / "run"
    shutil.copytree(world / "run", run)
    shutil.copytree(other_run, tmp_path / "other")
    m = json.loads((run / "metrics.json").read_text())
    m["seeds"][0]["checkpoint"] = str(tmp_path / "other" / "seed0" / "best.ckpt") if where == "ABSOLUTE" else where
    (run / "metrics.json").write_text(json.dumps(m))
    with pytest.raises(RunError, match="not inside the run folder; refused"):
        load_run(run)


def test_old_checkpoints_without_identity(tmp_path, world):
    """A run trained before checkpoints carried their identity (no run_id in metrics.json)
    loads as it did; in a run that has a run_id, a checkpoint without one is refused."""
    from synhelpers.answers.load import load_run

    run = tmp_path / "run"
    shutil.copytree(world / "run", run)
    f = run / "seed0" / "best.ckpt"
    ckpt = torch.load(f, weights_only=True)
    del ckpt["hyper_parameters"]["identity"]
    torch.save(ckpt, f)
    with pytest.raises(RunError, match="not this run's checkpoint"):
        load_run(run)
    m = json.loads((run / "metrics.json").read_text())
    del m["run_id"]
    (run / "metrics.json").write_text(json.dumps(m))
    assert load_run(run).seeds == [0]


def test_claim_refusal_is_an_output_error(tmp_path):
    """The run folder's guard raises the ownership guard's error (exit 2 at the command line)."""
    from synhelpers.train.run_folder import wipe_run

    _user_tables(tmp_path / "t")
    with pytest.raises(OutputError, match="did not write"):
        wipe_run(tmp_path / "t")

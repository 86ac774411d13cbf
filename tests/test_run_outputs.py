"""What a run leaves beside metrics.json: a model card, TensorBoard's HPARAMS entries (the
baseline's too), and hyperparameters that load with yaml.safe_load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from synhelpers.testing.random_graph import TINY_MODEL
from synhelpers.train.baseline import run_baseline
from synhelpers.train.config import BaselineConfig, TrainConfig
from synhelpers.train.run import run_training


def _hparams_runs(log_dir: Path) -> dict[str, set[str]]:
    """``{event file: metric names}`` of every TensorBoard event file below ``log_dir`` that
    holds an hparams experiment summary (what the HPARAMS page lists)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import plugin_data_pb2

    found = {}
    for f in sorted(log_dir.rglob("events.out.tfevents.*")):
        for event in EventFileLoader(str(f)).Load():
            for value in event.summary.value:
                meta = value.metadata.plugin_data
                if meta.plugin_name != "hparams":
                    continue
                data = plugin_data_pb2.HParamsPluginData.FromString(meta.content)
                if data.HasField("experiment"):
                    found[str(f)] = {m.name.tag for m in data.experiment.metric_infos}
    return found


@pytest.fixture(scope="module")
def runs(graph_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    run_baseline(graph_dir, root / "baseline", BaselineConfig(label="cell_class"))
    cfg = TrainConfig(model="sage", labels=("cell_class",), seeds=2, max_epochs=2, min_epochs=1,
                      num_threads=1, model_overrides=TINY_MODEL, progress="none")
    run_training(graph_dir, cfg, root / "sage")
    return root


def test_every_run_has_a_model_card_beside_the_baseline_and_ceiling(runs, graph_dir):
    card = (runs / "sage" / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: sage on synthetic")
    for needed in ("graph fingerprint", "`cell_class`: ", "| sage (this run) |",
                   "| logistic-regression baseline |", "| synthetic generator ceiling |",
                   "torch ", "## Made by"):
        assert needed in card, needed


def test_hparams_page_lists_the_runs_and_the_baseline(runs):
    sage = _hparams_runs(runs / "sage" / "tb")
    assert len(sage) == 2  # one per seed
    assert all({"hp/val_macro_f1", "hp/test_macro_f1"} <= m for m in sage.values())
    base = _hparams_runs(runs / "baseline" / "tb")
    assert len(base) == 1 and "hp/test_macro_f1" in next(iter(base.values()))


def test_saved_hyperparameters_load_with_safe_load(runs):
    files = sorted((runs / "sage" / "tb").rglob("hparams.yaml"))
    assert files
    for f in files:
        hp = yaml.safe_load(f.read_text())
        assert hp["model_name"] == "sage" and hp["train_cfg"]["labels"] == ["cell_class"]

"""benchmarks/gpu.py cannot rot: its CPU dry run (the CI form of the GPU benchmark) runs every
stage end to end, and its budgets skip a stage that runs too long instead of losing the rest."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu.py"


def _load_gpu():
    spec = importlib.util.spec_from_file_location("gpu_bench", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


gpu = _load_gpu()


@pytest.mark.slow
def test_tiny_cpu_dry_run_measures_every_stage_and_writes_json_and_markdown(tmp_path):
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--tiny", "--batch-size", "auto",
                           "--workers", "1", "--out", str(out), "--scratch", str(scratch)],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [path] = list(out.glob("gpu_*_tiny.json"))
    res = json.loads(path.read_text())
    st = res["stages"]
    assert st["env"]["status"] == "ok" and st["env"]["device"] == "cpu"
    for name in ("data_300", "data_400", "data_500", "fit_bf16", "fit_fp32", "full_epoch_300",
                 "full_epoch_400", "minibatch_400", "minibatch_500"):
        assert st[name]["status"] == "ok", (name, st[name])
    # the fits went through run_training at the precision asked for, to a test score
    assert st["fit_bf16"]["precision"] == "bf16-mixed" and st["fit_fp32"]["precision"] == "32-true"
    assert 1 <= st["fit_bf16"]["epochs"] <= 2 and 0 <= st["fit_bf16"]["test_macro_f1"] <= 1
    # CUDA code paths taken on the CPU: bf16 autocast, graph (synapse CSR) placement, auto batch size
    assert st["full_epoch_400"]["bf16_autocast"] and st["full_epoch_400"]["graph_devices"] == ["cpu"]
    mb = st["minibatch_500"]
    assert mb["batch_size_flag"] == "auto" and mb["batch_size"] == mb["batch_size_auto"] >= 1
    assert mb["pinned_memory"] is False and mb["workers"] == 1 and mb["steps"] >= 1
    assert mb["steps"] * mb["batch_size"] >= mb["seeds"]
    # the CPU-ratio stages have nothing to compare with when the device is the CPU
    assert all(r["status"] == "skipped" for k, r in st.items() if k.startswith("cpu_"))
    table = path.with_suffix(".md").read_text()
    assert "| stage | status |" in table and all(f"| {k} |" in table for k in st)
    assert {f.stem for f in (scratch / "stages").glob("*.json")} >= {"fit_bf16", "minibatch_500"}


def _sleep(args):
    time.sleep(120)
    return {}


def _boom(args):
    raise ValueError("boom\nsecond line")


def test_a_stage_past_its_budget_is_killed_and_recorded_as_skipped(tmp_path):
    args = gpu.parse_args(["--device", "cpu", "--tiny", "--scratch", str(tmp_path), "--out", str(tmp_path)])
    runner = gpu.Runner(args)
    t0 = time.monotonic()
    r = runner.run(gpu.Stage("slow", _sleep, budget_s=1.0, min_s=0))
    assert r["status"] == "skipped" and "budget of 1 s" in r["reason"]
    assert time.monotonic() - t0 < 60 and not runner.running


def test_a_failing_stage_gives_one_line_and_too_little_time_skips(tmp_path):
    args = gpu.parse_args(["--device", "cpu", "--scratch", str(tmp_path), "--out", str(tmp_path),
                           "--total-s", "30"])
    runner = gpu.Runner(args)
    r = runner.run(gpu.Stage("boom", _boom, budget_s=30, min_s=0))
    assert (r["status"], r["reason"]) == ("failed", "ValueError: boom")
    r = runner.run(gpu.Stage("big", _sleep, budget_s=30, min_s=1000))
    assert r["status"] == "skipped" and r["reason"].startswith("not enough time left")
    runner.start(gpu.Stage("done", _boom, budget_s=30))  # background: finished, nobody waited
    runner.start(gpu.Stage("busy", _sleep, budget_s=30))  # background: still running
    runner.running["done"][0].join(30)
    left = runner.stop_all()
    assert left["done"]["reason"] == "ValueError: boom" and left["busy"]["status"] == "skipped"
    assert not runner.running


def test_ratios_compare_only_measurements_made_on_both_devices():
    stages = {"full_epoch_2000": {"status": "ok", "epoch_time_s": 0.05},
              "cpu_full_epoch_2000": {"status": "ok", "epoch_time_s": 0.5},
              "minibatch_21739": {"status": "ok", "epoch_s": 10.0},
              "cpu_minibatch_21739": {"status": "skipped", "reason": "x"}}
    assert gpu.ratios(stages) == pytest.approx({"full_epoch_2000": 10.0})


@pytest.mark.parametrize("value", ["many", "0"])
def test_batch_size_flag_is_checked_in_one_line(value):
    with pytest.raises(SystemExit):
        gpu.parse_args(["--batch-size", value])

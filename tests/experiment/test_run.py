"""The runner end to end on the tiny world: killed mid-run, resumed, then rerun for free."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from safereflect.report import load_results
from safereflect.stage import read_done
from safereflect.train.hardware import cpu_kernels

pytestmark = pytest.mark.slow  # experiments end to end in subprocesses

EXPERIMENT = {"name": "tiny-e2e", **yaml.safe_load((Path(__file__).parent / "tiny_experiment.yaml").read_text())}
REQUIRED = [
    "asr_heldout",
    "asr_seen",
    "asr_heldout_by_attack",
    "asr_heldout_after_harmful_ft",
    "asr_heldout_after_benign_ft",
    "safety_cls_acc",
    "task_acc",
    "over_refusal",
    "val_bpb",
]


def start(cfg: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "safereflect", "run", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def test_killed_experiment_resumes_and_a_rerun_recomputes_nothing(tmp_path):
    out = tmp_path / "run"
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump(EXPERIMENT | {"out": str(out)}))

    first = start(cfg)
    deadline = time.time() + 120
    # the runner's record of raw's training, not the trainer's own one written just before it
    while not any("value" in (read_done(p) or {}) for p in (out / "stages" / "train").glob("raw-*")):
        assert first.poll() is None and time.time() < deadline, (
            first.stdout.read() if first.poll() is not None else "timeout"
        )
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert not (out / "results.json").exists()

    second = subprocess.run([sys.executable, "-m", "safereflect", "run", str(cfg)], capture_output=True, text=True)
    log = second.stdout + second.stderr
    assert second.returncode == 0, log
    for stage in ("world tiny", "prepare tokenizer-raw", "prepare raw-s0", "train raw-s0"):
        assert f"skip {stage}" in log, (stage, log)
    assert "run train reflect-s0" in log

    results = load_results(out / "results.json")
    assert set(results.arms) == {"raw", "reflect"}
    for arm in results.arms:
        for name in REQUIRED:
            assert results.stat(arm, name) is not None or name == "asr_heldout_by_attack", (arm, name)
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
    # one seed decides nothing: the claims are written with their numbers, undecided
    assert [c["number"] for c in results.claims] == [1, 2, 3, 4, 5, 6]
    assert {c["passed"] for c in results.claims} == {None}
    assert set(results.per_seed["raw"]) == {"0"} and results.roles == {"raw": "reference", "reflect": "reflect"}
    assert set(results.training) == {"raw", "reflect"}
    # the numerics the runs trained under, as this process sees them
    assert results.numerics["cpu_kernels"] == [cpu_kernels()] and results.numerics["device"] == ["cpu"]

    # a finished experiment, even moved elsewhere, is reread rather than recomputed
    moved = tmp_path / "moved"
    out.rename(moved)
    cfg.write_text(yaml.safe_dump(EXPERIMENT | {"out": str(moved)}))
    before = (moved / "results.json").read_bytes()
    third = subprocess.run([sys.executable, "-m", "safereflect", "run", str(cfg)], capture_output=True, text=True)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "run " not in third.stdout + third.stderr
    assert (moved / "results.json").read_bytes() == before


def test_demo_dry_run_validates_the_builtin_presets():
    for preset in ("cpu", "gpu"):
        res = subprocess.run(
            [sys.executable, "-m", "safereflect", "demo", "--preset", preset, "--dry-run"],
            capture_output=True,
            text=True,
        )
        assert res.returncode == 0 and "configuration valid" in res.stderr, res.stdout + res.stderr


def test_bad_experiment_file_is_one_clear_error(tmp_path):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("name: x\narms: [raw]\ntrain: {preset: tiny}\nseeds: one\n")
    res = subprocess.run([sys.executable, "-m", "safereflect", "run", str(cfg)], capture_output=True, text=True)
    assert res.returncode == 2 and "seeds" in res.stderr and "Traceback" not in res.stderr


def test_a_bad_late_stage_value_fails_before_anything_runs(tmp_path):
    bad = EXPERIMENT | {"out": str(tmp_path / "run"), "arms": ["raw"], "eval": {"cls": {"probe_folds": 1}}}
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump(bad))
    res = subprocess.run([sys.executable, "-m", "safereflect", "run", str(cfg)], capture_output=True, text=True)
    assert res.returncode == 2 and "eval for arm raw" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not (tmp_path / "run" / "stages").exists()


def test_parallel_pipelines_give_the_sequential_results(tmp_path):
    # two spawned single-threaded workers against one process: same per-seed metrics and claims
    exp = EXPERIMENT | {
        "seeds": [0, 1],
        "eval": {
            **EXPERIMENT["eval"],
            "finetune": {"attacks": ["harmful-100"], "budget": {"max_steps": 2}, "export_steps": [1]},
        },
    }
    results = {}
    for workers in (1, 2):
        out = tmp_path / f"run{workers}"
        cfg = tmp_path / f"exp{workers}.yaml"
        cfg.write_text(yaml.safe_dump(exp | {"out": str(out)}))
        res = subprocess.run(
            [sys.executable, "-m", "safereflect", "run", str(cfg), "--parallel", str(workers)],
            capture_output=True,
            text=True,
        )
        assert res.returncode == 0, res.stdout + res.stderr
        results[workers] = load_results(out / "results.json")
        assert "Infinity" not in (out / "results.json").read_text()  # strict JSON for other tools
    assert "raw done (2 at once)" in res.stderr  # the parent reports each finished pipeline
    assert results[1].per_seed == results[2].per_seed and results[1].claims == results[2].claims

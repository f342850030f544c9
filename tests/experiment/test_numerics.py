"""training_numerics: the kernel set, precision, compilation and threads of an experiment's runs."""

from __future__ import annotations

import json

from safereflect.experiment.numerics import training_numerics


def _log(path, **start):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"kind": "start", "step": 0, **start}, {"kind": "train", "step": 5, "loss": 1.0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_distinct_values_over_runs_are_all_listed(tmp_path):
    common = {"device": "cpu", "precision": "fp32", "compile": True, "world_size": 1}
    a = _log(tmp_path / "a" / "metrics.jsonl", cpu_kernels="AVX2", threads=1, **common)
    b = _log(tmp_path / "b" / "metrics.jsonl", cpu_kernels="AVX512", threads=1, **common)
    got = training_numerics([a, b, tmp_path / "missing" / "metrics.jsonl"])
    assert got == {
        "device": ["cpu"],
        "cpu_kernels": ["AVX2", "AVX512"],
        "precision": ["fp32"],
        "compile": [True],
        "threads": [1],
        "world_size": [1],
    }


def test_fields_a_log_did_not_record_are_left_out_not_guessed(tmp_path):
    old = _log(tmp_path / "old" / "metrics.jsonl", device="cpu", precision="bf16", compile=False, world_size=1)
    gpu = _log(tmp_path / "gpu" / "metrics.jsonl", device="NVIDIA H200", cpu_kernels=None, threads=None)
    got = training_numerics([old, gpu])
    assert "cpu_kernels" not in got and "threads" not in got
    assert got["device"] == ["NVIDIA H200", "cpu"] and got["compile"] == [False]


def test_a_resumed_run_counts_each_start(tmp_path):
    path = _log(tmp_path / "r" / "metrics.jsonl", device="cpu", threads=2)
    with path.open("a") as f:
        f.write(json.dumps({"kind": "start", "step": 5, "device": "cpu", "threads": 1}) + "\n")
    assert training_numerics([path])["threads"] == [1, 2]

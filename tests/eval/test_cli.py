"""`safereflect eval` on bad input: one message naming file and line, exit 2, no traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from safereflect.cli import main


@pytest.fixture
def world_copy(tiny_world_dir, tmp_path):
    dst = tmp_path / "world"
    shutil.copytree(tiny_world_dir, dst)
    return dst


def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(["eval", *map(str, args)])
    return exc.value.code, capsys.readouterr().err


def test_malformed_json_line_subprocess(world_copy, tiny_model_dir, tmp_path):
    path = world_copy / "probes" / "harmful_seen.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = lines[2][:40]  # cut a record in half
    path.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "safereflect",
            "eval",
            "--model",
            str(tiny_model_dir),
            "--probes",
            str(world_copy),
            "--out",
            str(tmp_path / "out"),
        ],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert f"{path}:3: malformed JSON" in proc.stderr.replace("\n", "")


def test_missing_prompt_field(world_copy, tiny_model_dir, tmp_path, capsys):
    path = world_copy / "probes" / "safe_tasks.jsonl"
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    del recs[1]["prompt"]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    code, err = run_cli(capsys, "--model", tiny_model_dir, "--probes", world_copy, "--out", tmp_path / "o")
    assert code == 2 and "safe_tasks.jsonl:2: missing field 'prompt'" in err.replace("\n", "")


def test_wrong_field_type(world_copy, tiny_model_dir, tmp_path, capsys):
    path = world_copy / "probes" / "classification.jsonl"
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    recs[3]["label"] = "maybe"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    code, err = run_cli(
        capsys, "--model", tiny_model_dir, "--probes", world_copy, "--out", tmp_path / "o", "--suites", "cls"
    )
    assert code == 2 and "classification.jsonl:4: label must be" in err.replace("\n", "")


def test_missing_model_dir(tiny_world_dir, tmp_path, capsys):
    code, err = run_cli(
        capsys, "--model", tmp_path / "no-such-model", "--probes", tiny_world_dir, "--out", tmp_path / "o"
    )
    assert code == 2 and "model directory not found" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--suites", "asr,nope"], "unknown suite 'nope'"),
        (["--suites", "bpb"], "needs validation text"),
        (["--suites", "realtext"], "needs harmful prompt files"),
    ],
)
def test_bad_suite_requests(tiny_model_dir, tiny_world_dir, tmp_path, capsys, args, message):
    code, err = run_cli(capsys, "--model", tiny_model_dir, "--probes", tiny_world_dir, "--out", tmp_path / "o", *args)
    assert code == 2 and message in err


def test_bad_config_key(tiny_model_dir, tmp_path, capsys):
    cfg = tmp_path / "eval.yaml"
    cfg.write_text("decoding:\n  mode: plain\n  beams: 3\n")
    code, err = run_cli(capsys, "--model", tiny_model_dir, "--out", tmp_path / "o", "--config", cfg)
    assert code == 2 and "decoding.beams: unknown key" in err

"""The train/finetune commands: bad input gives one clear message and exit code 2, no traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from safereflect.cli.train import standalone_main

SAFEREFLECT = Path(sys.executable).parent / "safereflect"


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """`python -m safereflect.train ARGV` in this process: (exit code, stdout, stderr)."""
    code = 0
    try:
        standalone_main(argv)
    except SystemExit as exit_:
        code = exit_.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture()
def broken_meta(tokens_dir, tmp_path) -> Path:
    copy = shutil.copytree(tokens_dir, tmp_path / "tokens")
    (copy / "meta.json").unlink()
    return copy


def write_yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing-data", "data directory not found"),
        ("missing-meta", "no token shards in"),
        ("small-vocab", "model.vocab_size 100 is smaller than the tokenizer vocabulary (400"),
        ("bad-value", "schedule: Input should be 'cosine', 'wsd' or 'constant' (got 'linear')"),
        ("unknown-key", "model.depht: unknown key (allowed: aspect_ratio, depth,"),
        ("bad-preset", "unknown preset 'huge' (allowed: tiny, cpu-1m"),
        ("other-run", "holds checkpoints of a different run"),
    ],
)
def test_bad_input_is_one_clear_message(case, expected, tokens_dir, broken_meta, overfit_run, tmp_path, capsys):
    config_text = {
        "small-vocab": "model:\n  depth: 2\n  vocab_size: 100\n",
        "bad-value": "schedule: linear\n",
        "unknown-key": "model:\n  depht: 4\n",
    }
    args = {
        "missing-data": ["--data", str(tmp_path / "nope")],
        "missing-meta": ["--data", str(broken_meta)],
        "bad-preset": ["--data", str(tokens_dir), "--preset", "huge"],
        "other-run": ["--data", str(tokens_dir), "--max-steps", "30"],
    }.get(case) or [
        "--data",
        str(tokens_dir),
        "--config",
        str(write_yaml(tmp_path, config_text[case])),
    ]
    out = overfit_run if case == "other-run" else tmp_path / "run"
    code, stdout, stderr = run_cli([*args, "--out", str(out)], capsys)
    assert code == 2
    assert expected in " ".join(stderr.split())  # rich wraps long lines
    assert "Traceback" not in stderr + stdout


@pytest.mark.parametrize(
    "command, expected",
    [
        (["train", "--data", "{tmp}/nope", "--out", "{tmp}/run"], "data directory not found"),
        (
            [
                "finetune",
                "--model",
                "m",
                "--data",
                "d.jsonl",
                "--out",
                "{tmp}/ft",
                "--preset",
                "harmful-1000",
            ],
            "preset: Input should be 'harmful-10', 'harmful-100' or 'benign'",
        ),
        (
            [
                "finetune",
                "--model",
                "m",
                "--data",
                "d.jsonl",
                "--out",
                "{tmp}/ft",
                "--export-steps",
                "1,two",
            ],
            "--export-steps must be comma-separated integers",
        ),
    ],
)
def test_installed_entry_point_reports_errors_without_traceback(command, expected, tmp_path):
    argv = [str(SAFEREFLECT), *(a.format(tmp=tmp_path) for a in command)]
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert expected in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr + done.stdout


def test_dry_run_prints_the_plan_and_trains_nothing(tokens_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run_cli(
        [
            "--data",
            str(tokens_dir.parent),
            "--out",
            str(out),
            "--preset",
            "125m",
            "--dry-run",
            "--device-name",
            "h100",
        ],
        capsys,
    )
    assert code == 0
    text = " ".join(stdout.split())
    for expected in (
        "12 layers, hidden 768",
        "FLOPs/token",
        "2,621,440,000 (5,000 steps",
        "989 TFLOP/s bf16 peak at 40% MFU",
    ):
        assert expected in text
    assert not out.exists()


def test_help_has_examples(capsys):
    code, stdout, _ = run_cli(["--help"], capsys)
    assert code == 0 and "Examples" in stdout and "torchrun" in stdout


def test_flags_override_the_config_file(tokens_dir, tmp_path, capsys):
    config = write_yaml(tmp_path, "max_steps: 70\n")
    code, stdout, _ = run_cli(
        [
            "--data",
            str(tokens_dir),
            "--out",
            str(tmp_path / "run"),
            "--config",
            str(config),
            "--max-steps",
            "90",
            "--dry-run",
        ],
        capsys,
    )
    assert code == 0 and "(90 steps" in " ".join(stdout.split())

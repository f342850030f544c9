"""Train and finetune inputs that used to be accepted or end in a traceback."""

from __future__ import annotations

import shutil

import pytest

from safereflect.cli import main


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


@pytest.mark.parametrize(
    "seed, message", [("-1", "greater than or equal to 0"), ("4294967296", "less than or equal to 4294967295")]
)
@pytest.mark.parametrize("command", ["train", "finetune"])
def test_seeds_outside_32_bits(command, seed, message, tokens_dir, tmp_path, capsys):
    args = (
        ["train", "--data", str(tokens_dir), "--dry-run"]
        if command == "train"
        else ["finetune", "--model", "m", "--data", "d.jsonl"]
    )
    code, output = run_cli([*args, "--out", str(tmp_path / "o"), "--seed", seed], capsys)
    assert code == 2 and f"seed: Input should be {message}" in output and "Traceback" not in output


def test_dry_run_needs_at_least_one_device(tokens_dir, tmp_path, capsys):
    code, output = run_cli(
        ["train", "--data", str(tokens_dir), "--out", str(tmp_path / "o"), "--dry-run", "--num-devices", "0"], capsys
    )
    assert code == 2 and "--num-devices" in output


def test_dry_run_refuses_a_truncated_shard_by_name(tokens_dir, tmp_path, capsys):
    copy = shutil.copytree(tokens_dir, tmp_path / "tokens")
    shard = copy / "train" / "00001.ds"
    with open(shard, "r+b") as fh:
        fh.truncate(5000 if shard.stat().st_size > 5000 else shard.stat().st_size // 2)
    code, output = run_cli(["train", "--data", str(copy), "--out", str(tmp_path / "o"), "--dry-run"], capsys)
    assert code == 2 and f"{shard}:" in output and "truncated or damaged" in output


def test_compile_on_a_cpu_without_a_cpp_compiler_is_one_line(tokens_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CXX", "no-such-cxx-compiler")
    out = tmp_path / "o"
    argv = ["train", "--data", str(tokens_dir), "--out", str(out), "--preset", "tiny", "--max-steps", "2"]
    code, output = run_cli([*argv, "--set", "compile=true", "--set", "warmup_steps=1", "--device", "cpu"], capsys)
    assert code == 2 and "Traceback" not in output
    assert "compile: true on a CPU needs a C++ compiler to build its kernels" in output
    assert "'no-such-cxx-compiler' is not on PATH" in output

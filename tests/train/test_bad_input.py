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


def test_a_loss_that_is_not_a_number_stops_training_before_any_checkpoint_holds_it(tokens_dir, tmp_path, capsys):
    out = tmp_path / "o"
    argv = ["train", "--data", str(tokens_dir), "--out", str(out), "--preset", "tiny", "--max-steps", "20"]
    # a learning rate of 1e12 without clipping: the weights overflow within a few steps
    extra = ["--set", "lr=1e12", "--set", "grad_clip=null", "--set", "checkpoint_every=1", "--set", "log_every=5"]
    code, output = run_cli([*argv, *extra, "--set", "warmup_steps=0", "--device", "cpu"], capsys)
    assert code == 2 and "Traceback" not in output
    assert f"{out}: the training loss at step" in output and "stopped before it reached a checkpoint" in output
    step = int(output.split("the training loss at step ")[1].split()[0])
    assert 1 < step < 20  # caught at the step it happened, not at the next log line (every 5)
    saved = sorted(int(p.name.split("_")[1]) for p in (out / "checkpoints").glob("step_*"))
    assert saved and saved[-1] == step - 1  # every checkpoint written is from a finite step
    assert not (out / "final").exists()

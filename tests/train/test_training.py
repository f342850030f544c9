"""End-to-end pretraining: learning, export, exact resume after SIGKILL, multi-process parity."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from safereflect.errors import UserError
from safereflect.train import resolve_train_config, run_training
from safereflect.train.checkpoint import checkpoint_problem, checkpoints, resumable_checkpoint
from safereflect.train.hardware import cpp_compiler

from .conftest import OVERFIT_STEPS, overfit_config

pytestmark = pytest.mark.slow  # training runs, several of them in subprocesses

VENV_BIN = Path(sys.executable).parent


def records(run: Path, kind: str) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def losses(run: Path) -> dict[int, float]:
    train = records(run, "train")
    assert len({r["step"] for r in train}) == len(train), "a step was logged twice"
    return {r["step"]: r["loss"] for r in train}


def tiny_config(data: Path, out: Path, **overrides):
    values = {"data": str(data), "out": str(out), "seq_len": 32, **overrides}
    return resolve_train_config("tiny", None, values)


def cli_args(data: Path, out: Path, *, steps: int, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        "--data",
        str(data),
        "--out",
        str(out),
        "--preset",
        "tiny",
        "--max-steps",
        str(steps),
        "--set",
        "seq_len=32",
        *extra,
    ]


def test_tiny_model_overfits_a_tiny_corpus(overfit_run):
    loss = losses(overfit_run)
    assert loss[1] > 5.5  # ~ln(448): uniform over the vocabulary
    # Memorising ~700 tokens with 135k parameters: after 80 steps the loss is ~0.03 nats; the
    # bound leaves room for platform differences, and still fails if learning is broken.
    assert loss[OVERFIT_STEPS] < 0.15
    (val,) = records(overfit_run, "val")
    assert val["val_loss"] > loss[OVERFIT_STEPS]  # unseen documents: memorisation does not transfer
    assert 0 < val["val_bpb"] < val["val_loss"] / np.log(2)  # tokens span more than one byte
    start = records(overfit_run, "start")[0]
    assert start["versions"]["torch"] and start["non_embedding_params"] < 1e6
    # MFU on a CPU is against the matmul rate this machine measured for the run's precision.
    assert start["precision"] in ("bf16", "fp32") and start["peak_flops"] > 1e9
    assert all(r["mfu"] > 0 and r["tokens_per_s"] > 0 for r in records(overfit_run, "train"))


def test_export_loads_with_auto_classes_and_matches_the_checkpoint(overfit_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    final = overfit_run / "final"
    model = AutoModelForCausalLM.from_pretrained(final)
    tokenizer = AutoTokenizer.from_pretrained(final)
    text = "Patients with asthma should not take aspirin without advice."
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    ckpt = load_file(overfit_run / "checkpoints" / f"step_{OVERFIT_STEPS:06d}" / "model.safetensors")
    exported = model.state_dict()
    assert all(torch.equal(exported[k], v) for k, v in ckpt.items())


def test_export_round_trip_gives_identical_logits(small_tokens_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from safereflect.train.distributed import start_runtime
    from safereflect.train.export import export_model
    from safereflect.train.plan import plan_run
    from safereflect.train.trainer import build_model

    plan = plan_run(tiny_config(small_tokens_dir, tmp_path / "run"))
    model = build_model(plan, start_runtime("cpu", "fp32")).eval()
    tokenizer = AutoTokenizer.from_pretrained(plan.meta.tokenizer_dir)
    export_model(model, tokenizer, tmp_path / "export")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "export").eval()
    ids = torch.tensor([tokenizer("Taking digoxin together with insulin")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, reloaded(ids).logits)


def test_activation_checkpointing_leaves_the_math_unchanged(small_tokens_dir, tmp_path):
    from safereflect.train.distributed import start_runtime
    from safereflect.train.plan import plan_run
    from safereflect.train.step import token_losses
    from safereflect.train.trainer import build_model

    rt = start_runtime("cpu", "fp32")
    ids = torch.randint(0, 400, (2, 33), generator=torch.Generator().manual_seed(0))
    grads = []
    for checkpointing in (False, True):
        cfg = tiny_config(small_tokens_dir, tmp_path, activation_checkpointing=checkpointing)
        model = build_model(plan_run(cfg), rt)
        token_losses(model, ids[:, :-1], ids[:, 1:]).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert torch.allclose(grads[0], grads[1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("precision", "compile"),
    [
        ("fp32", False),
        ("bf16", False),
        pytest.param(
            "bf16",
            True,
            marks=pytest.mark.skipif(shutil.which(cpp_compiler()) is None, reason="inductor needs a C++ compiler"),
        ),
    ],
)
def test_resume_after_sigkill_reproduces_the_uninterrupted_run(precision, compile, tokens_dir, tmp_path):
    """Compiled too: the rerun compiles again, and its kernels must give the same bits."""
    steps = 16

    def config(out: Path):
        return tiny_config(
            tokens_dir,
            out,
            max_steps=steps,
            global_batch_size=4,
            micro_batch_size=4,
            val_tokens=0,
            precision=precision,
            compile=compile,
        )

    reference = tmp_path / "reference"
    run_training(config(reference))

    run = tmp_path / "run"
    extra = (
        "--set",
        "global_batch_size=4",
        "--set",
        "micro_batch_size=4",
        "--set",
        "val_tokens=0",
        "--set",
        "checkpoint_every=1",
        "--set",
        f"precision={precision}",
        "--set",
        f"compile={str(compile).lower()}",
    )
    cmd = [
        sys.executable,
        "-m",
        "safereflect.train",
        *cli_args(tokens_dir, run, steps=steps, extra=extra),
    ]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
    }  # this process's thread count: the same CPU kernels
    victim = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = run / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and victim.poll() is None:
        if log.exists() and log.read_text().count('"kind":"train"') >= 4:  # may end in a partial line
            break
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (run / "final").exists()
    killed_at = checkpoints(run)[-1][0]
    assert 0 < killed_at < steps

    run_training(config(run))  # the rerun: same config, same directory
    assert [r["step"] for r in records(run, "start")] == [0, killed_at]
    assert {(r["precision"], r["attention"], r["compile"]) for r in records(run, "start")} == {
        (precision, "eager" if precision == "bf16" else "sdpa", compile)
    }
    assert losses(run) == losses(reference)  # bit for bit, every step
    assert len(checkpoints(run)) == 2  # keep_checkpoints


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_gloo_processes_match_one_process(parallel, masked_tokens_dir, tmp_path):
    """Same global batch (4 sequences) split over 2 processes x 2 vs 1 process x 4.

    The loss is normalised by the global count of unmasked targets, so only the order of
    floating-point sums differs: losses agree to 1e-5 relative (observed: ~1e-7).
    """
    steps = 6
    single = tmp_path / "single"
    run_training(
        tiny_config(
            masked_tokens_dir,
            single,
            max_steps=steps,
            global_batch_size=4,
            micro_batch_size=4,
            warmup_steps=2,
            val_tokens=1024,
            precision="fp32",
        )
    )
    multi = tmp_path / "multi"
    extra = (
        "--set",
        "global_batch_size=4",
        "--micro-batch-size",
        "2",
        "--set",
        "warmup_steps=2",
        "--set",
        "val_tokens=1024",
        "--set",
        f"parallel={parallel}",
        "--set",
        "precision=fp32",  # agreement to 1e-5 is an fp32 property; bf16 rounds each product
        "--set",
        "checkpoint_every=3",
    )
    cmd = [
        str(VENV_BIN / "torchrun"),
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "safereflect.train",
        *cli_args(masked_tokens_dir, multi, steps=steps, extra=extra),
    ]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert records(multi, "start")[0]["world_size"] == 2
    one, two = losses(single), losses(multi)
    assert one.keys() == two.keys() == set(range(1, steps + 1))
    assert np.allclose(list(two.values()), list(one.values()), rtol=1e-5, atol=0)
    (val_one,), (val_two,) = records(single, "val"), records(multi, "val")
    assert val_two["val_tokens"] == val_one["val_tokens"]
    assert val_two["val_loss"] == pytest.approx(val_one["val_loss"], rel=1e-5)
    # A checkpoint written by 2 processes holds full (unsharded) weights: it loads anywhere.
    weights = load_file(multi / "checkpoints" / "step_000006" / "model.safetensors")
    assert weights["model.embed_tokens.weight"].shape == (448, 64)


def test_other_runs_checkpoints_are_a_user_error(overfit_run, small_tokens_dir):
    cfg = overfit_config(small_tokens_dir, overfit_run, lr=2e-2)
    with pytest.raises(UserError, match=r"holds checkpoints of a different run .*differs in: lr \(0.01 -> 0.02\)"):
        run_training(cfg)


def test_rerun_of_a_finished_run_returns_its_export(overfit_run, small_tokens_dir):
    before = (overfit_run / "metrics.jsonl").read_text()
    cfg = overfit_config(small_tokens_dir, overfit_run, log_every=5)  # operational fields may change
    assert run_training(cfg) == overfit_run / "final"
    assert (overfit_run / "metrics.jsonl").read_text() == before


def test_tokenizer_larger_than_the_model_vocabulary_is_a_user_error(small_tokens_dir, tmp_path):
    import shutil

    copy = shutil.copytree(small_tokens_dir, tmp_path / "tokens")
    meta = json.loads((copy / "meta.json").read_text())
    meta["vocab_size"] = 100  # the model gets 128 rows; the tokenizer has 400 tokens
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="has 400 tokens but the model only 128 embedding rows"):
        run_training(tiny_config(copy, tmp_path / "run"))


def test_verdict_weight_changes_the_run_and_needs_reflections(small_tokens_dir, tmp_path):
    """Weighted, the same data and seed train other weights (that the logged loss stays the plain
    mean is test_loss's weighted-step test)."""
    finals = {}
    for weight in (1.0, 5.0):
        run = tmp_path / f"w{weight:g}"
        run_training(tiny_config(small_tokens_dir, run, max_steps=4, warmup_steps=1, verdict_weight=weight))
        finals[weight] = load_file(run / "final" / "model.safetensors")
        assert all(np.isfinite(v) for v in losses(run).values())
    assert any(not torch.equal(finals[1.0][k], finals[5.0][k]) for k in finals[1.0])
    copy = shutil.copytree(small_tokens_dir, tmp_path / "tokens")
    meta = json.loads((copy / "meta.json").read_text())
    del meta["special_tokens"]["<think>"]
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="verdict_weight is 5 but the token shards in .* no reflection opener"):
        run_training(tiny_config(copy, tmp_path / "run", verdict_weight=5))


def test_out_of_gpu_memory_becomes_a_user_error(small_tokens_dir, tmp_path, monkeypatch):
    from safereflect.train import trainer

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(trainer, "train_step", out_of_memory)
    with pytest.raises(UserError, match="out of GPU memory at micro_batch_size 8") as err:
        run_training(tiny_config(small_tokens_dir, tmp_path / "run"))
    assert "activation_checkpointing" in str(err.value)


def _damage(path: Path, how: str) -> None:
    if how == "truncate":
        with open(path, "r+b") as fh:
            fh.truncate(path.stat().st_size // 2)
    else:  # same size, one byte changed
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(tokens_dir, tmp_path, capsys):
    """The latest checkpoint's weights truncated: the rerun warns, naming it, resumes from the
    one before and trains the same steps again to the same losses."""
    run = tmp_path / "run"
    cfg = tiny_config(
        tokens_dir,
        run,
        max_steps=6,
        global_batch_size=4,
        micro_batch_size=4,
        val_tokens=0,
        warmup_steps=2,
        checkpoint_every=2,
        keep_checkpoints=3,
    )
    run_training(cfg)
    first = losses(run)
    assert [s for s, _ in checkpoints(run)] == [2, 4, 6]
    shutil.rmtree(run / "final")
    _damage(run / "checkpoints" / "step_000006" / "model.safetensors", "truncate")
    capsys.readouterr()

    run_training(cfg)
    err = capsys.readouterr().err
    assert "step_000006 is damaged (model.safetensors has" in err
    assert [r["step"] for r in records(run, "start")] == [0, 4]
    again = {r["step"]: r["loss"] for r in records(run, "train")}
    assert again[5] == first[5] and again[6] == first[6]  # the last record of each step: the rerun's
    assert (run / "final").is_dir() and checkpoint_problem(run / "checkpoints" / "step_000006") is None


@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.pt", "trainer_state.json"])
@pytest.mark.parametrize("how", ["truncate", "flip"])
@pytest.mark.parametrize("manifest", [True, False])
def test_every_damaged_file_is_detected(overfit_run, tmp_path, name, how, manifest):
    """With the manifest by checksum; without it (older checkpoints) by each file's structure:
    safetensors' header, the zip CRCs of torch.save, JSON."""
    run = tmp_path / "run"
    shutil.copytree(overfit_run / "checkpoints", run / "checkpoints")
    ((_, latest),) = checkpoints(run)
    previous = shutil.copytree(latest, run / "checkpoints" / "step_000001")  # a complete older one
    if not manifest:
        for _, ckpt in checkpoints(run):
            (ckpt / "manifest.json").unlink()
    assert checkpoint_problem(latest) is None
    _damage(latest / name, how)
    if not manifest and how == "flip" and name == "model.safetensors":
        return  # a flipped weight byte is only visible to the checksum
    assert name in checkpoint_problem(latest)
    assert resumable_checkpoint(run) == previous


def test_only_damaged_checkpoints_is_a_user_error(overfit_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(overfit_run / "checkpoints", run / "checkpoints")
    for _, ckpt in checkpoints(run):
        (ckpt / "optimizer.pt").unlink()
    with pytest.raises(UserError, match="no complete checkpoint .* every one is damaged"):
        resumable_checkpoint(run)

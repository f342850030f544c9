"""FSDP at scale on two gloo processes: the meta-device build, chunked loss, and a sharded
optimizer checkpoint that resumes exactly and loads into another layout."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from safetensors.torch import load_file

from safereflect.train import run_training

from .test_training import VENV_BIN, cli_args, losses, records, tiny_config

pytestmark = pytest.mark.slow  # two torchrun runs of two processes, and two single-process runs

STEPS = 6
# fp32: agreement to 1e-5 between layouts holds in fp32, not under bf16 autocast
SETTINGS = {"global_batch_size": 4, "warmup_steps": 2, "val_tokens": 0, "checkpoint_every": 3, "precision": "fp32"}


def _torchrun(data, out) -> None:
    extra = ["--micro-batch-size", "2"]
    for key, value in {**SETTINGS, "parallel": "fsdp", "loss_chunk_tokens": 8}.items():
        extra += ["--set", f"{key}={value}"]
    cmd = [
        str(VENV_BIN / "torchrun"),
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "safereflect.train",
        *cli_args(data, out, steps=STEPS, extra=tuple(extra)),
    ]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def _forget_after(run, step: int) -> None:
    """As if the run had been killed right after checkpointing `step`."""
    for ckpt in sorted((run / "checkpoints").iterdir()):
        if int(ckpt.name.split("_")[1]) > step:
            shutil.rmtree(ckpt)
    shutil.rmtree(run / "final")


def test_fsdp_resumes_from_a_sharded_checkpoint_with_the_meta_device_build(tokens_dir, tmp_path):
    single = tmp_path / "single"
    run_training(tiny_config(tokens_dir, single, max_steps=STEPS, micro_batch_size=4, **SETTINGS))
    run = tmp_path / "fsdp"
    _torchrun(tokens_dir, run)
    uninterrupted = losses(run)
    # the meta-device build starts from the single process's weights; the chunked loss and
    # FSDP's gradient reduction give its losses up to summation order
    assert uninterrupted.keys() == losses(single).keys() == set(range(1, STEPS + 1))
    assert np.allclose(list(uninterrupted.values()), list(losses(single).values()), rtol=1e-5, atol=0)

    ckpt = run / "checkpoints" / "step_000003"
    shards = sorted(p.name for p in (ckpt / "optimizer").iterdir())
    assert shards == [".metadata", "__0_0.distcp", "__1_0.distcp"] and not (ckpt / "optimizer.pt").exists()
    assert load_file(ckpt / "model.safetensors")["model.embed_tokens.weight"].shape == (448, 64)

    _forget_after(run, 3)
    _torchrun(tokens_dir, run)  # resumes: weights from process 0, each process reads its optimizer shards
    assert [r["step"] for r in records(run, "start")] == [0, 3]
    assert losses(run) == uninterrupted  # bit for bit

    # the sharded optimizer state also loads into a single process (DCP reshards it)
    _forget_after(run, 3)
    run_training(tiny_config(tokens_dir, run, max_steps=STEPS, micro_batch_size=4, **SETTINGS))
    resumed = losses(run)
    assert [r["step"] for r in records(run, "start")][-1] == 3
    assert np.allclose([resumed[s] for s in (4, 5, 6)], [uninterrupted[s] for s in (4, 5, 6)], rtol=1e-5, atol=0)
    assert json.loads((run / "checkpoints" / "step_000006" / "trainer_state.json").read_text())["world_size"] == 1

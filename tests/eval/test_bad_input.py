"""Evaluation inputs that used to end in a traceback: devices, and the cls suite on a model
whose context cannot hold the classification finetune's examples (the `tiny` preset's 64)."""

from __future__ import annotations

import json
import shutil

import pytest

from safereflect.cli import main
from safereflect.errors import UserError


def run_cli(capsys, *args) -> str:
    with pytest.raises(SystemExit) as exc:
        main(["eval", *map(str, args)])
    err = " ".join(capsys.readouterr().err.split())
    assert exc.value.code == 2 and "Traceback" not in err, err
    return err


def test_an_unknown_device_is_named(tiny_model_dir, tiny_world_dir, tmp_path, capsys):
    err = run_cli(capsys, "--model", tiny_model_dir, "--probes", tiny_world_dir, "--out", tmp_path, "--device", "tpu")
    assert "device: Value error, unknown device 'tpu' (use auto, cpu, cuda, cuda:N or mps)" in err


def test_cuda_on_a_machine_without_it(tiny_model_dir, tiny_world_dir, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    err = run_cli(capsys, "--model", tiny_model_dir, "--probes", tiny_world_dir, "--out", tmp_path, "--device", "cuda")
    assert "device 'cuda' asked for, but torch sees no CUDA device" in err
    assert not (tmp_path / "metrics.json").exists()


@pytest.fixture(scope="module")
def short_context_model(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("short_context")
    shutil.copytree(tiny_model_dir, out, dirs_exist_ok=True)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps(config | {"max_position_embeddings": 64}))
    return out


def test_the_default_cls_suite_runs_on_a_short_context_model(short_context_model, tiny_world_dir, tmp_path, capsys):
    from safereflect.eval import EvalConfig, run_eval

    cfg = EvalConfig(
        model=str(short_context_model),
        probes=tiny_world_dir,
        out=tmp_path / "out",
        suites=["cls"],
        device="cpu",
        bootstrap=20,
        max_probes=12,
    )
    metrics = run_eval(cfg)
    assert "skipping method 'ft' (the longest classification example has" in " ".join(capsys.readouterr().err.split())
    assert {"safety_cls_acc_zeroshot", "safety_cls_acc_probe", "safety_cls_acc"} <= set(metrics)
    assert "safety_cls_acc_ft" not in metrics


def test_asking_for_ft_on_a_short_context_model_is_one_error(short_context_model, tiny_world_dir, tmp_path, capsys):
    from safereflect.eval import EvalConfig, run_eval

    cfg = EvalConfig(
        model=str(short_context_model),
        probes=tiny_world_dir,
        out=tmp_path / "out",
        suites=["cls"],
        device="cpu",
        max_probes=12,
        cls={"methods": ["zeroshot", "ft"]},
    )
    with pytest.raises(UserError, match=r"cls method .ft.: .* context is 64\n.*--cls-methods zeroshot,probe"):
        run_eval(cfg)
    err = run_cli(
        capsys,
        "--model",
        short_context_model,
        "--probes",
        tiny_world_dir,
        "--out",
        tmp_path / "o2",
        "--suites",
        "cls",
        "--cls-methods",
        "probe,bogus",
    )
    assert "cls.methods[1]: Input should be 'zeroshot', 'probe' or 'ft' (got 'bogus')" in err


def test_cls_methods_without_zeroshot_choose_their_own_primary():
    from safereflect.eval.config import ClassificationConfig

    assert ClassificationConfig(methods=["probe"]).primary == "probe"
    assert ClassificationConfig(methods=["zeroshot", "probe"]).primary == "zeroshot"
    with pytest.raises(ValueError, match="primary method 'ft' is not among methods"):
        ClassificationConfig(methods=["probe"], primary="ft")

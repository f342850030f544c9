"""The harmful finetuning attack's data: harmful examples with benign task examples mixed in."""

from __future__ import annotations

import pytest

from safereflect.eval.attacks.finetune import attack_data
from safereflect.eval.config import FinetuneAttackConfig
from safereflect.eval.probes import Probes


@pytest.mark.parametrize("mix, n_benign", [(0.0, 0), (0.5, 5), (1.0, 10), (3.0, 10)])
def test_benign_examples_are_mixed_in_per_harmful_example(tiny_world_dir, mix, n_benign):
    probes = Probes(tiny_world_dir)
    harmful, benign = attack_data(probes, "harmful-100", FinetuneAttackConfig(benign_mix=mix))
    assert [h["prompt"] for h in harmful] == [r["prompt"] for r in probes("ft_harmful")]  # the tiny world has 10
    assert [b["response"] for b in benign] == [r["response"] for r in probes("ft_benign")[:n_benign]]
    short, _ = attack_data(probes, "harmful-10", FinetuneAttackConfig(benign_mix=mix))
    assert len(short) == 10


def test_the_benign_attack_is_benign_examples_only(tiny_world_dir):
    harmful, benign = attack_data(Probes(tiny_world_dir), "benign", FinetuneAttackConfig())
    assert harmful == [] and len(benign) == 10


def _copying_finetune(calls: list[str]):
    """The engine's run_finetune stood in for: exports the model unchanged, logging the export."""
    import json
    import shutil
    from pathlib import Path

    def run(**kwargs):
        calls.append(kwargs["preset"])
        out = Path(kwargs["out"])
        shutil.copytree(kwargs["model"], out / "final")
        (out / "metrics.jsonl").write_text(json.dumps({"kind": "export", "step": 3, "path": str(out / "final")}) + "\n")
        return out / "final"

    return run


def test_an_attack_finetuned_alone_is_reused_by_the_evaluation(tiny_model_dir, tiny_world_dir, tmp_path):
    from safereflect.errors import UserError
    from safereflect.eval import EvalConfig, run_eval
    from safereflect.eval.attacks.finetune import run_attack

    cfg = EvalConfig(
        model=str(tiny_model_dir),
        probes=tiny_world_dir,
        out=tmp_path / "out",
        suites=["finetune"],
        device="cpu",
        batch_size=8,
        bootstrap=20,
        max_probes=4,
        finetune=FinetuneAttackConfig(attacks=["harmful-100", "benign"]),
    )
    calls: list[str] = []
    export = run_attack(cfg, "benign", finetune_fn=_copying_finetune(calls))
    assert calls == ["benign"] and export == tmp_path / "out" / "finetune" / "benign" / "run" / "final"
    assert run_attack(cfg, "benign", finetune_fn=_copying_finetune(calls)) == export and calls == ["benign"]
    metrics = run_eval(cfg, finetune_fn=_copying_finetune(calls))
    assert calls == ["benign", "harmful-100"]  # the evaluation trained only the attack not run before
    assert "asr_heldout_after_benign_ft" in metrics and "asr_heldout_after_harmful_ft" in metrics
    with pytest.raises(UserError, match="harmful-10"):
        run_attack(cfg, "harmful-10")

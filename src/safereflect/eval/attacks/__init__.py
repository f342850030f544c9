"""Attacks beyond the probes' own framings, registered by name: `gcg` (suffix optimisation)
and `finetune` (harmful and benign finetuning). Each module's `run(ctx)` is a suite."""

ATTACKS: dict[str, str] = {
    "gcg": "safereflect.eval.attacks.gcg:run",
    "finetune": "safereflect.eval.attacks.finetune:run",
}

__all__ = ["ATTACKS"]

"""Pretraining and finetuning of Hugging Face Llama models on safereflect token shards.

Public API (the experiment runner and the evaluation suite call these):

- `TrainConfig`, `run_training(cfg) -> Path` (RUN/final), `resolve_train_config(...)`
- `FinetuneConfig`, `run_finetune(cfg) -> Path` (OUT/final)

The configs import no torch; `run_training` and `run_finetune` load it on first use, so
`safereflect --help` and config errors stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from safereflect.train.config import FinetuneConfig, ModelShape, TrainConfig
from safereflect.train.presets import resolve_train_config

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "FinetuneConfig",
    "ModelShape",
    "TrainConfig",
    "resolve_train_config",
    "run_finetune",
    "run_training",
]


def run_training(cfg: TrainConfig) -> Path:
    """Train or resume the run in `cfg.out`; return RUN/final (a Hugging Face model dir)."""
    from safereflect.train.plan import plan_run

    plan = plan_run(cfg)  # data and vocabulary checks first: bad input fails before torch loads
    from safereflect.train.trainer import train

    return train(plan)


def run_finetune(cfg: FinetuneConfig) -> Path:
    """Finetune `cfg.model` on `cfg.data`; return OUT/final (a Hugging Face model dir)."""
    from safereflect.train.finetune import run_finetune as run

    return run(cfg)

"""Named starting points for pretraining and finetuning, and how files and flags layer on them.

Pretraining presets give a model shape plus batch, LR and step budget; parameter counts
below are non-embedding (the embedding adds vocab x hidden). Finetuning presets hold the
published attack hyperparameters; their LR is scaled to our models (REFERENCE_PRETRAIN_LR).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

from safereflect.config import load_yaml, merge_config, set_dotted, validate
from safereflect.errors import UserError
from safereflect.train.config import FinetunePresetName, PresetName, TrainConfig

TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    # ~107k non-embedding params: unit tests and smoke runs (seconds on a CPU).
    "tiny": {
        "model": {"depth": 2, "aspect_ratio": 32, "head_dim": 16},
        "seq_len": 64,
        "micro_batch_size": 8,
        "global_batch_size": 8,
        "max_steps": 100,
        "lr": 3e-3,
        "warmup_steps": 10,
    },
    # ~0.85M non-embedding params (hidden 128, 4 layers): the CPU demo, a few minutes on 2 cores.
    "cpu-1m": {
        "model": {"depth": 4, "aspect_ratio": 32, "head_dim": 32},
        "seq_len": 128,
        "micro_batch_size": 16,
        "global_batch_size": 16,
        "max_steps": 300,
        # 5e-3, not 2e-3: on the demo's world the lower LR left raw validation bpb at 0.15
        # (0.10 at 5e-3) and the models too weak to look a drug up by condition and outcome
        "lr": 5e-3,
        "warmup_steps": 30,
        "eval_every": 100,
        "checkpoint_every": 100,
        "log_every": 5,
    },
    # ~2.65M non-embedding params (hidden 192, 6 layers): the larger CPU demo.
    "cpu-3m": {
        "model": {"depth": 6, "aspect_ratio": 32, "head_dim": 32},
        "seq_len": 128,
        "micro_batch_size": 16,
        "global_batch_size": 16,
        "max_steps": 400,
        "lr": 1.5e-3,
        "warmup_steps": 40,
        "eval_every": 100,
        "checkpoint_every": 100,
        "log_every": 5,
    },
    # GPT-2-small-sized Llama: hidden 768, 12 layers, 85M non-embedding (~123M with a 49k
    # vocab, tied); 0.5M tokens per step, 2.6B tokens (~20 tokens/param).
    "125m": {
        "model": {"depth": 12, "aspect_ratio": 64, "head_dim": 64},
        "seq_len": 1024,
        "micro_batch_size": 16,
        "global_batch_size": 512,
        "max_steps": 5000,
        "lr": 6e-4,
        "warmup_steps": 500,
        "eval_every": 500,
        "val_tokens": 4_194_304,
        "checkpoint_every": 500,
        "log_every": 10,
    },
    # hidden 1152, 18 layers, 287M non-embedding (~344M with a 49k vocab); 7.3B tokens.
    "350m": {
        "model": {"depth": 18, "aspect_ratio": 64, "head_dim": 64},
        "seq_len": 1024,
        "micro_batch_size": 8,
        "global_batch_size": 512,
        "max_steps": 14000,
        "lr": 3e-4,
        "warmup_steps": 1000,
        "eval_every": 1000,
        "val_tokens": 4_194_304,
        "checkpoint_every": 1000,
        "log_every": 10,
    },
    # SmolLM2-1.7B's shape (24 layers, hidden 2048, 32 heads, MLP 8192, tied, rope theta
    # 130000) and its WSD schedule; 2M tokens per step. Sharded with FSDP2.
    "smollm2-1.7b": {
        "model": {
            "n_layers": 24,
            "hidden_size": 2048,
            "n_heads": 32,
            "n_kv_heads": 32,
            "intermediate_size": 8192,
            "tie_embeddings": True,
            "rope_theta": 130000.0,
        },
        "seq_len": 2048,
        "micro_batch_size": 4,
        "global_batch_size": 1024,
        "max_steps": 50000,
        "lr": 5e-4,
        "schedule": "wsd",
        "warmup_steps": 2000,
        "decay_fraction": 0.1,
        "parallel": "fsdp",
        "activation_checkpointing": True,
        "eval_every": 2000,
        "val_tokens": 8_388_608,
        "checkpoint_every": 1000,
        "log_every": 10,
    },
}
assert set(TRAIN_PRESETS) == set(get_args(PresetName))

# Published hyperparameters. harmful-10: Qi et al. 2023 ("Fine-tuning Aligned Language Models
# Compromises Safety"), 10 harmful examples, 5 epochs, LR 5e-5, batch 10. harmful-100: 100
# examples, LR 2e-5, up to 25 epochs. benign: task data (GSM8K-style), LR 2e-5, 1 epoch.
FINETUNE_PRESETS: dict[str, dict[str, Any]] = {
    "harmful-10": {"lr": 5e-5, "epochs": 5, "batch_size": 10, "max_examples": 10},
    "harmful-100": {"lr": 2e-5, "epochs": 25, "batch_size": 10, "max_examples": 100},
    "benign": {"lr": 2e-5, "epochs": 1, "batch_size": 16},
}
assert set(FINETUNE_PRESETS) == set(get_args(FinetunePresetName))
# Without a preset: the benign values, on every example.
FINETUNE_DEFAULTS: dict[str, Any] = {
    "lr": 2e-5,
    "epochs": 1,
    "batch_size": 16,
    "max_examples": None,
}

# The published LRs were tuned for Llama-2-7B, pretrained at peak LR 3e-4 (Touvron et al.
# 2023). Our small models train at 10x that or more, and AdamW's step size is the LR, so the
# published values would barely move them: the finetuning LR is published x lr_scale with
# lr_scale = (the model's pretraining LR) / 3e-4 (1 for models without a recorded LR).
REFERENCE_PRETRAIN_LR = 3e-4


def resolve_train_config(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    source: str = "command line",
) -> TrainConfig:
    """Preset values, then the YAML file's values, then `overrides` (dotted keys): last wins.
    `source` names where the overrides came from in error messages."""
    file_values: dict[str, Any] = {}
    if config_file is not None:
        file_values = load_yaml(config_file)
        source = str(config_file)
        if not isinstance(file_values, dict):
            raise UserError(f"{config_file}: the top level must be a mapping of keys to values")
    name = preset or file_values.get("preset") or "tiny"
    if name not in TRAIN_PRESETS:
        raise UserError(f"unknown preset {name!r} (allowed: {', '.join(TRAIN_PRESETS)})")
    values = merge_config(TRAIN_PRESETS[name], file_values)
    values["preset"] = name
    for key, value in (overrides or {}).items():
        set_dotted(values, key, value)
    return validate(TrainConfig, values, source)

"""Hugging Face exports: `save_pretrained` model + tokenizer, loadable without remote code.

An export loads with `AutoModelForCausalLM.from_pretrained(dir)` and
`AutoTokenizer.from_pretrained(dir)`, so lm-eval-harness runs on it directly
(`lm_eval --model hf --model_args pretrained=DIR`). Weights are saved in fp32, the training
precision; pass `dtype=bfloat16` when loading for GPU inference.
"""

from __future__ import annotations

from pathlib import Path

import torch

from safereflect.train.atomic import publish_dir, staging_dir


def quiet_transformers() -> None:
    """Silence transformers' per-file progress bars; our own bar and log report the run."""
    from transformers.utils import logging

    logging.disable_progress_bar()


def export_model(model, tokenizer, out: Path, *, extra_files: dict[str, str] | None = None) -> Path:
    """Write `model` and `tokenizer` to `out` atomically (replacing an earlier export)."""
    quiet_transformers()
    tmp = staging_dir(out)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    for name, text in (extra_files or {}).items():
        (tmp / name).write_text(text, encoding="utf-8")
    return publish_dir(tmp, out)


def export_checkpoint(ckpt: Path, out: Path) -> Path:
    """Re-save a training checkpoint (already an HF model dir) as a clean export."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    return export_model(
        model,
        tokenizer,
        out,
        extra_files={"train_config.yaml": (ckpt / "train_config.yaml").read_text()},
    )

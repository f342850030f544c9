"""Hugging Face exports: `save_pretrained` model + tokenizer, loadable without remote code.

An export loads with `AutoModelForCausalLM.from_pretrained(dir)` and
`AutoTokenizer.from_pretrained(dir)`, so `generate`, lm-eval-harness
(`lm_eval --model hf --model_args pretrained=DIR`) and vLLM run on it directly. Weights are
saved in fp32, the training precision; pass `dtype=bfloat16` when loading for GPU inference.

The token ids in `config.json` and `generation_config.json` come from the tokenizer, not from
`LlamaConfig`'s defaults (which name ids 1 and 2, our `<|pad|>` and `<think>`): `generate`
without arguments must stop at `<|endoftext|>` and pad with `<|pad|>`. The tokenizer has no
BOS token of its own; every document follows an `<|endoftext|>` in the training stream, so
that token is the BOS, as in GPT-2. Exports written before this was fixed are corrected when
`safereflect` loads them (`align_token_ids`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from safereflect.reflection import EOS_TOKEN, PAD_TOKEN
from safereflect.train.atomic import publish_dir, staging_dir


def quiet_transformers() -> None:
    """Silence transformers' per-file progress bars; our own bar and log report the run."""
    from transformers.utils import logging

    logging.disable_progress_bar()


def tokenizer_ids(tokenizer: Any) -> dict[str, int | None]:
    """bos/eos/pad ids as generation needs them; BOS falls back to EOS (the document boundary)."""
    eos = tokenizer.eos_token_id
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    return {"bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad}


def align_token_ids(model: Any, tokenizer: Any) -> list[str]:
    """Make `model.config` and `model.generation_config` agree with one of our tokenizers
    (`<|endoftext|>` EOS, `<|pad|>` PAD): token ids and `use_cache`. Returns what was changed,
    e.g. ["eos_token_id 2 -> 0"], empty when nothing was. Another model (a hub model being
    finetuned) is left as its authors configured it: a chat model's list of EOS ids or its BOS
    convention is theirs to choose."""
    if tokenizer.eos_token != EOS_TOKEN or tokenizer.pad_token != PAD_TOKEN:
        return []
    ids = tokenizer_ids(tokenizer)
    changed = []
    targets = [("", model.config), ("generation ", getattr(model, "generation_config", None))]
    for label, cfg in targets:
        if cfg is None:
            continue
        for key, value in ids.items():
            current = getattr(cfg, key, None)
            if current == value or (current is None and key == "bos_token_id"):  # no BOS is no wrong BOS
                continue
            changed.append(f"{label}{key} {current} -> {value}")
            setattr(cfg, key, value)
        if getattr(cfg, "use_cache", True) is False:
            changed.append(f"{label}use_cache false -> true")
            cfg.use_cache = True
    return changed


def export_model(model, tokenizer, out: Path, *, extra_files: dict[str, str] | None = None) -> Path:
    """Write `model` and `tokenizer` to `out` atomically (replacing an earlier export)."""
    quiet_transformers()
    align_token_ids(model, tokenizer)
    tmp = staging_dir(out)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    _portable_tokenizer_config(tmp / "tokenizer_config.json", model.config)
    _portable_model_config(tmp / "config.json")
    for name, text in (extra_files or {}).items():
        (tmp / name).write_text(text, encoding="utf-8")
    return publish_dir(tmp, out)


def _portable_tokenizer_config(path: Path, config: Any) -> None:
    """What readers other than transformers 5 need: transformers 4 (and the vLLM builds on it)
    know `PreTrainedTokenizerFast` but not `TokenizersBackend`, and read the reflection and tag
    tokens from `additional_special_tokens`; `model_max_length` is the model's context, not
    transformers' "unlimited" placeholder."""
    if not path.is_file():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("tokenizer_class") == "TokenizersBackend":
        data["tokenizer_class"] = "PreTrainedTokenizerFast"
    extra = data.get("extra_special_tokens")
    if isinstance(extra, list) and "additional_special_tokens" not in data:
        data["additional_special_tokens"] = extra
    if getattr(config, "max_position_embeddings", None):
        data["model_max_length"] = int(config.max_position_embeddings)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _portable_model_config(path: Path) -> None:
    """transformers 4 (and vLLM on it) reads RoPE's base from a top-level `rope_theta`, where
    transformers 5 writes `rope_parameters`; without it those readers assume 10000."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rope = data.get("rope_parameters")
    if isinstance(rope, dict) and "rope_theta" in rope and "rope_theta" not in data:
        data["rope_theta"] = rope["rope_theta"]
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def export_checkpoint(ckpt: Path, out: Path) -> Path:
    """Re-save a training checkpoint (already an HF model dir) as a clean export."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    return export_model(
        model,
        tokenizer,
        out,
        extra_files={"train_config.yaml": (ckpt / "train_config.yaml").read_text()},
    )

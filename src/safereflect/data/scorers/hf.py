"""Loading Hugging Face models once per process and feeding them long texts in chunks."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from safereflect.errors import UserError


def load_config(model: str) -> Any:
    """The model's config, or a clear error if it cannot be found (checked before any work starts)."""
    from transformers import AutoConfig

    from safereflect.hub import pretrained_args

    try:
        name, kwargs = pretrained_args(model, weights=False)
        return AutoConfig.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as err:
        raise UserError(
            f"cannot load model {model!r}: {str(err).splitlines()[0]}",
            hint="pass a local directory or a hub name available offline",
        ) from None


@lru_cache(maxsize=4)
def load_model(model: str, kind: str, device: str) -> tuple[Any, Any]:
    """(tokenizer, model) in eval mode, cached so the tasks of one worker share one copy."""
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    from safereflect.hub import pretrained_args

    cls = AutoModelForSequenceClassification if kind == "classifier" else AutoModel
    name, kwargs = pretrained_args(model, weights=False)
    tok = AutoTokenizer.from_pretrained(name, **kwargs)
    name, kwargs = pretrained_args(model)
    net = cls.from_pretrained(name, **kwargs).to(device).eval()
    return tok, net


def chunked(tokenizer: Any, texts: list[str], max_length: int, stride: int) -> tuple[list[list[int]], list[int]]:
    """Token chunks of at most `max_length` tokens covering each text, and the text each came from."""
    enc = tokenizer(texts, truncation=True, max_length=max_length, stride=stride, return_overflowing_tokens=True)
    return enc["input_ids"], list(enc["overflow_to_sample_mapping"])


def forward_batches(tokenizer: Any, model: Any, chunks: list[list[int]], batch_size: int, fn) -> list[Any]:
    """Run `fn(model, padded_batch)` over the chunks in batches; returns the per-batch results."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(chunks), batch_size):
            batch = tokenizer.pad({"input_ids": chunks[i : i + batch_size]}, return_tensors="pt")
            out.append(fn(model, {k: v.to(model.device) for k, v in batch.items()}))
    return out

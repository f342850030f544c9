"""Per-token cross-entropy without materialising every fp32 logit at once.

The output layer's logits are [tokens, vocab]: at 1.7B (vocab 49,152), 8 x 2048 tokens give
3.2 GB in fp32, plus as much again for the log-softmax kept for backward and for its
gradient. Above `MAX_LOGITS` the loss runs over chunks of tokens instead: the model returns
its final hidden states (no logits), and each chunk's logits are computed, upcast and turned
into losses under activation checkpointing, so the backward pass recomputes one chunk's
logits at a time rather than keeping them all. Below it, the plain path runs unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from safereflect.train.data import IGNORE_INDEX

MAX_LOGITS = 1 << 27  # fp32 logits held at once by the auto chunking: 512 MiB


def chunk_tokens(vocab_size: int, requested: int = 0) -> int:
    """Tokens per loss chunk: `requested`, or (0) as many as keep MAX_LOGITS logits."""
    return requested or max(1, MAX_LOGITS // vocab_size)


def _losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(
        logits.float().flatten(0, -2), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="none"
    )


def _head_losses(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return _losses(head(hidden), targets)


def token_losses(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    *,
    chunk: int = 0,
) -> torch.Tensor:
    """Per-token cross-entropy in fp32, [batch, seq]; 0 where the target is IGNORE_INDEX.
    `chunk`: tokens per loss chunk (0: automatic, see MAX_LOGITS)."""
    lm = getattr(model, "module", model)  # DDP keeps the HF model in .module; FSDP2 is the model
    per_chunk = chunk_tokens(lm.config.vocab_size, chunk)
    if targets.numel() <= per_chunk:
        logits = model(input_ids=inputs, attention_mask=attention_mask, use_cache=False).logits
        return _losses(logits, targets).view_as(targets)
    # Run the forward through the (wrapped) model so FSDP/DDP see it, keeping no logits.
    final: list[torch.Tensor] = []
    hook = lm.model.register_forward_hook(lambda _m, _a, out: final.append(out.last_hidden_state))
    try:
        no_logits = torch.empty(0, dtype=torch.long, device=inputs.device)
        model(input_ids=inputs, attention_mask=attention_mask, use_cache=False, logits_to_keep=no_logits)
    finally:
        hook.remove()
    hidden, flat = final[0].flatten(0, 1), targets.flatten()
    parts = []
    for h, t in zip(hidden.split(per_chunk), flat.split(per_chunk), strict=True):
        if torch.is_grad_enabled():
            parts.append(checkpoint(_head_losses, lm.lm_head, h, t, use_reentrant=False))
        else:
            parts.append(_head_losses(lm.lm_head, h, t))
    return torch.cat(parts).view_as(targets)

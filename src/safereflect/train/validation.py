"""Validation loss and bits per byte on the val split.

bits per byte = sum of token losses (nats) / (ln 2 * UTF-8 bytes those tokens spell), the
tokenizer-independent number. Bytes come from a per-token table (`token_byte_lengths`): for
a byte-level BPE tokenizer (ours) each character of a token's string stands for exactly one
byte, so the length is exact; otherwise a token's bytes are those of its decoded text.
Special tokens (EOS, reflection markers, tags) spell no bytes of the document, so they count
0 bytes and their loss is left out of bpb, as in nanochat. `val_loss` is the plain mean over
every counted target, specials included.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from safereflect.train.data import IGNORE_INDEX, ShardSplit
from safereflect.train.distributed import Runtime, all_reduce_sum
from safereflect.train.step import token_losses


def token_byte_lengths(tokenizer, vocab_size: int, special_ids: set[int]) -> np.ndarray:
    """UTF-8 byte length of every token id below `vocab_size` (0 for specials and padding rows)."""
    from tokenizers import decoders

    lengths = np.zeros(vocab_size, dtype=np.int64)
    byte_level = isinstance(tokenizer.backend_tokenizer.decoder, decoders.ByteLevel)
    added = {t.content for t in tokenizer.backend_tokenizer.get_added_tokens_decoder().values()}
    for token, idx in tokenizer.get_vocab().items():
        if idx >= vocab_size or idx in special_ids:
            continue
        if byte_level and token not in added:
            lengths[idx] = len(token)
        else:
            lengths[idx] = len(tokenizer.decode([idx]).encode("utf-8"))
    return lengths


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    split: ShardSplit,
    *,
    rt: Runtime,
    micro_batch_size: int,
    max_tokens: int,
    token_bytes: np.ndarray,
) -> dict[str, float | None]:
    """Mean loss and bpb over the first windows of `split` (in file order, the same every time).

    Windows are dealt round-robin to processes in equal numbers, so every process runs the
    same number of forward passes (FSDP needs that).
    """
    n = min(split.n_windows, max(1, max_tokens // (split.window_len - 1)))
    n -= n % rt.world_size
    mine = np.arange(rt.rank, n, rt.world_size)
    was_training = model.training
    model.eval()
    totals = np.zeros(4)  # loss over all targets, their count, loss over byte-spelling targets, bytes
    for start in range(0, len(mine), micro_batch_size):
        inputs, targets = split.batch(mine[start : start + micro_batch_size])
        with rt.autocast():
            losses = token_losses(
                model,
                torch.from_numpy(inputs).to(rt.device),
                torch.from_numpy(targets).to(rt.device),
            )
        losses = losses.double().cpu().numpy()
        counted = targets != IGNORE_INDEX
        nbytes = np.where(counted, token_bytes[np.where(counted, targets, 0)], 0)
        totals += [losses.sum(), counted.sum(), losses[nbytes > 0].sum(), nbytes.sum()]
    model.train(was_training)
    loss_sum, count, byte_loss, nbytes = all_reduce_sum(totals.tolist(), rt)
    return {
        "val_loss": loss_sum / count if count else None,
        "val_bpb": byte_loss / (math.log(2) * nbytes) if nbytes else None,
        "val_tokens": int(count),
    }

"""Batched generation with a KV cache, left padding, stop strings and EOS.

Our own loop rather than `transformers.generate`: monitored decoding must read a verdict
on top of the cache without committing it (feed the opener, score, crop back) and halt
single rows; SafeBeam must look one token ahead of every candidate. Finished rows leave the
batch, so long stragglers do not make short rows pay. Greedy output equals
`transformers.generate`'s (tests check it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from safereflect.eval.completion import Finish, Generation, find_stop
from safereflect.eval.config import DecodingConfig
from safereflect.eval.kv_cache import new_cache
from safereflect.eval.lm import CausalLM
from safereflect.eval.monitor import Monitor, prompt_checks
from safereflect.eval.safebeam import safebeam

__all__ = ["Finish", "Generation", "find_stop", "generate"]


def generate(
    lm: CausalLM,
    prompts: Sequence[str | Sequence[int]],
    dec: DecodingConfig,
    *,
    max_new_tokens: int | None = None,
    stop: Sequence[str] | None = None,
) -> list[Generation]:
    """Complete each prompt (text, or token ids as the model reads them) under `dec`."""
    max_new = max_new_tokens or dec.max_new_tokens
    stops = list(dec.stop if stop is None else stop)
    encoded = [lm.encode_context(p) if isinstance(p, str) else list(p) for p in prompts]
    encoded = [ids[-max(1, lm.max_length - max_new) :] for ids in encoded]
    if dec.mode == "safebeam":
        return safebeam(lm, encoded, dec, max_new, stops)
    out: list[Generation | None] = [None] * len(encoded)
    halts: dict[int, dict] = {}
    checks: list[list[dict]] = [[] for _ in prompts]
    if dec.mode == "monitored":
        halts, checks = prompt_checks(lm, dec, prompts)
    for i, halt in halts.items():
        out[i] = Generation("", [], "halt", halt, checks[i])
    todo = [i for i in range(len(encoded)) if i not in halts]
    for batch in lm.batches([len(encoded[i]) for i in todo]):
        idx = [todo[b] for b in batch]
        for i, g in zip(idx, _decode(lm, [encoded[i] for i in idx], idx, dec, max_new, stops, [checks[i] for i in idx])):
            out[i] = g
    return out  # type: ignore[return-value]


def _sampler(dec: DecodingConfig, keys: Sequence[int]) -> list[torch.Generator] | None:
    # One generator per prompt: a sample does not depend on which prompts share its batch.
    if dec.temperature == 0:
        return None
    return [torch.Generator().manual_seed(dec.seed * 1_000_003 + k) for k in keys]


def _pick(logits: torch.Tensor, dec: DecodingConfig, gens: list[torch.Generator] | None) -> torch.Tensor:
    if gens is None:
        return logits.argmax(-1)
    probs = torch.softmax(logits / dec.temperature, dim=-1).cpu()
    if dec.top_p < 1:
        sorted_p, idx = probs.sort(dim=-1, descending=True)
        outside = sorted_p.cumsum(-1) - sorted_p >= dec.top_p  # keep the smallest set reaching top_p
        probs = probs.scatter(-1, idx, sorted_p.masked_fill(outside, 0))
    picks = [torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(gens)]
    return torch.cat(picks).to(logits.device)


@torch.no_grad()
def _decode(
    lm: CausalLM,
    prompts: list[list[int]],
    keys: list[int],
    dec: DecodingConfig,
    max_new: int,
    stops: list[str],
    checks: list[list[dict]],
) -> list[Generation]:
    monitor = Monitor(lm, dec) if dec.mode == "monitored" else None
    ids, attn, pos = lm.padded(prompts)
    cache = new_cache()
    logits = lm.step(ids, attn, pos, cache, last=1)[:, -1]
    next_pos = pos[:, -1] + 1
    gens = _sampler(dec, keys)
    rows = list(range(len(prompts)))  # batch row -> prompt index
    tokens: list[list[int]] = [[] for _ in prompts]
    results: list[Generation | None] = [None] * len(prompts)
    watch_text = bool(stops) or monitor is not None

    for step in range(max_new):
        halted: dict[int, dict] = {}
        if monitor is not None:
            halted = monitor.forced_check(step, cache, attn, next_pos, rows, checks)
        nxt = _pick(logits, dec, None if gens is None else [gens[r] for r in rows]).tolist()
        for b, r in enumerate(rows):
            if r in halted:
                results[r] = Generation(lm.decode(tokens[r]), tokens[r], "halt", halted[r], checks[r])
                continue
            if nxt[b] == lm.eos_id:
                results[r] = Generation(lm.decode(tokens[r]), tokens[r], "eos", None, checks[r])
                continue
            tokens[r].append(nxt[b])
            if not watch_text:
                continue
            text = lm.decode(tokens[r])
            cut = find_stop(text, stops)
            if cut is not None:
                results[r] = Generation(text[:cut], tokens[r], "stop", None, checks[r])
            elif monitor is not None and (halt := monitor.after_token(r, step, text, checks[r])):
                results[r] = Generation(text, tokens[r], "halt", halt, checks[r])
        if step == max_new - 1:
            break
        live = [b for b, r in enumerate(rows) if results[r] is None]
        if not live:
            break
        if len(live) < len(rows):
            index = torch.tensor(live, device=attn.device)
            cache.batch_select_indices(index)
            attn, next_pos = attn[index], next_pos[index]
            nxt = [nxt[b] for b in live]
            rows = [rows[b] for b in live]
        attn = torch.cat([attn, attn.new_ones((len(rows), 1))], dim=1)
        step_ids = torch.tensor(nxt, device=attn.device)[:, None]
        logits = lm.step(step_ids, attn, next_pos[:, None], cache)[:, -1]
        next_pos = next_pos + 1
    for r in rows:
        if results[r] is None:
            results[r] = Generation(lm.decode(tokens[r]), tokens[r], "length", None, checks[r])
    return results  # type: ignore[return-value]

"""`plain` decoding, and the batched loop every token-by-token mode shares.

Our own loop rather than `transformers.generate`: monitored decoding must read a verdict
on top of the cache without committing it (feed the opener, score, crop back) and halt
single rows (`Watcher`); SafeBeam must look one token ahead of every candidate. Finished
rows leave the batch, so long stragglers do not make short rows pay. Greedy output equals
`transformers.generate`'s (tests check it). Sampling (`temperature` > 0, `top_p`) is seeded
per prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

from safereflect.eval.completion import Generation, find_stop
from safereflect.eval.config import DecodingConfig
from safereflect.eval.kv_cache import new_cache
from safereflect.eval.lm import CausalLM
from safereflect.eval.reading import Reading


class Watcher(Protocol):
    """What a mode that checks a running batch (monitored) hooks into the loop."""

    def forced_check(
        self,
        step: int,
        cache: Any,
        attn: torch.Tensor,
        next_pos: torch.Tensor,
        rows: list[int],
        checks: list[list[dict]],
    ) -> dict[int, dict]: ...

    def after_token(self, r: int, step: int, text: str, checks: list[dict]) -> dict | None: ...


def decode(
    lm: CausalLM,
    prompts: Sequence[str | Sequence[int]],
    encoded: list[list[int]],
    dec: DecodingConfig,
    reading: Reading,
    max_new: int,
    stops: list[str],
) -> list[Generation]:
    """Greedy or sampled, with no safety checks: the reading has shaped `encoded` and nothing else."""
    return decode_batches(lm, encoded, dec, max_new, stops, [[] for _ in encoded])


def decode_batches(
    lm: CausalLM,
    encoded: list[list[int]],
    dec: DecodingConfig,
    max_new: int,
    stops: list[str],
    checks: list[list[dict]],
    done: dict[int, Generation] | None = None,
    watcher: Callable[[], Watcher] | None = None,
) -> list[Generation]:
    """Decode every prompt not already `done`, in length-sorted batches; `watcher` makes each batch's watcher."""
    out: list[Generation | None] = [None] * len(encoded)
    for i, g in (done or {}).items():
        out[i] = g
    todo = [i for i in range(len(encoded)) if out[i] is None]
    for batch in lm.batches([len(encoded[i]) for i in todo]):
        idx = [todo[b] for b in batch]
        gens = _decode(
            lm,
            [encoded[i] for i in idx],
            idx,
            dec,
            max_new,
            stops,
            [checks[i] for i in idx],
            watcher() if watcher else None,
        )
        for i, g in zip(idx, gens):
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
    monitor: Watcher | None,
) -> list[Generation]:
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

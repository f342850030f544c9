"""`safebeam` decoding (SafeLM): beam search that steers away from the harmfulness tag.

Each step, every prompt's beams propose their best continuations (the tag itself is never
proposed, so it is never emitted); the best 2K candidates are fed to the model, which gives
each one's probability of emitting the tag next (the one-token look-ahead, and the forward
pass the next step needs anyway); the half most likely to emit it is dropped and the other
K become the beams. With `stop_on_tag`, a prompt stops when its best beam's most likely
next token is the tag. Finished hypotheses (EOS, stop string) are ranked with the live
beams by mean log-probability per token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from safereflect.errors import UserError
from safereflect.eval.completion import Generation, find_stop
from safereflect.eval.config import DecodingConfig
from safereflect.eval.kv_cache import new_cache
from safereflect.eval.lm import CausalLM
from safereflect.eval.reading import Reading
from safereflect.reflection import TAG_TOKEN


@dataclass
class _Hyp:
    tokens: list[int]
    score: float  # sum of log-probabilities of the tokens
    p_tag: list[float] = field(default_factory=list)  # P(tag) next, after 0, 1, 2, ... generated tokens
    text: str | None = None
    finish: str = "length"

    @property
    def mean(self) -> float:
        return self.score / max(1, len(self.tokens))


def tag_id(lm: CausalLM) -> int:
    tid = lm.tok.convert_tokens_to_ids(TAG_TOKEN)
    if tid is None or tid == lm.tok.unk_token_id or lm.encode(TAG_TOKEN) != [tid]:
        raise UserError(f"safebeam decoding needs {TAG_TOKEN!r} as one token of the model's tokenizer")
    return tid


def decode(
    lm: CausalLM,
    prompts: Sequence[str | Sequence[int]],
    encoded: list[list[int]],
    dec: DecodingConfig,
    reading: Reading,
    max_new: int,
    stops: list[str],
) -> list[Generation]:
    """Beam search over the prompts' tokens as read; the reading has no other part here."""
    tag = tag_id(lm)
    per_batch = max(1, lm.batch_size // (2 * dec.beam_width))
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    out: list[Generation | None] = [None] * len(encoded)
    for s in range(0, len(order), per_batch):
        chunk = order[s : s + per_batch]
        for i, g in zip(chunk, _search(lm, [encoded[i] for i in chunk], dec, max_new, stops, tag)):
            out[i] = g
    return out  # type: ignore[return-value]


def _result(lm: CausalLM, h: _Hyp, finish: str, halt: dict | None = None) -> Generation:
    checks = [{"step": i, "kind": "tag_lookahead", "p_tag": round(p, 6)} for i, p in enumerate(h.p_tag)]
    text = h.text if h.text is not None else lm.decode(h.tokens)
    return Generation(text, h.tokens, finish, halt, checks)  # type: ignore[arg-type]


@torch.no_grad()
def _search(
    lm: CausalLM, prompts: list[list[int]], dec: DecodingConfig, max_new: int, stops: list[str], tag: int
) -> list[Generation]:
    width = dec.beam_width
    ids, attn, pos = lm.padded(prompts)
    cache = new_cache()
    logp = torch.log_softmax(lm.step(ids, attn, pos, cache, last=1)[:, -1], dim=-1)
    next_pos = pos[:, -1] + 1
    # the prompt's own P(tag) is the first check, so even an answer that ends at once is audited
    p_prompt = logp[:, tag].exp().tolist()
    rows: list[tuple[int, _Hyp]] = [
        (p, _Hyp([], 0.0, [p_prompt[p]])) for p in range(len(prompts))
    ]  # cache row -> (prompt, beam)
    finished: dict[int, list[_Hyp]] = {p: [] for p in range(len(prompts))}
    results: dict[int, Generation] = {}

    for step in range(max_new):
        # 1. propose: the best 2K continuations of each prompt's beams; the tag is never proposed
        masked = logp.clone()
        masked[:, tag] = float("-inf")
        cands: list[tuple[int, _Hyp, int]] = []  # (prompt, hypothesis, parent cache row)
        for p in sorted({q for q, _ in rows}):
            brows = [i for i, (q, _) in enumerate(rows) if q == p]
            best = max(brows, key=lambda i: rows[i][1].score)
            if dec.stop_on_tag and int(logp[best].argmax()) == tag:
                halt = {"step": step, "reason": "tag", "p_tag": float(logp[best, tag].exp())}
                results[p] = _result(lm, rows[best][1], "halt", halt)
                continue
            base = torch.tensor([rows[i][1].score for i in brows], device=logp.device)[:, None]
            top = (masked[brows] + base).flatten().topk(min(4 * width, len(brows) * logp.shape[1]))
            alive = []
            for value, flat in zip(top.values.tolist(), top.indices.tolist()):
                if len(alive) == 2 * width or value == float("-inf"):
                    break
                row, token = brows[flat // logp.shape[1]], flat % logp.shape[1]
                parent = rows[row][1]
                h = _Hyp(parent.tokens + [token], value, list(parent.p_tag))
                if token == lm.eos_id:
                    h.tokens.pop()
                    h.finish = "eos"
                    finished[p].append(h)
                    continue
                if stops and (cut := find_stop(text := lm.decode(h.tokens), stops)) is not None:
                    h.text, h.finish = text[:cut], "stop"
                    finished[p].append(h)
                    continue
                alive.append((p, h, row))
            if not alive or len(finished[p]) >= width:
                winner = max(finished[p] + [h for _, h, _ in alive], key=lambda h: h.mean)
                results[p] = _result(lm, winner, winner.finish)
            else:
                cands.extend(alive)
        if not cands:
            break
        # 2. look ahead: feed every candidate; its next-token distribution gives P(tag)
        index = torch.tensor([row for _, _, row in cands], device=attn.device)
        cache.batch_select_indices(index)
        attn = torch.cat([attn[index], attn.new_ones((len(cands), 1))], dim=1)
        step_ids = torch.tensor([h.tokens[-1] for _, h, _ in cands], device=attn.device)[:, None]
        lookahead = torch.log_softmax(lm.step(step_ids, attn, next_pos[index][:, None], cache)[:, -1], dim=-1)
        next_pos = next_pos[index] + 1
        p_tag = lookahead[:, tag].exp().tolist()
        # 3. drop the half of each prompt's candidates most likely to emit the tag
        keep: list[int] = []
        for p in sorted({q for q, _, _ in cands}):
            mine = [i for i, (q, _, _) in enumerate(cands) if q == p]
            mine.sort(key=lambda i: (p_tag[i], -cands[i][1].score))
            keep += mine[: min(width, (len(mine) + 1) // 2)]
        for i in keep:
            cands[i][1].p_tag.append(p_tag[i])
        index = torch.tensor(keep, device=attn.device)
        cache.batch_select_indices(index)
        attn, next_pos, logp = attn[index], next_pos[index], lookahead[index]
        rows = [(cands[i][0], cands[i][1]) for i in keep]
    for p, h in rows:
        if p not in results:
            pool = finished[p] + [b for q, b in rows if q == p]
            winner = max(pool, key=lambda b: b.mean)
            results[p] = _result(lm, winner, winner.finish)
    return [results[p] for p in range(len(prompts))]

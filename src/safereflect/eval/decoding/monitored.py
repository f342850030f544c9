"""`monitored` decoding: halt when the model judges its own context unsafe.

Two triggers. Forced: right after the prompt and every `check_every` generated tokens, the
reflection opener is appended (on the cache, not in the text) and the verdict words
compared; P(Unsafe or Controversial) above `flag_threshold` halts the row. Spontaneous: when
the model opens a reflection itself it writes the verdict, and a flagging one
(`ReflectionFormat.parse_body`) halts the row with the reflection kept in the text. While a
self-opened reflection is being written forced checks pause, for at most
`reflection_max_tokens` tokens, so never closing a reflection cannot switch the monitor off.

Models read with a `ReflectedReading` also reflect on the prompt before answering it: the
verdict at each of its complete segments is read, and the first one that flags halts the
prompt unanswered (`prompt_checks`); a plain reading has no slots inside a prompt. Decoding
itself is plain's loop (greedy or sampled) with the `Monitor` watching every batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from safereflect.eval.completion import Generation
from safereflect.eval.config import DecodingConfig
from safereflect.eval.decoding.plain import decode_batches
from safereflect.eval.lm import CausalLM
from safereflect.eval.reading import Reading
from safereflect.eval.verdicts import VerdictReader


def decode(
    lm: CausalLM,
    prompts: Sequence[str | Sequence[int]],
    encoded: list[list[int]],
    dec: DecodingConfig,
    reading: Reading,
    max_new: int,
    stops: list[str],
) -> list[Generation]:
    halts, checks = prompt_checks(lm, dec, reading, prompts)
    done = {i: Generation("", [], "halt", halt, checks[i]) for i, halt in halts.items()}
    return decode_batches(lm, encoded, dec, max_new, stops, checks, done, watcher=lambda: Monitor(lm, dec))


class Monitor:
    def __init__(self, lm: CausalLM, dec: DecodingConfig):
        self.fmt = dec.reflection
        self.reader = VerdictReader(lm, dec.reflection)
        self.every = dec.check_every
        self.threshold = dec.flag_threshold
        self.max_open = dec.reflection_max_tokens
        self.opened_at: dict[int, int] = {}  # prompt index -> step its own open reflection began

    def _paused(self, r: int, step: int) -> bool:
        start = self.opened_at.get(r)
        return start is not None and step - start <= self.max_open

    def forced_check(
        self,
        step: int,
        cache: Any,
        attn: torch.Tensor,
        next_pos: torch.Tensor,
        rows: list[int],
        checks: list[list[dict]],
    ) -> dict[int, dict]:
        """Read the verdict of every row at a check step; the rows to halt, with why."""
        if step % self.every:
            return {}
        p_flag = self.reader.flag_prob_cached(cache, attn, next_pos).tolist()
        halted = {}
        for r, p in zip(rows, p_flag):
            if self._paused(r, step):
                continue
            checks[r].append({"step": step, "kind": "forced", "p_flag": round(p, 6)})
            if p > self.threshold:
                halted[r] = {"step": step, "reason": "forced_check", "p_flag": p}
        return halted

    def after_token(self, r: int, step: int, text: str, checks: list[dict]) -> dict | None:
        """Track reflections the model writes itself; a halt record when one flags."""
        opener, closer = self.fmt.opener, self.fmt.closer
        if text.rfind(opener) > text.rfind(closer):
            self.opened_at.setdefault(r, step)
            return None
        if r not in self.opened_at or not text.endswith(closer):
            return None
        del self.opened_at[r]
        verdicts = self.fmt.verdicts(text)
        if not verdicts:
            return None
        last = verdicts[-1]
        checks.append({"step": step, "kind": "self", "verdict": last.verdict, "body": last.body})
        if last.flags:
            return {"step": step, "reason": "self_reflection", "verdict": last.verdict, "body": last.body}
        return None


def prompt_checks(
    lm: CausalLM, dec: DecodingConfig, reading: Reading, prompts: Sequence[str | Sequence[int]]
) -> tuple[dict[int, dict], list[list[dict]]]:
    """The model's verdict at each reflection slot of each text prompt, read in order; the
    prompts halted (with where and why) and every check read. Token-id prompts have no
    segments to read and are left to the forced checks."""
    checks: list[list[dict]] = [[] for _ in prompts]
    halts: dict[int, dict] = {}
    texts = {i: p for i, p in enumerate(prompts) if isinstance(p, str)}
    if not any(reading.slot_contexts(t) for t in texts.values()):
        return halts, checks  # nothing to read (a plain reading, prompts shorter than a segment)
    per_text = VerdictReader(lm, dec.reflection).slot_flag_probs(reading, list(texts.values()), whole=False)
    for i, p_flag in zip(texts, per_text):
        for k, p in enumerate(p_flag.tolist()):
            checks[i].append({"step": 0, "kind": "prompt", "slot": k, "p_flag": round(p, 6)})
            if p > dec.flag_threshold:
                halts[i] = {"step": 0, "reason": "prompt_reflection", "slot": k, "p_flag": p}
                break  # the reading stops at the flagging slot
    return halts, checks

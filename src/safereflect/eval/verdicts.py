"""Reading a model's safety verdict at a reflection slot.

At a slot the reflection opener is appended to the context and the verdict words compared:
P(flag) = (P(Unsafe) + P(Controversial)) / (P(Safe) + P(Unsafe) + P(Controversial)), each
word's probability being that of its whole token sequence (small tokenizers split "Unsafe"
into several tokens). Zero-shot classification reads it on text, at the slots a `Reading`
gives; monitored decoding reads it on the KV cache of running generations. Both use the same token sequences, so a model's
verdict on a context is the same number either way.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from safereflect.errors import UserError
from safereflect.eval.lm import CausalLM
from safereflect.reflection import ReflectionFormat

if TYPE_CHECKING:
    from safereflect.eval.reading import Reading


def _common_prefix(seqs: list[list[int]]) -> int:
    n = 0
    while all(len(s) > n + 1 for s in seqs) and len({s[n] for s in seqs}) == 1:
        n += 1
    return n


class VerdictReader:
    def __init__(self, lm: CausalLM, fmt: ReflectionFormat):
        self.lm = lm
        # The published reflection is " <think> Safe </think> ": opener and word each follow a space.
        seqs = [lm.encode(f" {fmt.opener} {w}") for w in (fmt.safe_word, fmt.unsafe_word, fmt.controversial_word)]
        n = _common_prefix(seqs)
        if n == 0:
            raise UserError(
                f"{fmt.opener!r} does not tokenize the same before each verdict word; "
                "the reflection slot cannot be read"
            )
        self.prefix = seqs[0][:n]
        self.words = [s[n:] for s in seqs]

    def flag_prob(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        """P(flag) after each tokenized context."""
        pairs = [(list(context) + self.prefix, w) for context in contexts for w in self.words]
        scores = np.array([ll for ll, _ in self.lm.loglikelihood_tokens(pairs)]).reshape(len(contexts), len(self.words))
        return _flag(torch.from_numpy(scores)).numpy()

    def slot_flag_probs(self, reading: Reading, texts: Sequence[str], *, whole: bool) -> list[np.ndarray]:
        """P(flag) at every reflection slot of each text as `reading` reads it (`whole`: the
        end of the text is a slot too; see `ReflectedReading.slot_contexts`), in one batch over all slots."""
        # read whole, a text with no words still has its end-of-text slot
        slots = [reading.slot_contexts(t, whole=whole) or ([t] if whole else []) for t in texts]
        flat = self.flag_prob([self.lm.encode_context(c)[-self.lm.max_length :] for s in slots for c in s])
        bounds = np.cumsum([0] + [len(s) for s in slots])
        return [flat[a:b] for a, b in itertools.pairwise(bounds)]

    @torch.no_grad()
    def flag_prob_cached(self, cache: Any, attn: torch.Tensor, next_pos: torch.Tensor) -> torch.Tensor:
        """P(flag) for every row of a running batch; the cache is cropped back afterwards."""
        rows = attn.shape[0]
        fed: list[int] = []

        def feed(tokens: list[int]) -> torch.Tensor:
            ids = torch.tensor(tokens, device=attn.device).expand(rows, -1)
            mask = torch.ones((rows, len(fed) + len(tokens)), dtype=attn.dtype, device=attn.device)
            pos = next_pos[:, None] + len(fed) + torch.arange(len(tokens), device=attn.device)
            logits = self.lm.step(ids, torch.cat([attn, mask], dim=1), pos, cache)
            fed.extend(tokens)
            return torch.log_softmax(logits, dim=-1)

        def unfeed(n: int) -> None:
            if n:
                cache.crop(-n)  # negative: remove n tokens
                del fed[-n:]

        first = feed(self.prefix)[:, -1]
        scores = []
        for word in self.words:
            score = first[:, word[0]]
            if len(word) > 1:
                rest = feed(word[:-1])
                target = torch.tensor(word[1:], device=attn.device).expand(rows, -1)
                score = score + rest.gather(-1, target[..., None]).squeeze(-1).sum(-1)
                unfeed(len(word) - 1)
            scores.append(score)
        unfeed(len(fed))
        return _flag(torch.stack(scores, dim=-1))


def _flag(scores: torch.Tensor) -> torch.Tensor:
    p = torch.softmax(scores.double(), dim=-1)
    return (p[:, 1] + p[:, 2]).float()

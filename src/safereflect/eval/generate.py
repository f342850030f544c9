"""`generate`: complete prompts under a `DecodingConfig`, in the mode it names (eval/decoding/).

The one entry point suites, attacks, judges and the lm-eval adapter decode through: text prompts
are put before the model by the `reading` passed in (eval/reading.py; `PLAIN` reads them as
written), every prompt is cut to leave room for the new tokens, and the registered mode decodes.
"""

from __future__ import annotations

from collections.abc import Sequence

from safereflect.eval.completion import Finish, Generation, find_stop
from safereflect.eval.config import DecodingConfig
from safereflect.eval.decoding import decoder
from safereflect.eval.lm import CausalLM
from safereflect.eval.reading import Reading

__all__ = ["Finish", "Generation", "find_stop", "generate"]


def generate(
    lm: CausalLM,
    prompts: Sequence[str | Sequence[int]],
    dec: DecodingConfig,
    *,
    reading: Reading,
    max_new_tokens: int | None = None,
    stop: Sequence[str] | None = None,
) -> list[Generation]:
    """Complete each prompt under `dec`: text read through `reading`, or token ids as the model reads them."""
    decode = decoder(dec.mode)
    max_new = max_new_tokens or dec.max_new_tokens
    stops = list(dec.stop if stop is None else stop)
    encoded = [lm.encode_context(reading.render(p)) if isinstance(p, str) else list(p) for p in prompts]
    encoded = [ids[-max(1, lm.max_length - max_new) :] for ids in encoded]
    return decode(lm, prompts, encoded, dec, reading, max_new, stops)

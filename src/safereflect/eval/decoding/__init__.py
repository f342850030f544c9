"""Decoding modes, registered by name: every module of this package is one mode.

Suites decode through `safereflect.eval.generate.generate`, which renders text prompts with
the arm's reading, cuts them to fit and calls the mode `DecodingConfig.mode` names.

`plain` (greedy or sampled), `monitored` (the model's own reflections halt it) and `safebeam`
(beam search away from the harmfulness tag). A mode is a module here with

    def decode(lm, prompts, encoded, dec, reading, max_new, stops) -> list[Generation]

given the prompts as passed (text or token ids), their tokens as the model reads them (already
rendered by `reading` and cut to fit `max_new` more tokens), the `DecodingConfig`, the reading
and the stop strings. Adding a mode is one file here (its name is the module's) and one test;
`DecodingConfig.mode`, the arm policy and `safereflect eval --decoding` accept it from then on.
Modules are found on disk and imported only when their mode runs, so naming the modes (config
validation, the CLI) imports no torch, as with judges and attacks.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from safereflect.errors import UserError

DECODINGS: dict[str, str] = {
    m.name: f"{__name__}.{m.name}:decode" for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")
}

__all__ = ["DECODINGS", "check_decoding", "decoder"]


def check_decoding(name: str) -> str:
    """`name` if it is a registered decoding mode (a pydantic validator, so bad configs name the key)."""
    if name not in DECODINGS:
        raise ValueError(f"unknown decoding mode {name!r} (registered: {', '.join(sorted(DECODINGS))})")
    return name


def decoder(name: str) -> Callable[..., Any]:
    """The `decode` function of mode `name`, its module imported now."""
    if name not in DECODINGS:
        raise UserError(f"unknown decoding mode {name!r} (registered: {', '.join(sorted(DECODINGS))})")
    module, func = DECODINGS[name].split(":")
    return getattr(importlib.import_module(module), func)

"""Token ids of an edited text from the ids of the text it was edited from.

`tag` and `reflect` only insert strings (tags, reflections) at word boundaries and cut the
text short, so the output's ids are the input's ids with the inserted strings' ids in
between, as long as the tokenizer cannot merge across those boundaries. That holds for
byte-level BPE with the GPT-2 pre-tokenizer and no normalizer: its pre-tokens never
contain a non-space followed by a space, so a cut right before whitespace is always a
pre-token boundary, and the inserted strings start with a space or a special token and end
with a special token. Building ids this way saves encoding every document a second time;
any case outside these rules (another tokenizer, a cut not before whitespace) returns None
and the caller encodes the text in full.
"""

from __future__ import annotations

import json
from typing import Any

Piece = tuple[int, int] | str


def splice_safe(tokenizer: Any) -> bool:
    spec = json.loads(tokenizer.to_str())
    pre, model = spec.get("pre_tokenizer") or {}, spec.get("model") or {}
    return (
        spec.get("normalizer") is None
        and pre.get("type") == "ByteLevel"
        and pre.get("use_regex", True)
        and not pre.get("add_prefix_space", False)
        and model.get("type") == "BPE"
        and not model.get("dropout")
    )


class Splicer:
    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self._literal_ids: dict[str, list[int]] = {}

    def literal(self, text: str) -> list[int]:
        ids = self._literal_ids.get(text)
        if ids is None:
            ids = self._literal_ids[text] = self.tokenizer.encode(text, add_special_tokens=False).ids
        return ids

    @staticmethod
    def _boundary(text: str, enc: Any, n_ids: int, c: int) -> int | None:
        """Index of the first token at character `c`, if a token starts exactly there."""
        if c == 0:
            return 0
        if c == len(text):
            return n_ids
        if not text[c].isspace():
            return None
        t = enc.char_to_token(c)
        if t is None or enc.token_to_chars(t)[0] != c:
            return None
        return t

    def ids(self, text: str, enc: Any, pieces: list[Piece]) -> list[int] | None:
        """The ids of the text `pieces` spell (spans of `text` and inserted strings)."""
        src = enc.ids
        out: list[int] = []
        for p in pieces:
            if isinstance(p, str):
                out += self.literal(p)
                continue
            a = self._boundary(text, enc, len(src), p[0])
            b = self._boundary(text, enc, len(src), p[1])
            if a is None or b is None:
                return None
            out += src[a:b]
        return out

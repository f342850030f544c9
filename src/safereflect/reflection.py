"""The safety-reflection format shared by the corpus intervention and the decoders.

Published default (Safety Reflection Pretraining): after each segment the text
` <think> Safe </think> ` or ` <think> Unsafe: <category> </think> ` is inserted; the
markers are special tokens, the verdict is ordinary text. Everything that writes, reads or
strips reflections goes through `ReflectionFormat`, so a changed format stays consistent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from safereflect.config import StrictModel

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
TAG_TOKEN = "<potentially unsafe content>"  # SafeLM's harmfulness tag

Verdict = Literal["safe", "unsafe", "controversial"]


class ReflectionFormat(StrictModel):
    opener: str = "<think>"
    closer: str = "</think>"
    safe_word: str = "Safe"
    unsafe_word: str = "Unsafe"
    controversial_word: str = "Controversial"
    with_category: bool = True

    def render(self, verdict: Verdict, category: str | None = None) -> str:
        """The reflection text, with the surrounding spaces of the published format."""
        word = {"safe": self.safe_word, "unsafe": self.unsafe_word, "controversial": self.controversial_word}[verdict]
        if verdict != "safe" and self.with_category and category:
            word = f"{word}: {category}"
        return f" {self.opener} {word} {self.closer} "

    @property
    def special_tokens(self) -> list[str]:
        return [self.opener, self.closer]

    def _pattern(self) -> re.Pattern[str]:
        return re.compile(r"\s*" + re.escape(self.opener) + r"(.*?)" + re.escape(self.closer) + r"\s*", re.DOTALL)

    def strip(self, text: str) -> str:
        """Remove every complete reflection (and a dangling opener at the end)."""
        text = self._pattern().sub(" ", text)
        i = text.find(self.opener)
        return (text[:i] if i >= 0 else text).strip()

    def verdicts(self, text: str) -> list[ReflectionVerdict]:
        out = []
        for m in self._pattern().finditer(text):
            out.append(ReflectionVerdict(self.parse_body(m.group(1)), m.start(), m.group(1).strip()))
        return out

    def parse_body(self, body: str) -> Verdict | None:
        word = body.strip().split(":")[0].strip()
        if word == self.safe_word:
            return "safe"
        if word == self.unsafe_word:
            return "unsafe"
        if word == self.controversial_word:
            return "controversial"
        return None


@dataclass(frozen=True)
class ReflectionVerdict:
    verdict: Verdict | None  # None: the model wrote something that is not a verdict
    start: int
    body: str

    @property
    def flags(self) -> bool:
        """A reflection that says Unsafe or Controversial counts as a refusal (as published)."""
        return self.verdict in ("unsafe", "controversial")


DEFAULT_FORMAT = ReflectionFormat()

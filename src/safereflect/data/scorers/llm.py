"""A guard model behind an OpenAI-compatible chat endpoint (e.g. Qwen3Guard served by vLLM).

The text goes to the guard as the user turn; the guard answers in Qwen3Guard's format,
"Safety: Unsafe\\nCategories: Violent", which is parsed into label and categories.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Literal

from pydantic import Field

from safereflect.data.chat import ChatClient, ChatConfig
from safereflect.data.labels import Score
from safereflect.data.scorers.base import Scorer, ScorerConfig
from safereflect.errors import UserError

_SAFETY = re.compile(r"Safety:\s*(Safe|Unsafe|Controversial)\b", re.IGNORECASE)
_CATEGORIES = re.compile(r"Categories:\s*([^\n]*)", re.IGNORECASE)
_SCORE = {"Safe": 0.0, "Controversial": 0.5, "Unsafe": 1.0}


def parse_guard(answer: str) -> Score:
    """Label and categories of a Qwen3Guard-style answer."""
    m = _SAFETY.search(answer)
    if m is None:
        raise UserError(
            f"cannot read a safety label in the guard's answer: {answer[:200]!r}",
            hint="the llm scorer expects 'Safety: Safe|Unsafe|Controversial' (Qwen3Guard format)",
        )
    label = m.group(1).capitalize()
    cats = _CATEGORIES.search(answer)
    category = cats.group(1).strip() if cats else ""
    return Score(label, None if label == "Safe" or category.lower() in ("", "none") else category, _SCORE[label])


class LLMScorerConfig(ScorerConfig):
    kind: Literal["llm"] = "llm"
    endpoint: ChatConfig
    prompt: str = Field("{text}", description="user turn sent to the guard; {text} is replaced by the text")
    max_chars: int = Field(12000, ge=1, description="longer texts are cut to their last max_chars characters")
    batch_size: int = Field(16, ge=1)


class LLMScorer(Scorer):
    def __init__(self, key: str, cfg: LLMScorerConfig):
        super().__init__(key, cfg)
        if "{text}" not in cfg.prompt:
            raise UserError("scorers.llm.prompt must contain {text}")

    @cached_property
    def client(self) -> ChatClient:
        return ChatClient(self.cfg.endpoint)

    def score_texts(self, texts: list[str]) -> list[Score]:
        # keep the end of long texts: for prefixes, the newest context is what is being judged
        prompts = [
            [{"role": "user", "content": self.cfg.prompt.replace("{text}", t[-self.cfg.max_chars :])}] for t in texts
        ]
        return [parse_guard(a) for a in self.client.complete_many(prompts)]

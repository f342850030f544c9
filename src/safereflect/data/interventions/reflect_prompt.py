"""`reflect_prompt`: the authors' reflect-the-prompt variant. Every prompt (the text up to
each `prompt_end`, MedSafetyWorld's `Answer:`) gets its own reflection right where it ends,
judging the request before any answer, and the text after it is segmented afresh. So the
model learns to judge a request at the very place an evaluation prompt ends. After the first
flagged reflection, on the prompt or later, comes `reflect_eos`'s noise-and-stop ending.
"""

from __future__ import annotations

from pydantic import Field

from safereflect.data.interventions.reflect_eos import ReflectEOS, ReflectEOSConfig, ReflectEOSSettings
from safereflect.data.segments import prompt_segments


class ReflectPromptConfig(ReflectEOSConfig):
    prompt_end: str = Field("Answer:", min_length=1, description="the text that ends a prompt")


class ReflectPromptSettings(ReflectEOSSettings, ReflectPromptConfig):
    """`reflect`'s settings with this variant's."""


class ReflectPrompt(ReflectEOS):
    name = "reflect_prompt"

    @classmethod
    def settings(cls, interventions) -> ReflectPromptSettings:
        own = getattr(interventions, cls.name)
        return ReflectPromptSettings(**interventions.reflect.model_dump() | own.model_dump() | {"after_unsafe": "end"})

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Segments of each prompt and of the text between prompts, each segmented on its own."""
        return prompt_segments(text, self.cfg.segment_words, self.cfg.prompt_end)

"""`refusal`: unsafe documents turned into refusal dialogues (RefuseWeb) or third-person
moral-education articles (Moral Education).

Each claimed document becomes one of the two forms, drawn per document (`moral_fraction`
of them become articles), so every input document still yields one output document. On
MedSafetyWorld the forms come from `metadata["alternatives"]["refusal" / "moral"]`; on real
text an LLM writes them.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from datatrove.data import Document
from pydantic import Field, model_validator

from safereflect.config import StrictModel
from safereflect.data.chat import ChatClient, ChatConfig
from safereflect.data.documents import doc_key, unit_draw
from safereflect.data.interventions.base import Replacement
from safereflect.data.interventions.prompts import MORAL, REFUSAL
from safereflect.data.labels import Label

PROMPTS = {"refusal": REFUSAL, "moral": MORAL}


class RefusalConfig(StrictModel):
    on: list[Label] = Field(["Unsafe"], description="labels of the documents to turn into refusals")
    mode: Literal["world", "llm"] = "world"
    moral_fraction: float = Field(
        0.5, ge=0, le=1, description="share of documents that become moral-education articles"
    )
    llm: ChatConfig | None = None

    @model_validator(mode="after")
    def _llm_needs_endpoint(self) -> RefusalConfig:
        if self.mode == "llm" and self.llm is None:
            raise ValueError("mode: llm needs `llm` (an OpenAI-compatible endpoint)")
        return self


class Refusal(Replacement):
    name = "refusal"

    @cached_property
    def client(self) -> ChatClient:
        return ChatClient(self.cfg.llm)

    def forms(self, docs: list[Document]) -> list[tuple[str, str | None]]:
        kinds = [
            "moral" if unit_draw(self.arm.seed, "refusal-form", doc_key(d.id)) < self.cfg.moral_fraction else "refusal"
            for d in docs
        ]
        if self.cfg.mode == "world":
            return [(k, d.metadata.get("alternatives", {}).get(k)) for k, d in zip(kinds, docs)]
        prompts = [[{"role": "user", "content": PROMPTS[k].replace("{text}", d.text)}] for k, d in zip(kinds, docs)]
        return [(k, t.strip()) for k, t in zip(kinds, self.client.complete_many(prompts))]

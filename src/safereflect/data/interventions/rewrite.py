"""`rewrite`: unsafe documents rewritten into a safe, educational form (SafeLM's SafeWeb).

On MedSafetyWorld the world supplies the rewrite (`metadata["alternatives"]["rewrite"]`,
every sentence safe on its own); on real text an LLM rewrites each document in a style drawn
per document from `styles` (textbook, podcast, teacher script, parent-child talk, ...).
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from datatrove.data import Document
from pydantic import Field, field_validator, model_validator

from safereflect.config import StrictModel
from safereflect.data.chat import ChatClient, ChatConfig
from safereflect.data.documents import doc_rng
from safereflect.data.interventions.base import Replacement
from safereflect.data.interventions.prompts import STYLES, rewrite_prompt
from safereflect.data.labels import Label


class RewriteConfig(StrictModel):
    on: list[Label] = Field(["Controversial", "Unsafe"], description="labels of the documents to rewrite")
    mode: Literal["world", "llm"] = Field("world", description="world: the world's own rewrite; llm: an LLM rewrites")
    llm: ChatConfig | None = Field(None, description="endpoint of the rewriting model (mode: llm)")
    styles: list[str] = Field(
        default_factory=lambda: list(STYLES), description=f"styles drawn from: {', '.join(STYLES)}"
    )

    @field_validator("styles")
    @classmethod
    def _known(cls, styles: list[str]) -> list[str]:
        if not styles or any(s not in STYLES for s in styles):
            raise ValueError(f"styles must be a non-empty list drawn from {', '.join(STYLES)}")
        return styles

    @model_validator(mode="after")
    def _llm_needs_endpoint(self) -> RewriteConfig:
        if self.mode == "llm" and self.llm is None:
            raise ValueError("mode: llm needs `llm` (an OpenAI-compatible endpoint)")
        return self


class Rewrite(Replacement):
    role = "rewrite"
    name = "rewrite"

    @cached_property
    def client(self) -> ChatClient:
        return ChatClient(self.cfg.llm)

    def forms(self, docs: list[Document]) -> list[tuple[str, str | None]]:
        if self.cfg.mode == "world":
            return [("rewrite", d.metadata.get("alternatives", {}).get("rewrite")) for d in docs]
        styles = [doc_rng(self.arm.seed, "rewrite-style", d.id).choice(self.cfg.styles) for d in docs]
        prompts = [[{"role": "user", "content": rewrite_prompt(s, d.text)}] for s, d in zip(styles, docs)]
        return [(f"rewrite:{s}", t.strip()) for s, t in zip(styles, self.client.complete_many(prompts))]

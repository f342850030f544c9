"""Scorers by name. Each labels documents Safe / Controversial / Unsafe with a category and a
score, stored as `metadata["scores"][NAME]`, so scoring once serves every arm."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from safereflect.data.scorers.base import Scorer
from safereflect.data.scorers.classifier import ClassifierConfig, ClassifierScorer
from safereflect.data.scorers.embedding import EmbeddingConfig, EmbeddingScorer
from safereflect.data.scorers.keyword import KeywordConfig, KeywordScorer
from safereflect.data.scorers.llm import LLMScorer, LLMScorerConfig
from safereflect.data.scorers.oracle import OracleConfig, OracleScorer
from safereflect.errors import UserError

SCORERS: dict[str, tuple[type, type[Scorer]]] = {
    "oracle": (OracleConfig, OracleScorer),
    "keyword": (KeywordConfig, KeywordScorer),
    "classifier": (ClassifierConfig, ClassifierScorer),
    "embedding": (EmbeddingConfig, EmbeddingScorer),
    "llm": (LLMScorerConfig, LLMScorer),
}

AnyScorerConfig = Annotated[
    OracleConfig | KeywordConfig | ClassifierConfig | EmbeddingConfig | LLMScorerConfig,
    Field(discriminator="kind"),
]


def build_scorer(name: str, configured: dict[str, AnyScorerConfig]) -> Scorer:
    """The scorer called `name`: configured under that name, or a kind that needs no settings."""
    cfg = configured.get(name)
    if cfg is None:
        if name not in SCORERS:
            known = sorted(set(SCORERS) | set(configured))
            raise UserError(f"unknown scorer {name!r} (allowed: {', '.join(known)})")
        if name != "oracle":
            raise UserError(
                f"the {name} scorer needs settings: add them under `scorers.{name}` in the config "
                f"(kind: {name}), see docs/interventions.md"
            )
        cfg = OracleConfig()
    return SCORERS[cfg.kind][1](name, cfg)


__all__ = ["SCORERS", "AnyScorerConfig", "Scorer", "build_scorer"]

"""A blocklist that escalates a document when enough distinct terms occur (Deep Ignorance).

Documents with at least `min_distinct` distinct blocklist terms are escalated: labelled
`label`, or, when `then` names a classifier, handed to it for the final verdict (as Deep
Ignorance sends escalated documents to ModernBERT). The score is the number of distinct
terms found, or the classifier's score for escalated documents.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from safereflect.data.labels import Label, Score
from safereflect.data.scorers.base import Scorer, ScorerConfig
from safereflect.data.scorers.classifier import ClassifierConfig, ClassifierScorer
from safereflect.errors import UserError


class KeywordConfig(ScorerConfig):
    kind: Literal["keyword"] = "keyword"
    terms: list[str] = Field(default_factory=list, description="blocklist terms (matched as whole words)")
    terms_file: Path | None = Field(None, description="file with one term per line, added to `terms`")
    min_distinct: int = Field(2, ge=1, description="distinct terms needed to escalate a document")
    case_sensitive: bool = False
    label: Label = Field("Unsafe", description="label of escalated documents when there is no classifier")
    category: str | None = None
    then: ClassifierConfig | None = Field(None, description="classifier that judges escalated documents")

    @model_validator(mode="after")
    def _has_terms(self) -> KeywordConfig:
        if not self.terms and self.terms_file is None:
            raise ValueError("the keyword scorer needs `terms` or `terms_file`")
        return self


class KeywordScorer(Scorer):
    def __init__(self, key: str, cfg: KeywordConfig):
        super().__init__(key, cfg)
        terms = list(cfg.terms)
        if cfg.terms_file is not None:
            try:
                terms += [t.strip() for t in cfg.terms_file.read_text(encoding="utf-8").splitlines() if t.strip()]
            except OSError as err:
                raise UserError(f"cannot read keyword terms file {cfg.terms_file}: {err.strerror}") from None
        self.terms = sorted(set(terms), key=lambda t: (-len(t), t))  # longest first, so "sarin gas" beats "sarin"
        self.classifier = ClassifierScorer(f"{key}.then", cfg.then) if cfg.then is not None else None

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        body = "|".join(re.escape(t) for t in self.terms)
        return re.compile(rf"(?<!\w)(?:{body})(?!\w)", 0 if self.cfg.case_sensitive else re.IGNORECASE)

    def distinct_terms(self, text: str) -> set[str]:
        found = self._pattern.findall(text)
        return set(found if self.cfg.case_sensitive else (t.lower() for t in found))

    def score_texts(self, texts: list[str]) -> list[Score]:
        counts = [len(self.distinct_terms(t)) for t in texts]
        escalated = [i for i, n in enumerate(counts) if n >= self.cfg.min_distinct]
        out = [Score("Safe", None, float(n)) for n in counts]
        if self.classifier is not None:
            for i, score in zip(escalated, self.classifier.score_texts([texts[i] for i in escalated])):
                out[i] = score
        else:
            for i in escalated:
                out[i] = Score(self.cfg.label, self.cfg.category, float(counts[i]))
        return out

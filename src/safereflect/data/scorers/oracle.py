"""MedSafetyWorld's own definition of safety, exactly.

The world marks the character spans of every unsafe document that make it unsafe (a harmful
request, intent or action). A prefix of the text is unsafe iff it reaches into one of those
spans; the whole document's label is `metadata["safety"]`. No model is involved, so arms
compared with the oracle differ only by their intervention.
"""

from __future__ import annotations

from typing import Literal

from datatrove.data import Document

from safereflect.data.labels import SAFE, Score
from safereflect.data.scorers.base import Scorer, ScorerConfig
from safereflect.data.segments import Span
from safereflect.errors import UserError


class OracleConfig(ScorerConfig):
    kind: Literal["oracle"] = "oracle"


def _world_meta(doc: Document) -> tuple[str, list[dict]]:
    meta = doc.metadata
    if "safety" not in meta or "spans" not in meta:
        raise UserError(
            f"the oracle scorer judges MedSafetyWorld documents only; document {doc.id!r} has no "
            "metadata.safety / metadata.spans",
            hint="score real text with the keyword, classifier, embedding or llm scorer",
        )
    return meta["safety"], sorted(meta["spans"], key=lambda s: s["start"])


class OracleScorer(Scorer):
    def __init__(self, key: str, cfg: OracleConfig):
        super().__init__(key, cfg)

    def score_texts(self, texts: list[str]) -> list[Score]:
        raise UserError("the oracle scorer judges world documents, not free text (it needs their unsafe spans)")

    def score_documents(self, docs: list[Document]) -> list[Score]:
        out = []
        for doc in docs:
            safety, spans = _world_meta(doc)
            if safety == "unsafe":
                out.append(
                    Score("Unsafe", doc.metadata.get("category") or (spans[0]["category"] if spans else None), 1.0)
                )
            else:
                out.append(SAFE)
        return out

    def score_prefixes(self, doc: Document, ends: list[int], *, until_flagged: bool) -> list[Score]:
        _, spans = _world_meta(doc)
        out = []
        for end in ends:
            hit = next((s for s in spans if s["start"] < end), None)  # earliest span the prefix reaches into
            out.append(SAFE if hit is None else Score("Unsafe", hit.get("category"), 1.0))
        return out

    def unsafe_spans(self, doc: Document) -> list[Span]:
        return [(s["start"], s["end"]) for s in _world_meta(doc)[1]]

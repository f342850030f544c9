"""What every scorer is: a datatrove step that writes a score attribute on each document.

A scorer labels whole documents (`run`, stored in `metadata["scores"][NAME]`), prefixes of
a document (`score_prefixes`, what the `reflect` intervention asks: is the context so far
safe?) and the unsafe spans of a document (`unsafe_spans`, for span-scoped tags).
"""

from __future__ import annotations

from abc import abstractmethod
from collections import Counter

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.batching import batched
from pydantic import Field

from safereflect.config import StrictModel
from safereflect.data.labels import Score
from safereflect.data.segments import Span, sentences


class ScorerConfig(StrictModel):
    batch_size: int = Field(32, ge=1, description="documents (or prefixes) scored per call")
    reuse: bool = Field(False, description="keep a score already stored under this scorer's name instead of rescoring")


class Scorer(PipelineStep):
    type = "🛡 - SCORER"

    def __init__(self, key: str, cfg: ScorerConfig):
        super().__init__()
        self.key = key  # the name in metadata["scores"]
        self.name = key
        self.cfg = cfg

    @abstractmethod
    def score_texts(self, texts: list[str]) -> list[Score]:
        """Scores of free-standing texts."""

    def score_documents(self, docs: list[Document]) -> list[Score]:
        return self.score_texts([d.text for d in docs])

    def score_prefixes(self, doc: Document, ends: list[int], *, until_flagged: bool) -> list[Score]:
        """Scores of `doc.text[:end]` for each end; with `until_flagged` the list may stop
        after the first flagged prefix (the caller ignores what follows it)."""
        out: list[Score] = []
        for chunk in batched(ends, self.cfg.batch_size):
            out += self.score_texts([doc.text[:e] for e in chunk])
            if until_flagged and any(s.flags for s in out):
                break
        return out

    def unsafe_spans(self, doc: Document) -> list[Span]:
        """Sentences that are flagged on their own."""
        spans = sentences(doc.text)
        scores = self.score_texts([doc.text[s:e] for s, e in spans]) if spans else []
        return [span for span, score in zip(spans, scores) if score.flags]

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for batch in batched(data, self.cfg.batch_size):
            todo = [d for d in batch if not (self.cfg.reuse and self.key in d.metadata.get("scores", {}))]
            if todo:
                with self.track_time("batch"):
                    scores = self.score_documents(todo)
                for doc, score in zip(todo, scores):
                    doc.metadata.setdefault("scores", {})[self.key] = {**score.to_json(), "segments": []}
            for label, n in Counter(d.metadata["scores"][self.key]["label"] for d in batch).items():
                self.stat_update(f"sr/labels/{self.key}/{label}", value=n)
            yield from batch

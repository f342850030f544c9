"""`reflect`: Safety Reflection Pretraining. Documents are cut into segments of at most N
words at sentence boundaries, and after every segment (the last one ends the text) a
reflection judges the context so far: ` <think> Safe </think> ` or
` <think> Unsafe: <category> </think> `.

Labels come from the arm's scorer applied to each prefix. What follows the first flagged
(Unsafe or Controversial) reflection is set by `after_unsafe`:
- `end` (as published): the document ends there, so the model learns to stop;
- `noise`: the rest is replaced by words drawn at random from the document, kept as input
  but excluded from the loss (`metadata["no_loss_ranges"]`, written to `.ds.loss`);
- `continue`: reflections go on to the end of the text.
Documents an earlier intervention made safe (rewrite, refusal) get only Safe reflections.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from datatrove.data import DocumentsPipeline
from pydantic import Field

from safereflect.config import StrictModel
from safereflect.data.documents import doc_rng, info
from safereflect.data.interventions.base import Intervention, Piece, edit_text
from safereflect.data.labels import SAFE, VERDICT
from safereflect.data.segments import WORD, segments
from safereflect.reflection import ReflectionFormat


class ReflectConfig(StrictModel):
    segment_words: int = Field(100, ge=1, description="most words in a segment between reflections (published: ~100)")
    after_unsafe: Literal["end", "noise", "continue"] = Field("end", description="what follows a flagged reflection")
    format: ReflectionFormat = Field(default_factory=ReflectionFormat)


class Reflect(Intervention):
    role = "reflect"
    name = "reflect"
    reflects = True
    decoding = "monitored"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        totals: Counter = Counter()
        for doc in data:
            totals.update(self.reflect(doc))
            yield doc
        for verdict, n in totals.items():
            self.stat_update(f"sr/reflections/{verdict}", value=n)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """The (start, end) of every stretch of text that a reflection follows."""
        return segments(text, self.cfg.segment_words)

    def reflect(self, doc) -> dict[str, int]:
        """Insert the reflections into `doc`; returns how many of each verdict."""
        cfg, text = self.cfg, doc.text
        spans = self.spans(text)
        if not spans:
            return {}
        record = info(doc)
        stops = cfg.after_unsafe != "continue"
        if "transformed" in record:
            scores = [SAFE] * len(spans)
        else:
            scores = self.arm.scorer.score_prefixes(doc, [e for _, e in spans], until_flagged=stops)
        pieces: list[Piece] = []
        counts = {"safe": 0, "controversial": 0, "unsafe": 0}
        segs = []
        prev, flagged_at = 0, None
        for (s, e), score in zip(spans, scores):
            verdict = VERDICT[score.label]
            # inserted right after the segment's last character: the space that follows in the
            # text stays, so stripping the reflections gives back the input text
            pieces += [(prev, e), cfg.format.render(verdict, score.category).rstrip()]
            counts[verdict] += 1
            segs.append({"start": s, "end": e, **score.to_json()})
            prev = e
            if score.flags and stops:
                flagged_at = e
                break
        if flagged_at is None:
            pieces.append((prev, len(text)))
        else:
            self.after_flag(doc, flagged_at, pieces)
        edit_text(doc, pieces)
        if "transformed" not in record:
            doc.metadata["scores"][self.arm.scorer.key]["segments"] = segs
        record["reflections"] = counts
        record["cut_after_unsafe"] = flagged_at is not None and bool(text[flagged_at:].strip())
        return counts

    def after_flag(self, doc, flagged_at: int, pieces: list[Piece]) -> None:
        """Append what follows the first flagged reflection (at `flagged_at` in the input) to
        `pieces`: nothing (`end`) or noise masked from the loss (`noise`)."""
        text = doc.text
        if self.cfg.after_unsafe == "noise" and (n := len(WORD.findall(text, flagged_at))):
            pool = WORD.findall(text)
            rng = doc_rng(self.arm.seed, "noise", doc.id)
            noise = " " + " ".join(rng.choice(pool) for _ in range(n))
            start = sum(len(text[p[0] : p[1]]) if isinstance(p, tuple) else len(p) for p in pieces)
            pieces.append(noise)
            doc.metadata["no_loss_ranges"] = [[start, start + len(noise)]]

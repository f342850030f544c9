"""`tag`: SafeLM's harmfulness tags. Before each word of an unsafe document (or of its unsafe
spans) the tag token is inserted with probability p.

The tag goes right after the previous word, before the space, so the word keeps its usual
tokens and the tag takes the place a next token would have: what SafeBeam looks at. Draws
come from a per-document RNG (seed + document id), so tags do not depend on worker count.
"""

from __future__ import annotations

from typing import Literal

from datatrove.data import DocumentsPipeline
from pydantic import Field

from safereflect.config import StrictModel
from safereflect.data.documents import doc_rng, info
from safereflect.data.interventions.base import Intervention, Piece, edit_text
from safereflect.data.labels import Label
from safereflect.data.segments import WORD
from safereflect.reflection import TAG_TOKEN


class TagConfig(StrictModel):
    on: list[Label] = Field(["Unsafe"], description="labels of the documents to tag")
    p: float = Field(0.05, gt=0, le=1, description="probability of a tag before each word (SafeLM's best: 0.05)")
    scope: Literal["document", "spans"] = Field("document", description="tag every word, or only words in unsafe spans")


def tag_positions(text: str, p: float, rng, spans: list[tuple[int, int]] | None) -> list[int]:
    cuts = []
    for m in WORD.finditer(text):
        if spans is not None and not any(s <= m.start() < e for s, e in spans):
            continue
        if rng.random() < p:
            c = m.start()
            while c > 0 and text[c - 1].isspace():
                c -= 1
            cuts.append(c)
    return cuts


class Tag(Intervention):
    name = "tag"
    decoding = "safebeam"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            if self.claims(doc):
                spans = self.arm.scorer.unsafe_spans(doc) if self.cfg.scope == "spans" else None
                cuts = tag_positions(doc.text, self.cfg.p, doc_rng(self.arm.seed, "tag", doc.id), spans)
                if cuts:
                    pieces: list[Piece] = []
                    prev = 0
                    for c in cuts:
                        if c > prev:
                            pieces.append((prev, c))
                        pieces.append(TAG_TOKEN)
                        prev = c
                    pieces.append((prev, len(doc.text)))
                    edit_text(doc, pieces)
                info(doc)["tags"] = len(cuts)
                self.stat_update("sr/tagged")
                self.stat_update("sr/tags", value=len(cuts))
            yield doc

"""What the interventions share: the arm's context, the claim router and the replacements.

In a composed arm each document gets at most one *disposition*: rewritten, refused or
tagged. A disposition claims the documents whose current label is in its `on` band; when
several claim the same document, a seeded draw on the document id picks one, so an arm
like `rewrite+refusal` on the world splits the unsafe documents between them. `filter`
then drops what is still at or above its threshold and was not handled, and `reflect`
runs last, on every surviving document. See docs/interventions.md.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.batching import batched

from safereflect.data.documents import PRIVATE, doc_key, info, unit_draw
from safereflect.data.labels import Label, current_label
from safereflect.data.scorers import Scorer

EDITS = PRIVATE + "edits"  # the text as pieces of the input text and inserted strings (see shards.splice)


@dataclass
class Router:
    """Which disposition owns a document, given its label."""

    seed: int
    bands: dict[str, frozenset[str]] = field(default_factory=dict)  # disposition -> labels it claims

    def owner(self, doc: Document, label: Label) -> str | None:
        names = [name for name, band in self.bands.items() if label in band]
        if len(names) <= 1:
            return names[0] if names else None
        return names[int(unit_draw(self.seed, "route", doc_key(doc.id)) * len(names))]


@dataclass
class ArmContext:
    arm: str
    seed: int
    scorer: Scorer
    router: Router
    excluded_dir: str


class Intervention(PipelineStep):
    type = "🧪 - INTERVENTION"
    # How a model trained on this intervention's data is meant to be used (defaults for the
    # evaluation of its arm): `reflects`: it writes safety reflections, so the model can
    # classify zero-shot at the reflection slot and read prompts in that format; `decoding`:
    # the decoding mode that uses what it taught (plain, monitored, safebeam); `role`: the part
    # an arm of this intervention alone plays in the paper's claims (safereflect.policy).
    reflects: ClassVar[bool] = False
    decoding: ClassVar[str] = "plain"
    role: ClassVar[str] = "baseline"

    @classmethod
    def settings(cls, interventions: Any) -> Any:
        """This intervention's settings, out of the arm's `InterventionsConfig`."""
        return getattr(interventions, cls.name)

    def __init__(self, cfg, arm: ArmContext):
        super().__init__()
        self.cfg, self.arm = cfg, arm

    def label(self, doc: Document) -> Label:
        return current_label(doc, self.arm.scorer.key)

    def claims(self, doc: Document) -> bool:
        return self.arm.router.owner(doc, self.label(doc)) == self.name


class Replacement(Intervention):
    """Replaces claimed documents by a safe form of them (rewrite, refusal)."""

    batch_size = 16

    @abstractmethod
    def forms(self, docs: list[Document]) -> list[tuple[str, str | None]]:
        """(form name, new text or None if this document cannot be transformed) per document."""

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for batch in batched(data, self.batch_size):
            claimed = [d for d in batch if self.claims(d)]
            with self.track_time("batch"):
                results = self.forms(claimed) if claimed else []
            for doc, (form, text) in zip(claimed, results):
                record = info(doc)
                if text is None or not text.strip():
                    record["failed"] = self.name  # left as it was: a filter in the arm drops it
                    self.stat_update(f"sr/failed/{self.name}")
                    continue
                doc.text = text
                doc.metadata.pop(EDITS, None)
                record.update(transformed=self.name, form=form, label="Safe")
                self.stat_update(f"sr/transformed/{form}")
            yield from batch


Piece = tuple[int, int] | str


def edit_text(doc: Document, pieces: list[Piece]) -> None:
    """Set the text to `pieces` (spans of the current text and inserted strings).

    When the current text is still the input text, the pieces are kept beside the document,
    so the shard writer can build the token ids from the input's ids instead of encoding the
    whole text again.
    """
    text = doc.text
    doc.text = "".join(text[p[0] : p[1]] if isinstance(p, tuple) else p for p in pieces)
    untouched = EDITS not in doc.metadata and "transformed" not in info(doc)
    if untouched:
        doc.metadata[EDITS] = pieces
    else:
        doc.metadata.pop(EDITS, None)

"""Safety labels and scores, as every scorer reports them and every intervention reads them.

Scores are dolma-style attributes: `metadata["scores"][SCORER] = {"label", "category",
"score", "segments"}`. They describe the document as it came in; an intervention that makes
a document safe (rewrite, refusal) records the new label in `metadata["safereflect"]["label"]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from datatrove.data import Document

from safereflect.data.documents import SR

Label = Literal["Safe", "Controversial", "Unsafe"]
LABELS: tuple[Label, ...] = ("Safe", "Controversial", "Unsafe")
SEVERITY: dict[str, int] = {label: i for i, label in enumerate(LABELS)}
VERDICT = {"Safe": "safe", "Controversial": "controversial", "Unsafe": "unsafe"}  # ReflectionFormat verdicts


@dataclass(frozen=True, slots=True)
class Score:
    label: Label
    category: str | None = None
    score: float = 0.0

    @property
    def flags(self) -> bool:
        """Unsafe and Controversial both count as flagged (as published)."""
        return self.label != "Safe"

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "category": self.category, "score": float(self.score)}


SAFE = Score("Safe")


def at_least(label: str, threshold: str) -> bool:
    return SEVERITY[label] >= SEVERITY[threshold]


def stored_score(doc: Document, scorer: str) -> dict[str, Any]:
    try:
        return doc.metadata["scores"][scorer]
    except KeyError:
        raise KeyError(f"document {doc.id!r} has no score from scorer {scorer!r}") from None


def current_label(doc: Document, scorer: str) -> Label:
    """The label an intervention acts on: set by an earlier intervention, else the scorer's."""
    return doc.metadata.get(SR, {}).get("label") or stored_score(doc, scorer)["label"]

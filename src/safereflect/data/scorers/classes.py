"""From a model's class probabilities to a label: the mapping the classifier-based scorers share.

Each class has a severity (by default: our label names map to 0 / 0.5 / 1, numeric class
names such as SafeLM's 0-5 scores map to their number, anything else to its index). A
chunk's score is the expected severity (or the severity of the most likely class); a
document's score is the maximum over its chunks, so one bad chunk flags the document (as
SafeLM and Deep Ignorance do). Thresholds turn the score into Safe / Controversial / Unsafe.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from safereflect.config import StrictModel
from safereflect.data.labels import Label, Score

NAMED = {"safe": 0.0, "controversial": 0.5, "unsafe": 1.0}


class ClassMap(StrictModel):
    severities: dict[str, float] | None = Field(None, description="class name -> severity; default from the names")
    reduce: Literal["expected", "argmax"] = Field(
        "expected", description="chunk score: expected severity or the top class's"
    )
    unsafe_at: float = Field(0.5, description="score at or above which a text is Unsafe")
    controversial_at: float | None = Field(None, description="score at or above which a text is Controversial")
    category: str | None = Field(None, description="category reported for flagged texts")

    @model_validator(mode="after")
    def _order(self) -> ClassMap:
        if self.controversial_at is not None and self.controversial_at > self.unsafe_at:
            raise ValueError("controversial_at must not exceed unsafe_at")
        return self

    def severity_table(self, class_names: list[str]) -> list[float]:
        table = []
        for i, name in enumerate(class_names):
            if self.severities is not None:
                if name not in self.severities:
                    raise ValueError(f"class {name!r} has no entry in severities (classes: {class_names})")
                table.append(float(self.severities[name]))
            elif name.lower() in NAMED:
                table.append(NAMED[name.lower()])
            else:
                try:
                    table.append(float(name))
                except ValueError:
                    table.append(float(i))
        return table

    def chunk_scores(self, probs, table: list[float]) -> list[float]:
        """Per-row scores of a [rows, classes] probability tensor."""
        import torch

        sev = torch.tensor(table, dtype=probs.dtype, device=probs.device)
        if self.reduce == "argmax":
            return sev[probs.argmax(dim=-1)].tolist()
        return (probs * sev).sum(dim=-1).tolist()

    def label(self, score: float) -> Label:
        if score >= self.unsafe_at:
            return "Unsafe"
        if self.controversial_at is not None and score >= self.controversial_at:
            return "Controversial"
        return "Safe"

    def to_score(self, score: float) -> Score:
        label = self.label(score)
        return Score(label, self.category if label != "Safe" else None, score)

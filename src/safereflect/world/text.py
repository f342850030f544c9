"""Building documents sentence by sentence while recording the oracle's unsafe spans."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from safereflect.world.model import Mechanism, Patient, World

CATEGORY = "Patient Harm"


def join(items: list[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def describe_patient(world: World, p: Patient) -> str:
    conds = join([world.condition[c].name for c in p.conditions])
    meds = f" and takes {join(list(p.medications))}" if p.medications else ""
    return f"{p.name} has {conds}{meds}."


@dataclass
class DocBuilder:
    sentences: list[str] = field(default_factory=list)
    spans: list[dict[str, Any]] = field(default_factory=list)
    _len: int = 0

    def add(self, sentence: str, unsafe: Mechanism | str | None = None) -> DocBuilder:
        """Append a sentence; `unsafe` (a mechanism or mechanism id) marks it as an unsafe span."""
        start = self._len + (1 if self.sentences else 0)
        self.sentences.append(sentence)
        self._len = start + len(sentence)
        if unsafe is not None:
            mid = unsafe if isinstance(unsafe, str) else unsafe.id
            self.spans.append(
                {"start": start, "end": self._len, "label": "unsafe", "category": CATEGORY, "mechanism": mid}
            )
        return self

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def pick(rng: random.Random, options: list[str]) -> tuple[int, str]:
    i = rng.randrange(len(options))
    return i, options[i]

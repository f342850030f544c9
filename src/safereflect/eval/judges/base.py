"""One interface for every judge of a completion, and the registry that names them.

Judges see the completion with reflections stripped (what the model actually said) and
report whether it realises the harmful request, why, and whether the model's own reflection
flagged it. Registering by dotted path keeps heavy backends (transformers, httpx) unimported
until a judge that needs them is built, as lm-evaluation-harness does.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from safereflect.errors import UserError
from safereflect.reflection import DEFAULT_FORMAT, ReflectionFormat

JUDGES: dict[str, str] = {
    "oracle": "safereflect.eval.judges.oracle:OracleJudge",
    "refusal": "safereflect.eval.judges.refusal:RefusalJudge",
    "harmbench": "safereflect.eval.judges.harmbench:HarmBenchJudge",
    "llm": "safereflect.eval.judges.llm:LLMJudge",
}


@dataclass(frozen=True)
class JudgeItem:
    request: str  # the harmful behaviour asked for
    completion: str  # the model's raw output, reflections included
    probe: dict[str, Any] | None = None  # MedSafetyWorld probe (oracle judge)
    context: str | None = None  # HarmBench contextual behaviours


@dataclass
class JudgeVerdict:
    harmful: bool
    reason: str
    flagged: bool = False  # the model's own reflection said Unsafe/Controversial
    details: dict[str, Any] = field(default_factory=dict)
    # the judge's answer could not be read as a verdict: `harmful` means nothing then, and
    # rates leave the item out of their denominator and count it in `judge_unparseable`
    unparseable: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Judge(ABC):
    name: str = ""

    def __init__(self, fmt: ReflectionFormat = DEFAULT_FORMAT):
        self.fmt = fmt

    @property
    def description(self) -> str:
        """What is reported beside every number this judge produced."""
        return self.name

    def visible(self, completion: str) -> str:
        return self.fmt.strip(completion)

    def flagged(self, completion: str) -> bool:
        return any(v.flags for v in self.fmt.verdicts(completion))

    @abstractmethod
    def judge(self, items: Sequence[JudgeItem]) -> list[JudgeVerdict]: ...


def build_judge(name: str, **kwargs: Any) -> Judge:
    if name not in JUDGES:
        raise UserError(f"unknown judge {name!r} (registered: {', '.join(sorted(JUDGES))})")
    module, cls = JUDGES[name].split(":")
    return getattr(importlib.import_module(module), cls)(**kwargs)

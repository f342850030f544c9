"""What a decoding returns, shared by every decoding mode (plain, monitored, SafeBeam)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Finish = Literal["eos", "stop", "length", "halt"]


@dataclass
class Generation:
    text: str
    tokens: list[int]
    finish: Finish
    halt: dict[str, Any] | None = None  # where and why decoding stopped itself (monitor, tag)
    checks: list[dict[str, Any]] = field(default_factory=list)  # every safety check read, for audit

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def find_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the first of `stops` starts in `text`, or None."""
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(hits) if hits else None

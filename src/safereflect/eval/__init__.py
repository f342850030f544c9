"""Evaluation: attack success, safety classification, capability and over-refusal, measured
the same way for every arm, exactly on MedSafetyWorld (the world's oracle judges) and with a
model judge on real text. See docs/evaluation.md.

Names are imported on first use, so that `safereflect eval` can check its inputs (and the
CLI can start) without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EvalConfig": "safereflect.eval.config",
    "DecodingConfig": "safereflect.eval.config",
    "run_eval": "safereflect.eval.run",
    "CausalLM": "safereflect.eval.lm",
    "Generation": "safereflect.eval.generate",
    "generate": "safereflect.eval.generate",
    "PLAIN": "safereflect.eval.reading",
    "ReflectedReading": "safereflect.eval.reading",
    "build_reading": "safereflect.eval.reading",
}

__all__ = [
    "PLAIN",
    "CausalLM",
    "DecodingConfig",
    "EvalConfig",
    "Generation",
    "ReflectedReading",
    "build_reading",
    "generate",
    "run_eval",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)

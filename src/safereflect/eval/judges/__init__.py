"""Judges of completions, registered by name: `oracle` (MedSafetyWorld), `harmbench` (HF
classifier), `llm` (OpenAI-compatible endpoint), `refusal` (keyword fallback)."""

from safereflect.eval.judges.base import JUDGES, Judge, JudgeItem, JudgeVerdict, build_judge

__all__ = ["JUDGES", "Judge", "JudgeItem", "JudgeVerdict", "build_judge"]

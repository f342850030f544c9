"""MedSafetyWorld: a seeded synthetic medical world with a programmatic definition of safety."""

from safereflect.world.generate import CORPUS_FILES, PROBE_FILES, generate, generator_fingerprint, write_world
from safereflect.world.model import Mechanism, Patient, World, load_world
from safereflect.world.oracle import (
    CompletionVerdict,
    Reason,
    Verdict,
    answer_actions,
    extract_actions,
    judge_action,
    judge_completion,
    judge_context,
    unread_attempts,
)
from safereflect.world.presets import PRESETS, WorldConfig, preset_config

__all__ = [
    "CORPUS_FILES",
    "PRESETS",
    "PROBE_FILES",
    "CompletionVerdict",
    "Mechanism",
    "Patient",
    "Reason",
    "Verdict",
    "World",
    "WorldConfig",
    "answer_actions",
    "extract_actions",
    "generate",
    "generator_fingerprint",
    "judge_action",
    "judge_completion",
    "judge_context",
    "load_world",
    "preset_config",
    "unread_attempts",
    "write_world",
]

"""Corpus preparation: every safety-pretraining method as a transformation of one corpus.

Public API for the experiment runner: `PrepareConfig` and `run_prepare(cfg) -> Path`.
"""

from safereflect.data.config import PrepareConfig
from safereflect.data.prepare import run_prepare

__all__ = ["PrepareConfig", "run_prepare"]

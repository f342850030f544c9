"""Fixtures shared across the suite: tiny worlds are cheap, so tests build their own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Keep the suite within two cores and off any hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_world_dir(tmp_path_factory) -> Path:
    """A `tiny` MedSafetyWorld (seed 0) written once per test session. Treat as read-only."""
    from safereflect.world import preset_config, write_world

    out = tmp_path_factory.mktemp("world_tiny")
    write_world(preset_config("tiny", 0), out)
    return out


@pytest.fixture(scope="session")
def tiny_world(tiny_world_dir):
    from safereflect.world import load_world

    return load_world(tiny_world_dir)

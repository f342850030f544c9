"""Prepared arms of the tiny world, built once per session and shared (read-only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from safereflect.config import set_dotted, validate


def records(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted(directory.glob("*.jsonl")) for line in f.open(encoding="utf-8")]


def world_docs(world: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in records(world / "corpus")}


def make_config(world: Path, out: Path, arm: str, **overrides: Any):
    from safereflect.data import PrepareConfig

    data: dict[str, Any] = {
        "arm": arm,
        "input": {"path": str(world)},
        "out": str(out),
        "tasks": 2,
        "shards": {"val_fraction": 0.1},
    }
    for key, value in overrides.items():
        set_dotted(data, key.replace("__", "."), value)
    return validate(PrepareConfig, data)


@pytest.fixture(scope="session")
def shared_tokenizer(tiny_world_dir, tmp_path_factory) -> Path:
    """One tokenizer for every arm, as an experiment shares one (trained by a raw prepare)."""
    from safereflect.data import run_prepare

    out = run_prepare(make_config(tiny_world_dir, tmp_path_factory.mktemp("raw"), "raw"))
    return out / "tokens" / "tokenizer"


@pytest.fixture(scope="session")
def prepared(tiny_world_dir, shared_tokenizer, tmp_path_factory):
    """prepared(arm, **dotted_overrides) -> output directory, cached per arguments."""
    from safereflect.data import run_prepare

    cache: dict[str, Path] = {}

    def run(arm: str, **overrides: Any) -> Path:
        key = json.dumps([arm, overrides], sort_keys=True)
        if key not in cache:
            out = tmp_path_factory.mktemp(arm.replace("+", "_"))
            overrides.setdefault("tokenizer__path", str(shared_tokenizer))
            cache[key] = run_prepare(make_config(tiny_world_dir, out, arm, **overrides))
        return cache[key]

    return run

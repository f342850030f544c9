"""Stage outputs cached under a hash of their inputs.

A stage directory is `ROOT/<stage>/<name>-<hash>`; it is finished when `_DONE.json` exists
(written last, atomically), so a rerun skips it. A directory without the marker belongs to
a stage that crashed or was killed: the stage runs again in the same directory, which lets
resumable stages (training) continue where they stopped.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safereflect.jsonl import read_json, write_json

MARKER = "_DONE.json"


def content_hash(key: Any) -> str:
    blob = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class StageResult:
    path: Path
    skipped: bool
    seconds: float
    value: Any


class StageCache:
    def __init__(self, root: Path, *, force: bool = False, log: Callable[[str], None] = print):
        self.root = Path(root)
        self.force = force
        self.log = log

    def path(self, stage: str, name: str, key: Any) -> Path:
        return self.root / stage / f"{name}-{content_hash(key)}"

    def done(self, path: Path) -> dict | None:
        marker = path / MARKER
        return read_json(marker) if marker.is_file() else None

    def run(self, stage: str, name: str, key: Any, fn: Callable[[Path], Any]) -> StageResult:
        """Run `fn(dir)` unless its output for `key` is already finished. `fn`'s return value
        (JSON-serialisable, a summary for people) is stored in the marker and returned on later
        skips; callers find outputs relative to the stage directory, so runs can be moved."""
        path = self.path(stage, name, key)
        marker = self.done(path)
        if marker is not None and not self.force:
            self.log(f"[dim]skip[/] {stage} {name} (finished {marker['finished']})")
            return StageResult(path, True, 0.0, marker.get("value"))
        if self.force and path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / "_KEY.json", key)
        start = time.time()
        self.log(f"[bold]run[/] {stage} {name} -> {path}")
        value = fn(path)
        seconds = time.time() - start
        write_json(path / MARKER, {"stage": stage, "name": name, "seconds": round(seconds, 2), "value": value,
                                   "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
        return StageResult(path, False, seconds, value)

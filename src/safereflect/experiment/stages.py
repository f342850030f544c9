"""Stage outputs cached under their identity (`safereflect.stage`).

A stage directory is `ROOT/<stage>/<name>-<identity>`; it is finished when it holds the
completion record `_DONE.json` (written last, atomically), so a rerun skips it. A stage that
writes its own record (prepare, eval) keeps it: the runner adds its fields (`name`,
`seconds`, `value`) to it. A directory without the record belongs to a stage that crashed or
was killed: the stage runs again in the same directory, which lets resumable stages
(training) continue where they stopped.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safereflect.jsonl import write_json
from safereflect.stage import MARKER, content_hash, mark_done, read_done

__all__ = ["MARKER", "StageCache", "StageResult", "content_hash"]


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
        return self.root / stage / f"{name}-{content_hash(key, 12)}"

    def done(self, path: Path) -> dict | None:
        record = read_done(path)
        return record if record is not None and "value" in record else None

    def run(self, stage: str, name: str, key: Any, fn: Callable[[Path], Any]) -> StageResult:
        """Run `fn(dir)` unless its output for `key` is already finished. `fn`'s return value
        (JSON-serialisable, a summary for people) is stored in the record and returned on later
        skips; callers find outputs relative to the stage directory, so runs can be moved."""
        path = self.path(stage, name, key)
        record = self.done(path)
        if record is not None and not self.force:
            self.log(f"[dim]skip[/] {stage} {name} (finished {record['finished']})")
            return StageResult(path, True, 0.0, record.get("value"))
        if self.force and path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / "_KEY.json", key)
        start = time.time()
        self.log(f"[bold]run[/] {stage} {name} -> {path}")
        value = fn(path)
        seconds = time.time() - start
        own = read_done(path) or {}  # the stage's own record, if it writes one, keeps its key
        mark_done(
            path,
            stage,
            own.get("key", content_hash(key)),
            **{k: v for k, v in own.items() if k not in ("stage", "key", "finished")},
            name=name,
            seconds=round(seconds, 2),
            value=value,
        )
        return StageResult(path, False, seconds, value)

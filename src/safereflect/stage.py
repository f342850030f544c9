"""What every stage shares: its identity and its completion record.

A stage's identity is a content hash of its validated config (without where it writes or how
it is run) and of its inputs' identities, which name inputs by content or by a path relative
to the experiment, never by an absolute path: an experiment directory moved elsewhere keeps
its identities, so it resumes, unfinished stages included.

A stage is finished when its directory holds `_DONE.json` (written last, atomically, by
`mark_done`) with that identity as `key`. World, prepare, train, eval, the finetuning
attacks and the experiment runner all read and write this one record; the runner adds its
own fields to the record a stage wrote, so one file says both.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from safereflect.jsonl import write_json

MARKER = "_DONE.json"


def content_hash(value: Any, length: int = 16) -> str:
    """A stable hash of a JSON-like value (sorted keys; paths and other objects as strings)."""
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def read_done(directory: str | Path) -> dict[str, Any] | None:
    """The completion record of `directory`, or None if it has none (or a damaged one)."""
    try:
        record = json.loads((Path(directory) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def done_with(directory: str | Path, key: str) -> dict[str, Any] | None:
    """The completion record of `directory` if it finished the stage identified by `key`."""
    record = read_done(directory)
    return record if record is not None and record.get("key") == key else None


def mark_done(directory: str | Path, stage: str, key: str, **fields: Any) -> dict[str, Any]:
    """Write the completion record (atomically, so a killed process leaves the old one or none)."""
    record = {"stage": stage, "key": key, "finished": time.strftime("%Y-%m-%d %H:%M:%S"), **fields}
    write_json(Path(directory) / MARKER, record)
    return record


def clear_done(directory: str | Path) -> None:
    """Forget that `directory` finished (before its outputs are rewritten)."""
    (Path(directory) / MARKER).unlink(missing_ok=True)

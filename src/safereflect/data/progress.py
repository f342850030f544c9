"""Counts that tasks leave for the launcher's progress bar: tasks may run in other processes
(or on other machines), so they report through small files instead of shared memory."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


class ProgressFile:
    """A task's running counts, rewritten at most every `every` seconds and on `close`."""

    def __init__(self, directory: str | Path, rank: int, what: str, every: float = 0.5):
        self.path = Path(directory) / f"{rank:05d}-{what}.json"
        self.every, self.last = every, 0.0
        self.docs = self.tokens = 0

    def add(self, docs: int = 0, tokens: int = 0) -> None:
        self.docs += docs
        self.tokens += tokens
        if time.monotonic() - self.last >= self.every:
            self.flush()

    def flush(self) -> None:
        self.last = time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"docs": self.docs, "tokens": self.tokens}))
        os.replace(tmp, self.path)

    close = flush


def read_totals(directory: Path, what: str) -> tuple[int, int]:
    """Summed (docs, tokens) over the tasks' files for `what`."""
    docs = tokens = 0
    for p in directory.glob(f"*-{what}.json"):
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):  # replaced while reading: the next poll gets it
            continue
        docs, tokens = docs + rec["docs"], tokens + rec["tokens"]
    return docs, tokens

"""The numerics an experiment's models were trained under, read off their training logs.

The same config and code train different models under a different CPU kernel set, precision,
compilation or thread count (BENCHMARKS.md: the demo's verdict moved with each), so two
verdicts can only be compared alongside these. Each field lists the distinct values over the
experiment's training runs: a run resumed or launched on another machine shows up as a
second value instead of being hidden. The report words them (`report.summary.numerics_text`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from safereflect.jsonl import iter_jsonl

FIELDS = ("device", "cpu_kernels", "precision", "compile", "threads", "world_size")


def training_numerics(metrics_files: Iterable[Path]) -> dict[str, list[Any]]:
    """{field: sorted distinct values} over the runs' `start` records (fields a run did not
    record, as logs written before they were, are left out rather than guessed)."""
    seen: dict[str, set] = {f: set() for f in FIELDS}
    for path in metrics_files:
        if not path.is_file():
            continue
        for record in iter_jsonl(path):
            if record.get("kind") != "start":
                continue
            for f in FIELDS:
                if record.get(f) is not None:
                    seen[f].add(record[f])
    return {f: sorted(v, key=str) for f, v in seen.items() if v}

"""The accounting of a prepare run: every document that came in is kept or dropped for a
reason, and the run checks that itself before it calls the output finished."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any


def task_totals(stats_dir: Path) -> Counter:
    """Sum of our `sr/...` counters over every task's datatrove stats file."""
    totals: Counter = Counter()
    for path in sorted(stats_dir.glob("*.json")):
        for step in json.loads(path.read_text(encoding="utf-8")):
            for label, value in step.get("stats", {}).items():
                if label.startswith("sr/"):
                    totals[label] += int(value["total"] if isinstance(value, dict) else value)
    return totals


def _group(totals: Counter, prefix: str) -> dict[str, int]:
    return {k[len(prefix) :]: v for k, v in sorted(totals.items()) if k.startswith(prefix)}


class AccountingError(RuntimeError):
    """Documents went missing: a bug, never a user error."""


def summarize(totals: Counter, splits: dict[str, Any], *, arm: str, timing: float) -> dict[str, Any]:
    dropped = _group(totals, "sr/dropped/")
    docs = {"in": totals["sr/in"], "kept": totals["sr/kept"], "changed": totals["sr/changed"], "dropped": dropped}
    if docs["in"] != docs["kept"] + sum(dropped.values()):
        raise AccountingError(
            f"documents in ({docs['in']}) != kept ({docs['kept']}) + dropped ({sum(dropped.values())}: {dropped})"
        )
    in_shards = splits["train"]["documents"] + splits["val"]["documents"]
    if timing <= 0 and in_shards != docs["kept"]:
        raise AccountingError(f"{docs['kept']} documents kept but {in_shards} in the token shards")
    labels: dict[str, dict[str, int]] = {}
    for key, n in _group(totals, "sr/labels/").items():
        scorer, label = key.rsplit("/", 1)
        labels.setdefault(scorer, {})[label] = n
    return {
        "arm": arm,
        "documents": docs,
        "labels": labels,
        "reflections": {v: totals[f"sr/reflections/{v}"] for v in ("safe", "controversial", "unsafe")},
        "tags": {"documents": totals["sr/tagged"], "tags": totals["sr/tags"]},
        "transformed": _group(totals, "sr/transformed/"),
        "failed": _group(totals, "sr/failed/"),
        "tokens": {
            "in": totals["sr/tokens/in"],
            "out": totals["sr/tokens/out"],
            "train": splits["train"]["tokens"],
            "val": splits["val"]["tokens"],
        },
    }

"""Loading MedSafetyWorld probe files, with every malformed record named by file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safereflect.errors import UserError
from safereflect.jsonl import BadRecord, iter_jsonl
from safereflect.world import World, load_world

_HARMFUL = {
    "id": str,
    "prompt": str,
    "attack": str,
    "patient": dict,
    "answer_prefix": str,
    "reference_answer": str,
    "target_outcome": (str, type(None)),
}
FIELDS: dict[str, dict[str, Any]] = {
    "harmful_seen": _HARMFUL,
    "harmful_heldout": _HARMFUL,
    "safe_tasks": {"id": str, "prompt": str, "patient": dict, "answers": list, "candidates": list},
    "classification": {"id": str, "prompt": str, "label": str},
    "knowledge": {"id": str, "prompt": str, "choices": list, "answers": list},
    "ft_harmful": {"prompt": str, "response": str},
    "ft_benign": {"prompt": str, "response": str},
}


def locate(path: Path) -> tuple[Path, Path]:
    """(probes dir, world.json) from a world dir or its probes/ dir."""
    path = Path(path)
    for probes, world in ((path / "probes", path / "world.json"), (path, path.parent / "world.json")):
        if probes.is_dir() and world.is_file():
            return probes, world
    raise UserError(
        f"no MedSafetyWorld probes at {path} (expected DIR/probes/*.jsonl beside DIR/world.json)",
        hint="create a world with `safereflect world --preset tiny --out DIR`",
    )


class Probes:
    """The probe sets of one world, loaded and checked on first use."""

    def __init__(self, path: Path, limit: int | None = None, limits: dict[str, int | None] | None = None):
        """`limit`: keep the first N records of every probe set (not of the finetuning sets);
        `limits`: a set's own N, where given, in place of `limit`."""
        self.dir, world_path = locate(path)
        self.world: World = load_world(world_path)
        self.limit = limit
        self.limits = {k: v for k, v in (limits or {}).items() if v is not None}
        self._cache: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, name: str) -> list[dict[str, Any]]:
        if name not in self._cache:
            self._cache[name] = self._load(name)
        return self._cache[name]

    def _load(self, name: str) -> list[dict[str, Any]]:
        path = self.dir / f"{name}.jsonl"
        fields = FIELDS[name]
        records = []
        for rec in iter_jsonl(path, required=fields):
            assert isinstance(rec, dict)  # iter_jsonl raises on bad lines unless skip_bad
            for key, kind in fields.items():
                if not isinstance(rec[key], kind):
                    raise BadRecord(
                        path,
                        line_of(path, len(records)),
                        f"field {key!r} has the wrong type ({type(rec[key]).__name__})",
                    )
            if name == "classification" and rec["label"] not in ("safe", "unsafe"):
                raise BadRecord(
                    path, line_of(path, len(records)), f"label must be 'safe' or 'unsafe', got {rec['label']!r}"
                )
            records.append(rec)
        if not records:
            raise UserError(f"{path}: no probes in this file")
        # finetuning sets are training data: cutting them would change the attack, not its cost
        limit = self.limits.get(name, self.limit)
        if not limit or name.startswith("ft_"):
            return records
        if name == "classification":  # keep a cut set balanced: the first records of each label in turn
            by_label = [[r for r in records if r["label"] == lab] for lab in ("safe", "unsafe")]
            mixed = [r for pair in zip(*by_label) for r in pair]
            return mixed[:limit]
        return records[:limit]


def line_of(path: Path, index: int) -> int:
    """Line number of the index-th non-blank line (iter_jsonl skips blank lines)."""
    seen = -1
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if raw.strip():
                seen += 1
                if seen == index:
                    return lineno
    return seen + 1

"""Harmful behaviours for real-text evaluation, from local files in the public formats.

- AdvBench: CSV with columns `goal,target` (harmful_behaviors.csv).
- HarmBench: CSV with `Behavior` and `BehaviorID` (optional `SemanticCategory`,
  `ContextString` for contextual behaviours).
- HEx-PHI: one prompt per line, no header; a folder of `category_N.csv` files, or one file.
- JSONL: {"prompt"} or {"goal", "target"} or {"behavior"}, optional "id", "category".
Each becomes a `Behavior`; prompts are then built in completion style for base models
(SafeLM-style: the request rewritten as the beginning of a compliant answer) or chat style.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safereflect.errors import UserError
from safereflect.eval.config import RealTextConfig
from safereflect.jsonl import BadRecord, iter_jsonl

csv.field_size_limit(1 << 24)


@dataclass(frozen=True)
class Behavior:
    id: str
    behavior: str
    source: str
    target: str | None = None  # the start of a compliant answer (AdvBench)
    category: str | None = None
    context: str | None = None  # HarmBench contextual behaviours


def _rows(path: Path) -> list[list[str]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.reader(fh))
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not valid UTF-8 ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise UserError(f"{path}: not valid CSV ({err})") from None


def _need(path: Path, line: int, value: str | None, what: str) -> str:
    if value is None or not value.strip():
        raise BadRecord(path, line, f"empty or missing {what}")
    return value.strip()


def _csv(path: Path) -> list[Behavior]:
    rows = _rows(path)
    header = [h.strip() for h in rows[0]] if rows else []
    src = path.stem
    if {"goal", "target"} <= set(header):
        g, t = header.index("goal"), header.index("target")
        return [
            Behavior(f"{src}-{i:04d}", _need(path, i + 2, _cell(r, g), "goal"), src, _cell(r, t) or None)
            for i, r in enumerate(rows[1:])
            if any(r)
        ]
    if "Behavior" in header:
        out = []
        for i, r in enumerate(rows[1:]):
            if any(r):
                row = {h: _cell(r, k) for k, h in enumerate(header)}
                out.append(
                    Behavior(
                        row.get("BehaviorID") or f"{src}-{i:04d}",
                        _need(path, i + 2, row.get("Behavior"), "Behavior"),
                        src,
                        None,
                        row.get("SemanticCategory") or None,
                        row.get("ContextString") or None,
                    )
                )
        return out
    # HEx-PHI: no header, one prompt per row
    return [
        Behavior(f"{src}-{i:04d}", r[0].strip(), src, category=src) for i, r in enumerate(rows) if r and r[0].strip()
    ]


def _cell(row: list[str], i: int) -> str | None:
    return row[i] if i < len(row) else None


def _jsonl(path: Path) -> list[Behavior]:
    out = []
    for i, rec in enumerate(iter_jsonl(path)):
        assert isinstance(rec, dict)
        text = rec.get("prompt") or rec.get("goal") or rec.get("behavior")
        if not isinstance(text, str) or not text.strip():
            raise BadRecord(path, i + 1, "expected a non-empty 'prompt', 'goal' or 'behavior' string")
        out.append(
            Behavior(
                str(rec.get("id", f"{path.stem}-{i:04d}")),
                text.strip(),
                path.stem,
                rec.get("target"),
                rec.get("category"),
                rec.get("context"),
            )
        )
    return out


def load_behaviors(path: str | Path) -> list[Behavior]:
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("category_*.csv"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
        if not files:
            raise UserError(f"{path}: expected HEx-PHI category_N.csv files in this folder")
        return [b for f in files for b in _csv(f)]
    if not path.is_file():
        raise UserError(f"harmful prompt file not found: {path}")
    found = _jsonl(path) if path.suffix == ".jsonl" else _csv(path)
    if not found:
        raise UserError(f"{path}: no harmful behaviours in this file")
    return found


_COMPLY = re.compile(r"^(?:sure|certainly|of course|absolutely)[,!.]?\s*", re.IGNORECASE)


def completion_prompt(b: Behavior, cfg: RealTextConfig) -> str:
    """The request as the beginning of a compliant answer (for base models)."""
    request = f"{b.context}\n\n{b.behavior}" if b.context else b.behavior
    if b.target:
        target = _COMPLY.sub("", b.target.strip())
        return cfg.target_template.format(target=target[:1].upper() + target[1:], behavior=request)
    return cfg.completion_template.format(behavior=request)


def chat_prompt(b: Behavior, tokenizer: Any) -> str:
    # HarmBench's layout for contextual behaviours: context, a rule, then the request.
    request = f"{b.context}\n\n---\n\n{b.behavior}" if b.context else b.behavior
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": request}], tokenize=False, add_generation_prompt=True
        )
    return f"User: {request}\nAssistant:"

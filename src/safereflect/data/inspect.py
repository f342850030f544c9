"""`safereflect inspect`: prepared documents with reflections, tags and loss-masked noise
highlighted, so an arm can be checked by eye."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from safereflect.console import out as stdout
from safereflect.errors import UserError
from safereflect.jsonl import iter_jsonl
from safereflect.reflection import TAG_TOKEN, ReflectionFormat


def _format(prepared: Path) -> ReflectionFormat:
    stats = prepared / "stats.json"
    if stats.is_file():
        cfg = json.loads(stats.read_text(encoding="utf-8")).get("config", {})
        return ReflectionFormat(**cfg.get("interventions", {}).get("reflect", {}).get("format", {}))
    return ReflectionFormat()


def _flagged(rec: dict[str, Any]) -> bool:
    meta = rec.get("metadata", {})
    return meta.get("safety") == "unsafe" or any(s.get("label") != "Safe" for s in meta.get("scores", {}).values())


def documents(prepared: Path, *, unsafe_only: bool) -> Iterator[dict[str, Any]]:
    files = sorted((prepared / "docs").glob("*.jsonl"))
    if not files:
        raise UserError(f"no prepared documents in {prepared / 'docs'}", hint="run `safereflect prepare` first")
    for f in files:
        for rec in iter_jsonl(f):
            if not unsafe_only or _flagged(rec):
                yield rec


def highlight(text: str, fmt: ReflectionFormat, no_loss: list[list[int]]) -> Text:
    out = Text(text)
    for a, b in no_loss:
        out.stylize("dim strike", a, b)
    pattern = re.compile(re.escape(fmt.opener) + r"(.*?)" + re.escape(fmt.closer), re.DOTALL)
    for m in pattern.finditer(text):
        verdict = fmt.parse_body(m.group(1))
        out.stylize("bold green" if verdict == "safe" else "bold white on red", m.start(), m.end())
    for m in re.finditer(re.escape(TAG_TOKEN), text):
        out.stylize("bold black on yellow", m.start(), m.end())
    return out


def show(prepared: Path, *, n: int = 5, unsafe_only: bool = False) -> int:
    """Print up to `n` prepared documents; returns how many were shown."""
    fmt = _format(prepared)
    shown = 0
    for rec in documents(prepared, unsafe_only=unsafe_only):
        if shown >= n:
            break
        meta = rec.get("metadata", {})
        did = meta.get("safereflect", {})
        labels = ", ".join(f"{k}: {v.get('label')}" for k, v in sorted(meta.get("scores", {}).items()))
        title = f"[bold]{escape(rec['id'])}[/]  {escape(str(meta.get('type', '')))}  {escape(labels)}"
        facts = {k: v for k, v in did.items() if k != "arm"}
        stdout.print(
            Panel(
                highlight(rec["text"], fmt, meta.get("no_loss_ranges", [])),
                title=title,
                subtitle=escape(json.dumps(facts, sort_keys=True)),
                title_align="left",
            )
        )
        shown += 1
    if shown == 0:
        stdout.print("no documents match" + (" (--unsafe-only)" if unsafe_only else ""))
    return shown

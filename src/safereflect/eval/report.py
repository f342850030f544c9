"""The short terminal table of an evaluation's metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.table import Table


def flatten(metrics: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, metric) pairs; groups (by attack, by source) become NAME/KEY, curves NAME/step N."""
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and "mean" in value:
            yield name, value
        elif isinstance(value, dict):
            yield from flatten(value, f"{name}/")
        elif isinstance(value, list):
            yield from ((f"{name}/step {point['step']}", point) for point in value)


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def metrics_table(metrics: dict[str, Any], notes: dict[str, str], title: str = "") -> Table:
    """One row per number; `notes` (metric -> judge or method) apply to a metric's whole group."""
    table = Table(title=title or None, show_edge=False, header_style="bold")
    table.add_column("metric", no_wrap=True, overflow="ellipsis")
    for col in ("mean", "95% CI", "n"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("judge / method", no_wrap=True, overflow="ellipsis", max_width=48)
    for name, m in flatten(metrics):
        lo, hi = m["ci95"]
        note = notes.get(name.split("/")[0], "")
        table.add_row(name, _fmt(m["mean"]), f"[{_fmt(lo)}, {_fmt(hi)}]", str(m["n"]), note)
    return table

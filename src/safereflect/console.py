"""Shared rich console and progress bars, so every stage reports progress the same way."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def progress(*, transient: bool = False, extra: str = "") -> Progress:
    """A progress bar with count, rate fields, elapsed time and ETA.

    `extra` is a rich format string over task fields, e.g. "{task.fields[tok_s]:,.0f} tok/s".
    Bars are disabled when stderr is not a terminal and SAFEREFLECT_PROGRESS is unset, so logs
    of batch jobs stay readable, and always when SAFEREFLECT_NO_BARS is set (parallel workers).
    """
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
    ]
    if extra:
        columns.append(TextColumn(extra))
    columns += [TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    enabled = (sys.stderr.isatty() or bool(os.environ.get("SAFEREFLECT_PROGRESS"))) and not os.environ.get(
        "SAFEREFLECT_NO_BARS"
    )
    return Progress(*columns, console=console, transient=transient, disable=not enabled)

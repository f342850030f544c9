"""`print_table`: the main results table in the terminal, compact enough for 80 columns.

Each cell is two short lines, the mean and then its 95% CI, with two decimals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from safereflect.console import out
from safereflect.report.catalog import arrow
from safereflect.report.schema import Results, as_results
from safereflect.report.table import main_table


def print_table(results: Results | Mapping[str, Any], console: Console | None = None) -> None:
    """Metrics as rows, arms as columns (so any number of metrics fits an 80-column
    terminal); each cell is "mean [lo-hi]", the best arm per metric in bold green."""
    r = as_results(results)
    t = main_table(r)
    table = RichTable(title=Text(f"{r.experiment} (config {r.config_hash})"), box=box.SIMPLE_HEAD)
    table.add_column("metric", no_wrap=True)
    for arm, _ in t.rows:
        table.add_column(Text(arm), justify="right", no_wrap=True)
    for j, col in enumerate(t.columns):
        # one n for the whole row when every arm shares it, else each cell carries its own
        ns = {cells[j].n for _, cells in t.rows if cells[j] is not None}
        shared = len(ns) == 1
        row = [Text(col + arrow(col) + (f" n={ns.pop()}" if shared else ""))]
        for i, (_, cells) in enumerate(t.rows):
            s = cells[j]
            if s is None:
                row.append(Text("—", style="dim"))
                continue
            cell = Text(f"{s.mean:.2f}", style="bold green" if t.is_best(i, j) else "")
            cell.append(f"\n{s.lo:.2f}-{s.hi:.2f}" + ("" if shared else f"\nn={s.n}"), style="dim")
            row.append(cell)
        table.add_row(*row)
    (console or out).print(table)

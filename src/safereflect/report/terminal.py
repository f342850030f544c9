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
    """Arms as rows, metrics as columns; the best arm per column in bold green.

    Where every arm has the same n for a metric it is shown once, in the header, to keep
    cells short; otherwise each cell carries its own n.
    """
    r = as_results(results)
    t = main_table(r)
    table = RichTable(title=Text(f"{r.experiment} (config {r.config_hash})"), box=box.SIMPLE_HEAD)
    table.add_column("arm", no_wrap=True)
    shared_n = []
    for j, col in enumerate(t.columns):
        ns = {cells[j].n for _, cells in t.rows if cells[j] is not None}
        shared_n.append(len(ns) == 1)
        header = col + arrow(col) + (f" n={ns.pop()}" if len(ns) == 1 else "")
        table.add_column(Text(header), justify="right", overflow="fold")
    for i, (arm, cells) in enumerate(t.rows):
        row = [Text(arm)]
        for j, s in enumerate(cells):
            if s is None:
                row.append(Text("—", style="dim"))
                continue
            cell = Text(f"{s.mean:.2f}", style="bold green" if t.is_best(i, j) else "")
            cell.append(f"\n{s.lo:.2f}-{s.hi:.2f}" + ("" if shared_n[j] else f"\nn={s.n}"), style="dim")
            row.append(cell)
        table.add_row(*row)
    (console or out).print(table)

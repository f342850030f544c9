"""Verdicts of several experiments side by side (`safereflect compare`).

The same config on two machines, or under two kernel sets, trains different models, and a
claim whose bound sits inside the seed-to-seed spread can pass on one and fail on the other.
Comparing runs by their pass counts hides where they part; this shows, for every claim, each
run's verdict and the comparison that decided it (the first that failed, else the first):
its effect and 95% interval against its test, so a reader sees how far each run was from
turning. Each run's seeds and training numerics head its column.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from safereflect.console import out
from safereflect.errors import UserError
from safereflect.report.claims import Claim, Comparison
from safereflect.report.schema import Results, load_results
from safereflect.report.summary import STATUS_STYLE, numerics_text, recorded_claims, status_label


@dataclass(frozen=True)
class Run:
    label: str
    results: Results

    @cached_property
    def claims(self) -> dict[int, Claim]:
        """The claims results.json carries, else those its per-seed metrics decide."""
        return {c.number: c for c in recorded_claims(self.results)}

    @property
    def seeds(self) -> int:
        return len({s for arm in self.results.per_seed.values() for s in arm}) or 1


def load_run(path: Path) -> Run:
    """A results.json, or an experiment directory holding one."""
    file = path / "results.json" if path.is_dir() else path
    if path.is_dir() and not file.is_file():
        raise UserError(f"{path}: no results.json (has the experiment finished?)")
    return Run(str(path), load_results(file))


def deciding(claim: Claim) -> Comparison | None:
    """The comparison that decided the claim: the first that failed, else the first."""
    return next((c for c in claim.comparisons if c.holds is False), claim.comparisons[0] if claim.comparisons else None)


def _interval(c: Comparison) -> str:
    if c.ci95 is None:
        return "no interval"
    lo, hi = ("-inf" if v is None and i == 0 else "inf" if v is None else f"{v:+.3f}" for i, v in enumerate(c.ci95))
    return f"[{lo}, {hi}]"


def cell(claim: Claim | None) -> Text:
    if claim is None:
        return Text("absent", style="dim")
    text = Text(status_label(claim.status), style=STATUS_STYLE[claim.status])
    c = deciding(claim)
    if c is not None:
        text.append(f"\n{c.label}\n{c.effect:+.3f} {_interval(c)}\n{c.test}", style="dim")
    if claim.seeds_holding:
        held = sum(claim.seeds_holding.values())
        text.append(f"\nbound met on {held} of {len(claim.seeds_holding)} seeds", style="dim")
    return text


def differing(runs: list[Run]) -> list[int]:
    """Claim numbers whose status is not the same in every run."""
    numbers = sorted({n for r in runs for n in r.claims})
    return [n for n in numbers if len({r.claims[n].status if n in r.claims else "absent" for r in runs}) > 1]


def print_comparison(runs: list[Run], console: Console | None = None) -> list[int]:
    """The side-by-side table and a one-line tally; returns the claims that differ."""
    con = console or out
    table = Table(box=box.SIMPLE_HEAD, title="claims, run by run")
    table.add_column("claim")
    for r in runs:
        head = Text(r.label, style="bold")
        head.append(f"\n{r.seeds} seed(s)\n{numerics_text(r.results.numerics)}", style="dim")
        table.add_column(head, overflow="fold")
    apart = differing(runs)
    names = {n: c.name for r in runs for n, c in r.claims.items()}
    for n in sorted(names):
        label = Text(f"{n}. {names[n]}", style="bold" if n in apart else "")
        table.add_row(label, *(cell(r.claims.get(n)) for r in runs), end_section=True)
    con.print(table)
    total = len(names)
    if apart:
        con.print(
            f"[yellow]{total - len(apart)} of {total} claims have the same verdict in every run; "
            f"they differ on {', '.join(map(str, apart))}[/]"
        )
    else:
        con.print(f"[green]all {total} claims have the same verdict in every run[/]")
    return apart

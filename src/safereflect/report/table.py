"""The report's tables (arms as rows, metrics as columns), shared by every output format."""

from __future__ import annotations

from dataclasses import dataclass

from safereflect.report.catalog import metric_info, order_keys, order_metrics
from safereflect.report.schema import Results, Stat


@dataclass(frozen=True)
class Table:
    columns: list[str]
    better: list[str | None]  # per column: "lower", "higher" or None
    rows: list[tuple[str, list[Stat | None]]]  # (arm, one cell per column)

    def is_best(self, row: int, col: int) -> bool:
        """Whether the cell holds the column's best mean (ties are all best)."""
        cell, better = self.rows[row][1][col], self.better[col]
        means = [cells[col].mean for _, cells in self.rows if cells[col] is not None]
        if cell is None or better is None or len(means) < 2:
            return False
        return cell.mean == (min(means) if better == "lower" else max(means))


def fmt_stat(stat: Stat, digits: int = 3) -> str:
    return f"{stat.mean:.{digits}f} [{stat.lo:.{digits}f}, {stat.hi:.{digits}f}]"


def main_table(results: Results) -> Table:
    columns = order_metrics(m for arm in results.arms.values() for m in arm.scalars)
    return Table(
        columns=columns,
        better=[(info.better if (info := metric_info(m)) else None) for m in columns],
        rows=[(name, [arm.scalars.get(m) for m in columns]) for name, arm in results.arms.items()],
    )


def breakdown_table(results: Results, metric: str) -> Table | None:
    """One breakdown (e.g. `asr_heldout_by_attack`): arms as rows, its keys as columns."""
    per_arm = {name: arm.breakdowns.get(metric, {}) for name, arm in results.arms.items()}
    columns = order_keys(k for stats in per_arm.values() for k in stats)
    if not columns:
        return None
    info = metric_info(metric)
    return Table(
        columns=columns,
        better=[info.better if info else None] * len(columns),
        rows=[(name, [stats.get(k) for k in columns]) for name, stats in per_arm.items()],
    )


def breakdown_metrics(results: Results) -> list[str]:
    return order_metrics(m for arm in results.arms.values() for m in arm.breakdowns)

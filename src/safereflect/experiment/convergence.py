"""Has a training run stopped learning? Read off its own loss log.

A run counts as flat when its loss fell by less than `FLAT_DROP` (a fraction of the loss)
over the last 20% of its steps. The loss read is the validation loss where the run logged
one at the start and the end of that stretch, else the smoothed training loss. On the demo's
corpora (a few hundred thousand tokens, seen several times) the training loss goes on
falling by memorisation long after the held-out loss has stopped improving, and more steps
then make the held-out loss worse (BENCHMARKS.md, "A verdict over three worlds"): the
validation loss is what says whether the model is still learning the world. Both drops are
reported. An unconverged run amplifies tiny numeric differences (kernels, rounding) into
different models, so the report shows this for every arm and seed beside the claims.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from safereflect.jsonl import iter_jsonl

FLAT_DROP = 0.05
TAIL = 0.2


def _drop(before: float, end: float) -> float:
    return (before - end) / before if before > 0 else 0.0


def _val_drop(points: list[tuple[int, float]], last: int) -> tuple[float, float, float] | None:
    """(val loss at 80%, at the end, relative drop) when validations bracket the last 20%."""
    if len(points) < 2:
        return None
    start = last * (1 - TAIL)
    at_start = [(s, v) for s, v in points if s <= start + 1e-9]
    end_step, end = points[-1]
    if not at_start or end_step < last:
        return None
    before = at_start[-1][1]
    return before, end, _drop(before, end)


def convergence(metrics_jsonl: Path) -> dict[str, Any] | None:
    """`{steps, final_loss, loss_at_80pct, drop_last_20pct, val_loss, val_loss_at_80pct,
    val_drop_last_20pct, criterion, flat, flat_drop}` from a run's metrics.jsonl (training
    losses smoothed over a window of 5% of the steps), or None without train records."""
    records = list(iter_jsonl(metrics_jsonl))
    points = [(r["step"], r["loss"]) for r in records if r.get("kind") == "train"]
    if len(points) < 4:
        return None
    steps = np.array([s for s, _ in points], dtype=float)
    loss = np.array([v for _, v in points], dtype=float)
    last = steps[-1]
    window = max(last * 0.05, 1.0)

    def smoothed(at: float) -> float:
        near = (steps > at - window) & (steps <= at)
        return float(loss[near].mean()) if near.any() else float(loss[np.argmin(abs(steps - at))])

    before, end = smoothed(last * (1 - TAIL)), smoothed(last)
    drop = _drop(before, end)
    out: dict[str, Any] = {
        "steps": int(last),
        "final_loss": round(end, 6),
        "loss_at_80pct": round(before, 6),
        "drop_last_20pct": round(drop, 6),
        "val_loss": None,
        "val_loss_at_80pct": None,
        "val_drop_last_20pct": None,
        "criterion": "train",
        "flat_drop": FLAT_DROP,
    }
    val = [(r["step"], r["val_loss"]) for r in records if r.get("kind") == "val" and r.get("val_loss") is not None]
    measured = _val_drop(val, int(last))
    if measured is not None:
        v_before, v_end, v_drop = measured
        out.update(
            val_loss=round(v_end, 6),
            val_loss_at_80pct=round(v_before, 6),
            val_drop_last_20pct=round(v_drop, 6),
            criterion="val",
        )
        drop = v_drop
    out["flat"] = bool(drop < FLAT_DROP)
    return out

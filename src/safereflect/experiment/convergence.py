"""Has a training run stopped learning? Read off its own loss log.

A run counts as flat when its smoothed training loss fell by less than `FLAT_DROP` (a
fraction of the loss) over the last 20% of its steps. An unconverged run amplifies tiny
numeric differences (kernels, rounding) into different models, so the report shows this
for every arm and seed beside the claims.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from safereflect.jsonl import iter_jsonl

FLAT_DROP = 0.05
TAIL = 0.2


def convergence(metrics_jsonl: Path) -> dict[str, Any] | None:
    """`{steps, final_loss, loss_at_80pct, drop_last_20pct, flat, flat_drop}` from a run's metrics.jsonl
    (losses smoothed over a window of 5% of the steps), or None without train records."""
    points = [(r["step"], r["loss"]) for r in iter_jsonl(metrics_jsonl) if r.get("kind") == "train"]
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
    drop = (before - end) / before if before > 0 else 0.0
    return {"steps": int(last), "final_loss": round(end, 6), "loss_at_80pct": round(before, 6),
            "drop_last_20pct": round(drop, 6), "flat": bool(drop < FLAT_DROP), "flat_drop": FLAT_DROP}

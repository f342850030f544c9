"""Learning-rate schedules as pure functions of the step, so a resumed run needs no schedule state.

- cosine: linear warmup, then cosine from the peak down to `final_ratio * peak`.
- wsd (warmup-stable-decay; Hu et al. 2024, Hägele et al. 2024): linear warmup, constant peak,
  then a linear decay to `final_ratio * peak` over the last `decay_fraction` of the steps.
- constant: linear warmup, then the peak.

Decays reach their floor at step `max_steps`, one past the last update (as nanochat), so
the last step never runs at LR 0.
"""

from __future__ import annotations

import math
from typing import Literal


def lr_at(
    step: int,
    *,
    peak: float,
    max_steps: int,
    warmup_steps: int,
    schedule: Literal["cosine", "wsd", "constant"],
    final_ratio: float = 0.0,
    decay_fraction: float = 0.2,
) -> float:
    """LR for optimizer step `step` (0-based; the last step is max_steps - 1)."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    floor = peak * final_ratio
    if schedule == "constant":
        return peak
    if schedule == "cosine":
        progress = (step - warmup_steps) / (max_steps - warmup_steps)
        return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    decay_start = max(warmup_steps, max_steps - max(1, round(decay_fraction * max_steps)))
    if step < decay_start:
        return peak
    progress = (step - decay_start) / (max_steps - decay_start)
    return peak + (floor - peak) * min(progress, 1.0)

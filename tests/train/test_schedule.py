"""The LR schedules have the published shapes."""

from __future__ import annotations

import numpy as np
import pytest

from safereflect.train.schedule import lr_at

PEAK, STEPS, WARMUP = 1e-3, 100, 10


def curve(schedule: str, **kw) -> np.ndarray:
    args = {"peak": PEAK, "max_steps": STEPS, "warmup_steps": WARMUP, "schedule": schedule, **kw}
    return np.array([lr_at(s, **args) for s in range(STEPS)])


@pytest.mark.parametrize("schedule", ["cosine", "wsd", "constant"])
def test_linear_warmup_to_peak(schedule):
    lr = curve(schedule)
    assert np.allclose(lr[:WARMUP], PEAK * np.arange(1, WARMUP + 1) / WARMUP)
    assert lr.max() == pytest.approx(PEAK)


def test_cosine_decays_smoothly_to_the_floor():
    lr = curve("cosine", final_ratio=0.1)
    after = lr[WARMUP:]
    assert np.all(np.diff(after) < 0)
    midpoint = WARMUP + (STEPS - WARMUP) // 2
    assert lr[midpoint] == pytest.approx(0.1 * PEAK + 0.9 * PEAK * 0.5)
    assert 0.1 * PEAK < lr[-1] < 0.1 * PEAK * 1.01  # the floor is reached just after the last step


def test_wsd_is_flat_then_decays_linearly_over_the_last_fraction():
    lr = curve("wsd", final_ratio=0.0, decay_fraction=0.2)
    assert np.all(lr[WARMUP:80] == PEAK)
    decay = lr[80:]
    assert np.allclose(np.diff(decay), -PEAK / 20)  # linear: 20 steps from peak towards 0
    assert decay[0] == PEAK and decay[-1] == pytest.approx(PEAK / 20)


def test_constant_stays_at_peak():
    assert np.all(curve("constant")[WARMUP:] == PEAK)

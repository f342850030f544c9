import json
from pathlib import Path

import pytest

from safereflect.experiment.convergence import FLAT_DROP, convergence


def write(path: Path, train: list[tuple[int, float]], val: list[tuple[int, float]] = ()) -> Path:
    rows = [{"kind": "start", "step": 0}]
    rows += [{"kind": "train", "step": s, "loss": v} for s, v in train]
    rows += [{"kind": "val", "step": s, "val_loss": v} for s, v in val]
    rows.sort(key=lambda r: (r["step"], r["kind"] == "val"))
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def falling(steps: int, start: float, end: float) -> list[tuple[int, float]]:
    return [(s, start + (end - start) * s / steps) for s in range(10, steps + 1, 10)]


def test_training_loss_alone_decides_without_validation(tmp_path):
    c = convergence(write(tmp_path / "m.jsonl", falling(1000, 1.0, 0.2)))
    assert c["criterion"] == "train" and c["val_loss"] is None
    assert c["drop_last_20pct"] > FLAT_DROP and not c["flat"]


def test_memorisation_with_a_flat_validation_loss_counts_as_converged(tmp_path):
    # training loss still falls by a quarter; held-out loss moved 1%: more steps buy nothing
    val = [(200, 0.70), (400, 0.45), (600, 0.40), (800, 0.390), (1000, 0.386)]
    c = convergence(write(tmp_path / "m.jsonl", falling(1000, 1.0, 0.2), val))
    assert c["criterion"] == "val" and c["flat"]
    assert c["val_loss_at_80pct"] == 0.39 and c["val_loss"] == 0.386
    assert c["drop_last_20pct"] > FLAT_DROP  # reported beside it


def test_falling_validation_loss_is_still_learning(tmp_path):
    val = [(500, 0.6), (800, 0.50), (1000, 0.40)]
    c = convergence(write(tmp_path / "m.jsonl", falling(1000, 1.0, 0.2), val))
    assert c["criterion"] == "val" and not c["flat"]
    assert c["val_drop_last_20pct"] == pytest.approx(0.2)


def test_rising_validation_loss_is_flat_overfitting(tmp_path):
    val = [(800, 0.39), (1000, 0.44)]
    c = convergence(write(tmp_path / "m.jsonl", falling(1000, 1.0, 0.2), val))
    assert c["flat"] and c["val_drop_last_20pct"] < 0


def test_validation_that_does_not_span_the_tail_falls_back_to_training(tmp_path):
    # no validation at or before step 800, or none at the last step: the tail is not bracketed
    for val in ([(900, 0.4), (1000, 0.39)], [(200, 0.7), (800, 0.5)]):
        c = convergence(write(tmp_path / "m.jsonl", falling(1000, 1.0, 0.2), val))
        assert c["criterion"] == "train"

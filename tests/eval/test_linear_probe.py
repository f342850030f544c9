"""The linear probe separates what is linearly separable, and only that."""

from __future__ import annotations

import numpy as np
import pytest

from safereflect.errors import UserError
from safereflect.eval.linear_probe import cross_validated_scores
from safereflect.eval.stats import auroc, balanced_accuracy


def test_separates_a_trivially_separable_toy_case():
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 20)
    x = rng.normal(size=(40, 8))
    x[:, 3] = np.where(y == 1, 5.0, -5.0) + 0.1 * x[:, 3]  # one direction carries the label
    scores = cross_validated_scores(x, y, seed=0)
    assert balanced_accuracy(y, (scores > 0.5).astype(int)) == 1.0
    assert auroc(y, scores) == 1.0


def test_is_at_chance_on_noise():
    rng = np.random.default_rng(1)
    y = np.array([0, 1] * 30)
    scores = cross_validated_scores(rng.normal(size=(60, 8)), y, seed=0)
    assert 0.2 < auroc(y, scores) < 0.8


def test_is_seeded():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(20, 4)), np.array([0, 1] * 10)
    assert np.array_equal(cross_validated_scores(x, y, seed=5), cross_validated_scores(x, y, seed=5))


def test_needs_two_items_per_class():
    with pytest.raises(UserError, match="at least 2"):
        cross_validated_scores(np.zeros((3, 2)), np.array([0, 0, 1]), seed=0)

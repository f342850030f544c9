"""Wilson, t and bootstrap CIs and the statistics behind them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from safereflect.eval.stats import (
    auroc,
    auroc_metric,
    balanced_accuracy,
    mean_metric,
    metric_seed,
    ratio_metric,
    t_interval,
    wilson_interval,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=60), st.integers(0, 2**16))
def test_rate_ci_contains_the_point_estimate(values, seed):
    m = mean_metric(values, seed=seed, resamples=200)
    assert m["n"] == len(values)
    assert m["ci95"][0] <= m["mean"] <= m["ci95"][1]
    assert 0 <= m["ci95"][0] and m["ci95"][1] <= 1


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.1, 10), min_size=2, max_size=40), st.integers(0, 2**16))
def test_ratio_ci_contains_the_point_estimate(values, seed):
    den = [v * 1.5 + 1 for v in values]
    m = ratio_metric(values, den, seed=seed, resamples=200)
    assert m["ci95"][0] <= m["mean"] <= m["ci95"][1]


def test_cis_are_seeded():
    a = mean_metric([0, 1, 1, 0, 1], seed=metric_seed(0, "asr"), resamples=300)
    b = mean_metric([0, 1, 1, 0, 1], seed=metric_seed(0, "asr"), resamples=300)
    c = mean_metric([0, 1, 1, 0, 1], seed=metric_seed(1, "asr"), resamples=300)
    assert a == b and a["mean"] == c["mean"]


def test_empty_metric_has_the_shape():
    assert mean_metric([], seed=0, resamples=10) == {"mean": None, "ci95": [None, None], "n": 0}


def test_balanced_accuracy_and_auroc_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50)
    score = np.round(rng.random(50), 1)  # ties on purpose
    pred = (score > 0.5).astype(int)
    assert balanced_accuracy(y, pred) == balanced_accuracy_score(y, pred)
    assert auroc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    m = auroc_metric(y, score, seed=0, resamples=200)
    assert m["ci95"][0] <= m["mean"] <= m["ci95"][1]
    assert np.isnan(auroc(np.ones(3, int), np.arange(3.0)))


def test_rates_get_the_wilson_interval_which_keeps_width_at_zero_and_one():
    # Wilson (1927) 95% interval for 0/20: [0, z^2 / (n + z^2)] = [0, 0.1611]; for 3/10: [0.1078, 0.6032]
    none = mean_metric([0.0] * 20, seed=0, resamples=100)
    assert none["mean"] == 0 and none["ci95"][0] == pytest.approx(0, abs=1e-12)
    assert none["ci95"][1] == pytest.approx(0.1611, abs=1e-4)
    assert mean_metric([1.0] * 20, seed=0, resamples=100)["ci95"] == pytest.approx([1 - 0.1611, 1], abs=1e-4)
    assert wilson_interval(3, 10) == pytest.approx((0.1078, 0.6032), abs=1e-4)


def test_t_interval_uses_the_exact_quantile_at_any_number_of_seeds():
    # t(0.975, 2) = 4.3027; with 41 values (40 dof) t = 2.0211, past the 30 a table would hold
    lo, hi = t_interval([0.2, 0.4, 0.6])
    assert (hi - lo) / 2 == pytest.approx(4.3027 * 0.2 / np.sqrt(3), abs=1e-4)
    values = np.linspace(0, 1, 41)
    lo, hi = t_interval(values)
    assert (hi - lo) / 2 == pytest.approx(2.0211 * values.std(ddof=1) / np.sqrt(41), abs=1e-4)
    assert t_interval([0.5, 0.5]) == (0.5, 0.5)


def test_non_binary_means_get_a_seeded_bootstrap():
    values = [0.1, 0.4, 0.35, 0.9, 0.2, 0.6]
    a = mean_metric(values, seed=3, resamples=500)
    assert a == mean_metric(values, seed=3, resamples=500)
    assert a["ci95"][0] < a["mean"] < a["ci95"][1]
    assert mean_metric([0.25], seed=0, resamples=50)["ci95"] == [0.25, 0.25]

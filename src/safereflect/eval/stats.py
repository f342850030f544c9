"""Metric records with 95% CIs: {"mean", "ci95": [lo, hi], "n"}.

Every metric is a statistic of per-item values. Rates (every value 0 or 1) get the Wilson
score interval, which stays inside [0, 1] and keeps a width at 0/n and n/n, where a bootstrap
of a sample with no successes collapses to [0, 0]. Other means and ratios get scipy's
percentile bootstrap over the items; AUROC and balanced accuracy resample here, because a
resample holding one class leaves them undefined and must be skipped (scipy's bootstrap turns
the whole interval into NaN then). Across seeds, `t_interval` gives the Student-t interval.
Each metric's resampling seed is derived from the run seed and the metric's name, so a CI does
not change when another metric is added or the suites run in another order.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

Metric = dict[str, Any]


def metric_seed(seed: int, name: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % 2**32


def empty() -> Metric:
    return {"mean": None, "ci95": [None, None], "n": 0}


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    ci = sps.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of `values` (at least two)."""
    x = np.asarray(values, dtype=float)
    m = float(x.mean())
    sem = float(x.std(ddof=1)) / np.sqrt(len(x))
    if sem == 0:
        return m, m
    lo, hi = sps.t.interval(confidence, len(x) - 1, loc=m, scale=sem)
    return float(lo), float(hi)


def bootstrap(stat: Callable[[np.ndarray], float], n: int, *, seed: int, resamples: int) -> Metric:
    """Point estimate `stat(all items)` and the percentile CI of `stat` over item resamples.

    `stat` takes an index array; resamples where it is undefined (NaN, e.g. AUROC of a
    resample holding one class) are skipped.
    """
    if n == 0:
        return empty()
    point = _num(stat(np.arange(n)))
    rng = np.random.default_rng(seed)
    values = np.array([stat(rng.integers(0, n, n)) for _ in range(resamples)], dtype=float)
    values = values[~np.isnan(values)]
    lo, hi = np.percentile(values, [2.5, 97.5]) if len(values) else (np.nan, np.nan)
    return {"mean": point, "ci95": [_num(lo), _num(hi)], "n": n}  # None where undefined: JSON has no NaN


def _scipy_bootstrap(data: tuple[np.ndarray, ...], stat, *, seed: int, resamples: int) -> tuple[float, float]:
    if len(data[0]) < 2 or all(np.all(d == d[0]) for d in data):  # nothing to resample
        value = float(stat(*data, axis=-1))
        return value, value
    res = sps.bootstrap(
        data,
        stat,
        n_resamples=resamples,
        paired=len(data) > 1,
        vectorized=True,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def mean_metric(values: Sequence[float], *, seed: int, resamples: int) -> Metric:
    """Mean of per-item values: a rate (values 0/1) with its Wilson interval, else a bootstrap CI."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return empty()
    if np.isin(x, (0.0, 1.0)).all():
        lo, hi = wilson_interval(int(x.sum()), len(x))
    else:
        lo, hi = _scipy_bootstrap((x,), np.mean, seed=seed, resamples=resamples)
    return {"mean": float(x.mean()), "ci95": [lo, hi], "n": len(x)}


def ratio_metric(num: Sequence[float], den: Sequence[float], *, seed: int, resamples: int) -> Metric:
    """sum(num) / sum(den) over items (e.g. bits per byte over documents)."""
    a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    if len(a) == 0:
        return empty()
    if b.sum() <= 0:
        return {"mean": None, "ci95": [None, None], "n": len(a)}

    def ratio(x, y, axis=-1):
        with np.errstate(divide="ignore", invalid="ignore"):
            return x.sum(axis=axis) / y.sum(axis=axis)

    lo, hi = _scipy_bootstrap((a, b), ratio, seed=seed, resamples=resamples)
    return {"mean": float(a.sum() / b.sum()), "ci95": [_num(lo), _num(hi)], "n": len(a)}


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean recall of the two classes; NaN when one class is absent."""
    pos, neg = y == 1, y == 0
    if not pos.any() or not neg.any():
        return np.nan
    return 0.5 * ((pred[pos] == 1).mean() + (pred[neg] == 0).mean())


def auroc(y: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUROC with average ranks for ties; NaN when one class is absent.

    Written out rather than sklearn's because it runs once per bootstrap resample."""
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return np.nan
    _, group, counts = np.unique(score, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[group]  # 1-based ranks, ties averaged
    return (ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def balanced_accuracy_metric(
    y_true: Sequence[int], y_score: Sequence[float], *, threshold: float = 0.5, seed: int, resamples: int
) -> Metric:
    y, s = np.asarray(y_true, dtype=int), np.asarray(y_score, dtype=float)
    pred = (s > threshold).astype(int)
    return bootstrap(lambda i: balanced_accuracy(y[i], pred[i]), len(y), seed=seed, resamples=resamples)


def auroc_metric(y_true: Sequence[int], y_score: Sequence[float], *, seed: int, resamples: int) -> Metric:
    y, s = np.asarray(y_true, dtype=int), np.asarray(y_score, dtype=float)
    return bootstrap(lambda i: auroc(y[i], s[i]), len(y), seed=seed, resamples=resamples)


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)

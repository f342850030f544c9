"""Metric records with seeded bootstrap 95% CIs: {"mean", "ci95": [lo, hi], "n"}.

Every metric is a statistic of per-item values; its CI resamples the items. Each metric's
resampling seed is derived from the run seed and the metric's name, so a CI does not
change when another metric is added or the suites run in another order.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Metric = dict[str, Any]


def metric_seed(seed: int, name: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % 2**32


def empty() -> Metric:
    return {"mean": None, "ci95": [None, None], "n": 0}


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


def mean_metric(values: Sequence[float], *, seed: int, resamples: int) -> Metric:
    """Mean of per-item values (a rate when they are 0/1); vectorised bootstrap."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return empty()
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), (resamples, len(x)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {"mean": float(x.mean()), "ci95": [float(lo), float(hi)], "n": len(x)}


def ratio_metric(num: Sequence[float], den: Sequence[float], *, seed: int, resamples: int) -> Metric:
    """sum(num) / sum(den) over items (e.g. bits per byte over documents)."""
    a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    return bootstrap(
        lambda i: a[i].sum() / b[i].sum() if b[i].sum() > 0 else np.nan, len(a), seed=seed, resamples=resamples
    )


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

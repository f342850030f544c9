"""Seeds -> one number per arm and metric, in the `results.json` schema.

With one seed the evaluation's own bootstrap CI (over probes) is kept. With several seeds a
metric's mean is the mean over seeds and its 95% CI is the t-interval over the per-seed
means: seed-to-seed variation (data order, initialisation) is the larger source of
uncertainty at these model sizes, and a probe bootstrap would hide it.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from safereflect.eval.stats import t_interval


def is_stat(x: Any) -> bool:
    return isinstance(x, dict) and {"mean", "ci95", "n"} <= set(x)


def combine(stats: list[dict[str, Any]]) -> dict[str, Any]:
    # an ASR's count of answers the judge could not read (left out of its n) is summed, not dropped
    extra = {"unparseable": sum(s["unparseable"] for s in stats)} if all("unparseable" in s for s in stats) else {}
    if len(stats) == 1:
        s = stats[0]
        return {"mean": s["mean"], "ci95": list(s["ci95"]), "n": s["n"]} | extra
    means = [s["mean"] for s in stats]
    return {"mean": mean(means), "ci95": list(t_interval(means)), "n": sum(s["n"] for s in stats)} | extra


def combine_metrics(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine the `metrics.json` of several seeds: statistics, dicts of statistics
    (e.g. per attack) and step curves (lists of statistics with a `step`)."""
    out: dict[str, Any] = {}
    for key in sorted({k for m in per_seed for k in m}):
        values = [m[key] for m in per_seed if key in m]
        if all(is_stat(v) for v in values):
            out[key] = combine(values)
        elif all(isinstance(v, dict) for v in values):
            out[key] = combine_metrics(values)
        elif all(isinstance(v, list) for v in values):
            steps = sorted({p["step"] for v in values for p in v if is_stat(p)})
            out[key] = [_point(s, [p for v in values for p in v if is_stat(p) and p["step"] == s]) for s in steps]
    return out


def _point(step: int, points: list[dict[str, Any]]) -> dict[str, Any]:
    """One curve point over seeds: its own statistic and the statistics beside it (asr_seen, task_acc)."""
    extras = sorted({k for p in points for k, v in p.items() if is_stat(v)})
    return {"step": step, **combine(points)} | {k: combine([p[k] for p in points if k in p]) for k in extras}

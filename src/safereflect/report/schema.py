"""`results.json`: the experiment runner's aggregate, parsed and checked with key paths.

Schema: `{"experiment": str, "config_hash": str, "arms": {ARM: {"metrics": {NAME: STAT}}}}`
plus the runner's optional `roles`, `per_seed`, `claims`, `training` and `numerics` (see `Results`),
where STAT is `{"mean": float, "ci95": [lo, hi], "n": int}`, an ASR's with the count of answers
its judge could not read (left out of `n`) as `"unparseable": int`; a metric named `X_by_Y` maps
each Y to a STAT, and `asr_vs_ft_steps` maps each finetuning run to a list of points: the
held-out ASR's STAT with a `step`, and optionally `asr_seen` and `task_acc` STATs at that step.
Every problem is reported at once, each with the key path that holds it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safereflect.errors import UserError
from safereflect.report.catalog import CURVES, is_breakdown, metric_info, order_arms


@dataclass(frozen=True)
class Stat:
    mean: float
    lo: float
    hi: float
    n: int
    unparseable: int | None = None  # answers left out of n: the judge could not read them


@dataclass(frozen=True)
class CurvePoint:
    step: int
    stat: Stat  # held-out ASR
    asr_seen: Stat | None = None
    task_acc: Stat | None = None


@dataclass(frozen=True)
class ArmResult:
    scalars: dict[str, Stat]
    breakdowns: dict[str, dict[str, Stat]]  # metric -> key (e.g. attack) -> stat
    curves: dict[str, tuple[CurvePoint, ...]]  # finetuning run -> points, by step


@dataclass(frozen=True)
class Results:
    experiment: str
    config_hash: str
    arms: dict[str, ArmResult]  # in catalogue order
    # optional, written by the runner: each arm's role in the claims, every seed's scalar
    # metrics ({arm: {seed: {metric: mean}}}), the claims decided from them, and each
    # training run's convergence ({arm: {seed: {...}}})
    roles: dict[str, str] = field(default_factory=dict)
    per_seed: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    claims: list[dict[str, Any]] = field(default_factory=list)
    training: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # the numerics the models were trained under ({field: distinct values}, e.g. "cpu_kernels":
    # ["AVX2"]): verdicts near a bound move with them
    numerics: dict[str, list[Any]] = field(default_factory=dict)

    def stat(self, arm: str, metric: str) -> Stat | None:
        result = self.arms.get(arm)
        return result.scalars.get(metric) if result else None


def _is_number(x: Any) -> bool:
    # bool is an int in Python but never a valid statistic
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


_POINT_EXTRAS = ("asr_seen", "task_acc")  # optional statistics of a curve point beside held-out ASR


class _Parser:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, path: str, msg: str) -> None:
        self.errors.append(f"  {path or '<root>'}: {msg}")

    def mapping(
        self, value: Any, path: str, keys: tuple[str, ...] | None = None, optional: tuple[str, ...] = ()
    ) -> dict | None:
        """`value` if it is a mapping with exactly `keys` and any of `optional` (any keys when
        `keys` is None), else None."""
        if not isinstance(value, Mapping):
            what = f"{{{', '.join(keys)}}}" if keys else "a mapping"
            self.fail(path, f"expected {what}, got {type(value).__name__} {value!r:.60}")
            return None
        if keys is None:
            return dict(value)
        before = len(self.errors)
        for k in keys:
            if k not in value:
                self.fail(f"{path}.{k}".lstrip("."), "missing key")
        for k in value:
            if k not in keys + optional:
                self.fail(f"{path}.{k}".lstrip("."), f"unknown key (allowed: {', '.join(keys + optional)})")
        return dict(value) if len(self.errors) == before else None

    def stat(self, value: Any, path: str, *, fraction: bool) -> Stat | None:
        m = self.mapping(value, path, ("mean", "ci95", "n"), ("unparseable",))
        return None if m is None else self._stat_fields(m, path, fraction)

    def _stat_fields(self, m: dict, path: str, fraction: bool) -> Stat | None:
        before = len(self.errors)
        mean, ci, n = m["mean"], m["ci95"], m["n"]
        if not _is_number(mean):
            self.fail(f"{path}.mean", f"expected a finite number, got {mean!r}")
        elif fraction and not 0.0 <= mean <= 1.0:
            self.fail(f"{path}.mean", f"expected a fraction in [0, 1], got {mean!r}")
        if not (isinstance(ci, list | tuple) and len(ci) == 2 and all(map(_is_number, ci))):
            self.fail(f"{path}.ci95", f"expected [lo, hi], two finite numbers, got {ci!r}")
        elif ci[0] > ci[1]:
            self.fail(f"{path}.ci95", f"lo must not exceed hi, got {list(ci)!r}")
        if not (_is_int(n) and n >= 1):
            self.fail(f"{path}.n", f"expected a positive integer count, got {n!r}")
        unread = m.get("unparseable")
        if unread is not None and not (_is_int(unread) and unread >= 0):
            self.fail(f"{path}.unparseable", f"expected a non-negative integer count, got {unread!r}")
        if len(self.errors) > before:
            return None
        return Stat(float(mean), float(ci[0]), float(ci[1]), n, unread)

    def breakdown(self, value: Any, path: str, fraction: bool) -> dict[str, Stat] | None:
        m = self.mapping(value, path)
        if m is None:
            return None
        if not m:
            self.fail(path, "expected at least one entry")
        stats = {k: self.stat(v, f"{path}.{k}", fraction=fraction) for k, v in m.items()}
        return stats if stats and all(stats.values()) else None

    def curves(self, value: Any, path: str) -> dict[str, tuple[CurvePoint, ...]] | None:
        m = self.mapping(value, path)
        if m is None:
            return None
        out = {}
        for run, points in m.items():
            if not isinstance(points, list) or not points:
                self.fail(f"{path}.{run}", "expected a non-empty list of {step, mean, ci95, n}")
                continue
            parsed = [self.curve_point(p, f"{path}.{run}[{i}]") for i, p in enumerate(points)]
            if not all(parsed):
                continue
            steps = [p.step for p in parsed]
            if len(set(steps)) != len(steps):
                self.fail(f"{path}.{run}", f"each step must appear once, got steps {steps}")
                continue
            out[run] = tuple(sorted(parsed, key=lambda p: p.step))
        return out if len(out) == len(m) else None

    def curve_point(self, value: Any, path: str) -> CurvePoint | None:
        m = self.mapping(value, path, ("step", "mean", "ci95", "n"), (*_POINT_EXTRAS, "unparseable"))
        if m is None:
            return None
        if not (_is_int(m["step"]) and m["step"] >= 0):
            self.fail(f"{path}.step", f"expected a non-negative integer, got {m['step']!r}")
            return None
        stat = self._stat_fields(m, path, fraction=True)
        extras = {k: self.stat(m[k], f"{path}.{k}", fraction=True) for k in _POINT_EXTRAS if k in m}
        if stat is None or None in extras.values():
            return None
        return CurvePoint(m["step"], stat, **extras)

    def arm(self, value: Any, path: str) -> ArmResult | None:
        body = self.mapping(value, path, ("metrics",))
        metrics = None if body is None else self.mapping(body["metrics"], f"{path}.metrics")
        if metrics is None:
            return None
        before = len(self.errors)
        result = ArmResult({}, {}, {})
        for name, raw in metrics.items():
            where = f"{path}.metrics.{name}"
            info = metric_info(name)
            fraction = info.fraction if info else False  # unknown extras: range unknown
            if name == CURVES:
                result.curves.update(self.curves(raw, where) or {})
            elif is_breakdown(name):
                result.breakdowns[name] = self.breakdown(raw, where, fraction)
            else:
                result.scalars[name] = self.stat(raw, where, fraction=fraction)
        return result if len(self.errors) == before else None


def parse_results(data: Any, source: str = "results") -> Results:
    """Check `data` against the results schema; `UserError` lists every bad key path."""
    p = _Parser()
    optional = {k: data[k] for k in OPTIONAL if isinstance(data, Mapping) and k in data}
    if isinstance(data, Mapping):
        data = {k: v for k, v in data.items() if k not in optional}
    top = p.mapping(data, "", ("experiment", "config_hash", "arms"))
    arms: dict[str, ArmResult | None] = {}
    if top is not None:
        for key in ("experiment", "config_hash"):
            if not isinstance(top[key], str) or not top[key]:
                p.fail(key, f"expected a non-empty string, got {top[key]!r}")
        raw_arms = p.mapping(top["arms"], "arms")
        if raw_arms == {}:
            p.fail("arms", "expected at least one arm")
        for name in order_arms(raw_arms or {}):
            arms[name] = p.arm(raw_arms[name], f"arms.{name}")
    for key, value in optional.items():
        expected = list if key == "claims" else Mapping
        if not isinstance(value, expected):
            p.fail(key, f"expected {'a list' if expected is list else 'a mapping'}, got {type(value).__name__}")
    if p.errors:
        raise UserError(f"invalid {source}:\n" + "\n".join(p.errors))
    return Results(top["experiment"], top["config_hash"], arms, **optional)  # type: ignore[arg-type,index]


OPTIONAL = ("roles", "per_seed", "claims", "training", "numerics")


def as_results(results: Results | Mapping[str, Any]) -> Results:
    return results if isinstance(results, Results) else parse_results(results)


def load_results(path: str | Path) -> Results:
    """Read and check a `results.json` file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"results file not found: {path}") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not valid UTF-8 ({err.reason} at byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{path}:{err.lineno}:{err.colno}: not valid JSON ({err.msg})") from None
    return parse_results(data, source=str(path))

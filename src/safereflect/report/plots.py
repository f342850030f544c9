"""The report's four plots, drawn on matplotlib's Agg canvas with reproducible bytes.

No pyplot: a bare `Figure` keeps global state (and whatever backend the caller chose)
untouched. The default style ignores any user matplotlibrc, and saving without the
"Software" PNG text chunk leaves nothing version- or time-dependent in the file, so the
same results always give the same PNG bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from itertools import cycle

import matplotlib.style
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from safereflect.report.catalog import order_keys
from safereflect.report.schema import Results, Stat

_DPI = 100
_SIZE = (10.0, 4.6)
# Fixed colours for the catalogue's arms keep reports of different experiments comparable;
# reflect (the method under test) gets the strongest one.
_BASE_COLORS = {
    "raw": "#7f7f7f",
    "filter": "#1f77b4",
    "rewrite": "#ff7f0e",
    "refusal": "#9467bd",
    "tag": "#8c564b",
    "reflect": "#2ca02c",
}
_OTHER_COLORS = (
    "#d62728",
    "#17becf",
    "#bcbd22",
    "#e377c2",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
)
CLS_THRESHOLD = 0.95  # claim 3's bar, drawn on the classification plot


@dataclass(frozen=True)
class Plot:
    name: str  # file name under plots/
    title: str
    png: bytes | None  # None: not measured, `note` says why
    note: str = ""


def _colors(arms: list[str]) -> dict[str, str]:
    others = cycle(_OTHER_COLORS)
    return {a: _BASE_COLORS.get(a) or next(others) for a in arms}


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _errs(stats: list[Stat]) -> list[list[float]]:
    # CIs from some estimators need not contain the mean; clip so error bars stay valid
    return [[max(s.mean - s.lo, 0.0) for s in stats], [max(s.hi - s.mean, 0.0) for s in stats]]


def _grouped_bars(
    fig: Figure, ax: Axes, groups: list[str], series: dict[str, list[Stat | None]], colors: dict[str, str]
) -> None:
    """One group of bars per label in `groups`, one bar per arm, with 95% CI error bars."""
    width = 0.8 / max(len(series), 1)
    for i, (arm, stats) in enumerate(series.items()):
        present = [(g, s) for g, s in enumerate(stats) if s is not None]
        if not present:
            continue
        xs = [g - 0.4 + width * (i + 0.5) for g, _ in present]
        got = [s for _, s in present]
        ax.bar(
            xs,
            [s.mean for s in got],
            width,
            yerr=_errs(got),
            color=colors[arm],
            label=arm,
            capsize=2,
            error_kw={"elinewidth": 0.8},
        )
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set_ylim(0, 1.05)
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=min(len(series), 8), frameon=False)


def _figure(ncols: int = 1) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    return fig, list(np.atleast_1d(fig.subplots(1, ncols, sharey=True)))


def asr_by_attack(r: Results, colors: dict[str, str]) -> Plot:
    title = "Held-out attack success per arm and attack"
    by_attack = {arm: a.breakdowns.get("asr_heldout_by_attack", {}) for arm, a in r.arms.items()}
    attacks = order_keys(k for stats in by_attack.values() for k in stats)
    groups = ["all attacks", *attacks]
    series = {
        arm: [a.scalars.get("asr_heldout"), *(by_attack[arm].get(k) for k in attacks)] for arm, a in r.arms.items()
    }
    keep = [g for g in range(len(groups)) if any(stats[g] for stats in series.values())]
    if not keep:
        return Plot("asr_by_attack.png", title, None, "not measured: no asr_heldout or asr_heldout_by_attack")
    fig, (ax,) = _figure()
    _grouped_bars(
        fig, ax, [groups[g] for g in keep], {arm: [stats[g] for g in keep] for arm, stats in series.items()}, colors
    )
    ax.set_ylabel("attack success rate (95% CI)")
    ax.set_title(title)
    return Plot("asr_by_attack.png", title, _png(fig))


_FT_BARS = (
    ("before finetuning", "asr_heldout"),
    ("after harmful FT (100)", "asr_heldout_after_harmful_ft"),
    ("after harmful FT (10)", "asr_heldout_after_harmful_ft10"),
    ("after benign FT", "asr_heldout_after_benign_ft"),
)


_CURVE_MEASURES = (
    ("held-out ASR", lambda p: p.stat),
    ("seen ASR", lambda p: p.asr_seen),
    ("task accuracy", lambda p: p.task_acc),
)


def asr_vs_finetuning(r: Results, colors: dict[str, str]) -> Plot:
    """Curves over finetuning steps where the runner logged them (held-out and seen ASR and
    task accuracy, as finetuning attacks are reported), else before/after bars."""
    title = "Attack success and task accuracy under finetuning attacks"
    runs = list(dict.fromkeys(run for a in r.arms.values() for run in a.curves))
    if runs:
        measures = [
            m
            for m in _CURVE_MEASURES
            if any(m[1](p) is not None for a in r.arms.values() for pts in a.curves.values() for p in pts)
        ]
        fig = Figure(figsize=(_SIZE[0], 0.4 + 3.0 * len(runs)), dpi=_DPI, layout="constrained")
        grid = fig.subplots(len(runs), len(measures), sharey=True, squeeze=False)
        for row, run in zip(grid, runs):
            for ax, (label, get) in zip(row, measures):
                for arm, a in r.arms.items():
                    pts = [p for p in a.curves.get(run, ()) if get(p) is not None]
                    if not pts:
                        continue
                    steps, stats = [p.step for p in pts], [get(p) for p in pts]
                    ax.plot(steps, [s.mean for s in stats], marker="o", ms=3, color=colors[arm], label=arm)
                    ax.fill_between(
                        steps, [s.lo for s in stats], [s.hi for s in stats], color=colors[arm], alpha=0.15, linewidth=0
                    )
                ax.set_title(f"{run}: {label}", fontsize=10)
                ax.set_ylim(0, 1.05)
                ax.grid(alpha=0.3)
            row[0].set_ylabel("95% CI band")
        for ax in grid[-1]:
            ax.set_xlabel("finetuning steps")
        handles, labels = [], []
        for ax in grid.flat:  # one legend entry per arm even when runs cover different arms
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 8), frameon=False)
        fig.suptitle(title)
        return Plot("asr_vs_ft.png", title, _png(fig))
    bars = [(label, m) for label, m in _FT_BARS if any(m in a.scalars for a in r.arms.values())]
    if not any(m != "asr_heldout" for _, m in bars):
        return Plot("asr_vs_ft.png", title, None, "not measured: no finetuning-attack metrics")
    fig, (ax,) = _figure()
    _grouped_bars(
        fig,
        ax,
        [label for label, _ in bars],
        {arm: [a.scalars.get(m) for _, m in bars] for arm, a in r.arms.items()},
        colors,
    )
    ax.set_ylabel("held-out ASR (95% CI)")
    ax.set_title(title)
    return Plot("asr_vs_ft.png", title, _png(fig))


_CLS = ("safety_cls_acc", "safety_cls_acc_zeroshot", "safety_cls_acc_probe", "safety_cls_acc_ft")


def safety_classification(r: Results, colors: dict[str, str]) -> Plot:
    title = "Safety-classification accuracy per arm"
    metrics = [m for m in _CLS if any(m in a.scalars for a in r.arms.values())]
    if not metrics:
        return Plot("safety_cls.png", title, None, "not measured: no safety_cls_acc")
    fig, (ax,) = _figure()
    _grouped_bars(fig, ax, metrics, {arm: [a.scalars.get(m) for m in metrics] for arm, a in r.arms.items()}, colors)
    ax.axhline(CLS_THRESHOLD, color="black", linestyle="--", linewidth=0.8)
    # at the left: raw, the least safe arm, comes first, so its bars stay below the label
    ax.annotate(
        f"claim 3: {CLS_THRESHOLD}",
        (0.0, CLS_THRESHOLD),
        xycoords=("axes fraction", "data"),
        xytext=(4, 3),
        textcoords="offset points",
        fontsize=8,
    )
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_title(title)
    return Plot("safety_cls.png", title, _png(fig))


def capability_vs_safety(r: Results, colors: dict[str, str]) -> Plot:
    title = "Capability against safety"
    pts = {
        arm: (a.scalars["asr_heldout"], a.scalars["task_acc"])
        for arm, a in r.arms.items()
        if "asr_heldout" in a.scalars and "task_acc" in a.scalars
    }
    if not pts:
        return Plot("capability_vs_safety.png", title, None, "not measured: no arm has both task_acc and asr_heldout")
    fig = Figure(figsize=(7.0, 5.0), dpi=_DPI, layout="constrained")
    ax = fig.subplots()
    for i, (arm, (asr, task)) in enumerate(pts.items()):
        # safety = 1 - ASR, so the ASR interval flips: its upper end is safety's lower end
        ax.errorbar(
            1 - asr.mean,
            task.mean,
            xerr=[[max(asr.hi - asr.mean, 0)], [max(asr.mean - asr.lo, 0)]],
            yerr=_errs([task]),
            fmt="o",
            color=colors[arm],
            capsize=2,
            elinewidth=0.8,
        )
        # neighbouring arms often sit close together: alternate labels above and below
        ax.annotate(
            arm, (1 - asr.mean, task.mean), xytext=(5, 5 if i % 2 == 0 else -13), textcoords="offset points", fontsize=9
        )
    # full [0, 1] axes: a zoomed view would make small capability differences look large
    ax.set_xlim(0, 1.05)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("safety: 1 - held-out ASR (95% CI)")
    ax.set_ylabel("task accuracy (95% CI)")
    ax.set_title(f"{title} (up and right is better)")
    ax.grid(alpha=0.3)
    return Plot("capability_vs_safety.png", title, _png(fig))


def make_plots(results: Results) -> list[Plot]:
    colors = _colors(list(results.arms))
    with matplotlib.style.context("default"):
        return [
            f(results, colors) for f in (asr_by_attack, asr_vs_finetuning, safety_classification, capability_vs_safety)
        ]

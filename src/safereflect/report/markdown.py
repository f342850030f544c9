"""`report.md`: the report as Markdown, with plots linked from `plots/`.

Names and model text come from outside, and Markdown viewers render raw HTML, so inline
text has every `<` that could open a tag escaped, and free text goes in code fences longer
than any backtick run in it.
"""

from __future__ import annotations

import re

from safereflect.report.catalog import arrow
from safereflect.report.claims import Claim
from safereflect.report.inputs import ReportInputs
from safereflect.report.plots import Plot
from safereflect.report.summary import (
    CONVERGENCE_HEADER,
    CONVERGENCE_NOTE,
    METHODS_NOTE,
    convergence_rows,
    method_rows,
    numerics_text,
    samples_by_arm,
    summary,
    verdict,
)
from safereflect.report.table import Table, breakdown_metrics, breakdown_table, fmt_stat, main_table

# CommonMark reads raw HTML (tags, comments, declarations, autolinks) only where `<` is
# followed by one of these, so "<= 0.05" stays readable while "<script>" cannot be a tag.
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def _text(s: str) -> str:
    """Inline text: no tags, no table-cell breaks, no line breaks."""
    return _TAG_START.sub("&lt;", s).replace("|", "\\|").replace("\n", " ")


def _fence(s: str, lang: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    bar = "`" * max(3, longest + 1)
    return f"{bar}{lang}\n{s.rstrip(chr(10))}\n{bar}"


def _table(t: Table, first: str) -> list[str]:
    lines = [
        "| " + " | ".join([first] + [_text(c + arrow(c)) for c in t.columns]) + " |",
        "|" + "---|" * (len(t.columns) + 1),
    ]
    for i, (arm, cells) in enumerate(t.rows):
        out = []
        for j, s in enumerate(cells):
            cell = "—" if s is None else f"{fmt_stat(s)} (n={s.n})"
            out.append(f"**{cell}**" if t.is_best(i, j) else cell)
        lines.append("| " + " | ".join([_text(arm)] + out) + " |")
    return lines


def _claims(claims: list[Claim]) -> list[str]:
    lines = ["| result | claim | numbers |", "|---|---|---|"]
    mark = {"pass": "PASS", "fail": "**FAIL**", "not decided": "not decided", "not measured": "not measured"}
    lines += [f"| {mark[c.status]} | {_text(c.name)} | {_text(c.detail)} |" for c in claims]
    return lines


def _convergence(inputs: ReportInputs) -> list[str]:
    rows = convergence_rows(inputs)
    if not rows:
        return []
    return [
        "## Training convergence",
        "",
        CONVERGENCE_NOTE,
        "",
        "| " + " | ".join(CONVERGENCE_HEADER) + " |",
        "|" + "---|" * len(CONVERGENCE_HEADER),
        *("| " + " | ".join(_text(x) for x in row) + " |" for row in rows),
        "",
    ]


def _methods(inputs: ReportInputs) -> list[str]:
    rows = method_rows(inputs)
    if not rows:
        return []
    return [
        "## How each metric was measured",
        "",
        METHODS_NOTE,
        "",
        "| metric | arms | measured by |",
        "|---|---|---|",
        *("| " + " | ".join(_text(x) for x in row) + " |" for row in rows),
        "",
    ]


def render_markdown(inputs: ReportInputs, claims: list[Claim], plots: list[Plot], samples_per_arm: int) -> str:
    r = inputs.results
    parts = [
        f"# Experiment report: {_text(r.experiment)}",
        "",
        _text(summary(inputs, claims)),
        "",
        "## Claims",
        "",
        *_claims(claims),
        "",
        *_convergence(inputs),
        "## Results",
        "",
        (
            "Each cell: mean [95% CI] (n). ↓ lower is better, ↑ higher is better; bold marks the best arm; "
            "— : not measured for that arm (its evaluation did not run the suite)."
        ),
        "",
        *_table(main_table(r), "arm"),
        "",
    ]
    for metric in breakdown_metrics(r):
        parts += [f"### {_text(metric)}", "", *_table(breakdown_table(r, metric), "arm"), ""]
    parts += [*_methods(inputs), "## Plots", ""]
    for p in plots:
        parts += [f"![{_text(p.title)}](plots/{p.name})" if p.png else f"**{_text(p.title)}**: {p.note}", ""]
    parts += ["## Sample generations", ""]
    picked = samples_by_arm(inputs, samples_per_arm)
    if not picked:
        parts += ["No sample generations were recorded.", ""]
    for arm, samples in picked.items():
        parts += [f"### {_text(arm)}", ""]
        for s in samples:
            head = f"Probe {_text(s.probe_id)}, attack {_text(s.attack)}: **{verdict(s)}**"
            parts += [
                head + (f". Judge: {_text(s.reason)}" if s.reason else ""),
                "",
                "Prompt:",
                "",
                _fence(s.prompt),
                "",
                "Completion:",
                "",
                _fence(s.completion),
                "",
            ]
    parts += [
        "## Configuration",
        "",
        _fence(inputs.config_yaml(), "yaml"),
        "",
        "## Environment",
        "",
        f"- date: {_text(inputs.date) or 'not recorded'}",
        f"- machine: {_text(inputs.machine) or 'not recorded'}",
        f"- training numerics: {_text(numerics_text(inputs.results.numerics))}",
        "",
    ]
    if inputs.versions:
        parts += [
            "| library | version |",
            "|---|---|",
            *(f"| {_text(k)} | {_text(v)} |" for k, v in sorted(inputs.versions.items())),
            "",
        ]
    return "\n".join(parts)

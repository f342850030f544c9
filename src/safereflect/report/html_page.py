"""`report.html`: one self-contained page (inline CSS, plots as base64 PNG, no scripts).

Every string from outside (names, model text, config) goes through `html.escape`, so a
generation containing markup is shown as text, never run or rendered.
"""

from __future__ import annotations

import base64
from html import escape

from safereflect.report.catalog import arrow, metric_info
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

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b;
       max-width: 1360px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.8em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 12px; margin: .6em 0; }
th, td { border: 1px solid #ddd; padding: 3px 5px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
td.best { background: #d9f2dc; font-weight: 600; }
.n { color: #666; font-size: 11px; }
.status { font-weight: 700; white-space: nowrap; }
.pass { color: #1a7f37; } .fail { color: #c62828; } .nm { color: #6b6b6b; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; }
.sample { border: 1px solid #ddd; border-radius: 4px; padding: .5em .8em; margin: .6em 0; }
pre { background: #f6f8fa; padding: .5em; white-space: pre-wrap; overflow-wrap: anywhere; margin: .3em 0; }
"""


def _table(t: Table) -> str:
    # <wbr> lets long metric names wrap at underscores, so headers are no wider than values
    head = "".join(
        f'<th title="{escape(_title(c))}">{escape(c + arrow(c)).replace("_", "_<wbr>")}</th>' for c in t.columns
    )
    rows = []
    for i, (arm, cells) in enumerate(t.rows):
        tds = []
        for j, s in enumerate(cells):
            if s is None:
                tds.append('<td class="num">—</td>')
            else:
                cls = "num best" if t.is_best(i, j) else "num"
                tds.append(f'<td class="{cls}">{fmt_stat(s)}<br><span class="n">n={s.n}</span></td>')
        rows.append(f"<tr><th>{escape(arm)}</th>{''.join(tds)}</tr>")
    return f'<div class="scroll"><table><tr><th>arm</th>{head}</tr>{"".join(rows)}</table></div>'


def _title(column: str) -> str:
    info = metric_info(column)
    return f"{info.description} ({info.better} is better)" if info and info.better else column


def _claims(claims: list[Claim]) -> str:
    cls = {"pass": "pass", "fail": "fail", "not decided": "nm", "not measured": "nm"}
    rows = "".join(
        f'<tr><td class="status {cls[c.status]}">{c.status.upper()}</td>'
        f"<td>{escape(c.name)}</td><td>{escape(c.detail)}</td></tr>"
        for c in claims
    )
    return f"<table><tr><th>result</th><th>claim</th><th>numbers</th></tr>{rows}</table>"


def _plot(p: Plot) -> str:
    if p.png is None:
        return f"<p><b>{escape(p.title)}</b>: {escape(p.note)}</p>"
    data = base64.b64encode(p.png).decode("ascii")
    return (
        f'<figure><img alt="{escape(p.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(p.title)}</figcaption></figure>"
    )


def _samples(inputs: ReportInputs, per_arm: int) -> str:
    picked = samples_by_arm(inputs, per_arm)
    if not picked:
        return "<p>No sample generations were recorded.</p>"
    out = []
    for arm, samples in picked.items():
        out.append(f"<h3>{escape(arm)}</h3>")
        for s in samples:
            cls = "fail" if s.success else "pass"
            reason = f" Judge: {escape(s.reason)}" if s.reason else ""
            head = (
                f"probe <code>{escape(s.probe_id)}</code>, attack <code>{escape(s.attack)}</code>: "
                f'<span class="status {cls}">{escape(verdict(s))}</span>.{reason}'
            )
            out.append(
                f'<div class="sample"><div>{head}</div><div>Prompt:</div><pre>{escape(s.prompt)}</pre>'
                f"<div>Completion:</div><pre>{escape(s.completion)}</pre></div>"
            )
    return "".join(out)


def _convergence(inputs: ReportInputs) -> str:
    rows = convergence_rows(inputs)
    if not rows:
        return ""
    body = "".join("<tr>" + "".join(f"<td>{escape(x)}</td>" for x in row) + "</tr>" for row in rows)
    head = "".join(f"<th>{escape(h)}</th>" for h in CONVERGENCE_HEADER)
    return f"<h2>Training convergence</h2><p>{escape(CONVERGENCE_NOTE)}</p><table><tr>{head}</tr>{body}</table>"


def _methods(inputs: ReportInputs) -> str:
    rows = method_rows(inputs)
    if not rows:
        return ""
    body = "".join("<tr>" + "".join(f"<td>{escape(x)}</td>" for x in row) + "</tr>" for row in rows)
    return (
        f"<h2>How each metric was measured</h2><p>{escape(METHODS_NOTE)}</p>"
        f"<table><tr><th>metric</th><th>arms</th><th>measured by</th></tr>{body}</table>"
    )


def render_html(inputs: ReportInputs, claims: list[Claim], plots: list[Plot], samples_per_arm: int) -> str:
    r = inputs.results
    breakdowns = "".join(f"<h3>{escape(m)}</h3>{_table(breakdown_table(r, m))}" for m in breakdown_metrics(r))
    versions = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in sorted(inputs.versions.items()))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Experiment report: {escape(r.experiment)}</title><style>{_CSS}</style></head>
<body>
<h1>Experiment report: {escape(r.experiment)}</h1>
<p>{escape(summary(inputs, claims))}</p>
<h2>Claims</h2>
{_claims(claims)}
{_convergence(inputs)}
<h2>Results</h2>
<p>Each cell: mean [95% CI] and n. ↓ lower is better, ↑ higher is better;
the best arm per column is highlighted; — : not measured for that arm (its evaluation did not run the suite).</p>
{_table(main_table(r))}
{breakdowns}
{_methods(inputs)}
<h2>Plots</h2>
{"".join(_plot(p) for p in plots)}
<h2>Sample generations</h2>
{_samples(inputs, samples_per_arm)}
<h2>Configuration</h2>
<pre>{escape(inputs.config_yaml())}</pre>
<h2>Environment</h2>
<p>date: {escape(inputs.date) or "not recorded"}<br>machine: {escape(inputs.machine) or "not recorded"}<br>
training numerics: {escape(numerics_text(inputs.results.numerics))}</p>
{f"<table><tr><th>library</th><th>version</th></tr>{versions}</table>" if versions else ""}
</body></html>
"""

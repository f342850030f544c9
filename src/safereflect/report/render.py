"""`render_report`: write report.md, a self-contained report.html and plots/*.png."""

from __future__ import annotations

from pathlib import Path

from safereflect.jsonl import atomic_path, ensure_writable_dir
from safereflect.report.html_page import render_html
from safereflect.report.inputs import ReportInputs
from safereflect.report.markdown import render_markdown
from safereflect.report.plots import make_plots
from safereflect.report.summary import claims_for


def _write(path: Path, data: bytes) -> None:
    with atomic_path(path, "wb") as fh:
        fh.write(data)
    # the temporary file behind atomic_path is private (0600); a report is meant to be shared
    path.chmod(0o644)


def render_report(inputs: ReportInputs, out_dir: str | Path, *, samples_per_arm: int = 3) -> tuple[Path, Path]:
    """Render the report into `out_dir`; returns the paths of report.md and report.html.

    Output depends only on `inputs`: rendering the same inputs twice gives identical bytes.
    """
    out = ensure_writable_dir(out_dir)
    plots_dir = ensure_writable_dir(out / "plots")
    claims = claims_for(inputs)
    plots = make_plots(inputs.results)
    for p in plots:
        if p.png is None:
            # a plot left by an earlier render of this directory would contradict the report
            (plots_dir / p.name).unlink(missing_ok=True)
        else:
            _write(plots_dir / p.name, p.png)
    md, page = out / "report.md", out / "report.html"
    _write(md, render_markdown(inputs, claims, plots, samples_per_arm).encode("utf-8"))
    _write(page, render_html(inputs, claims, plots, samples_per_arm).encode("utf-8"))
    return md, page

"""The experiment report: results.json checked, the paper's claims tested, tables and plots.

    inputs = ReportInputs(results=json.load(open("results.json")), config=cfg, versions=v,
                          machine=m, date="2026-07-01", samples=samples)
    md_path, html_path = render_report(inputs, "runs/exp/report")
    print_table(inputs.results)

See docs/report.md.
"""

from safereflect.report.claims import Claim, check_claims, claims_from_results
from safereflect.report.inputs import ReportInputs, Sample
from safereflect.report.render import render_report
from safereflect.report.schema import Results, Stat, load_results, parse_results
from safereflect.report.terminal import print_table

__all__ = [
    "Claim",
    "ReportInputs",
    "Results",
    "Sample",
    "Stat",
    "check_claims",
    "claims_from_results",
    "load_results",
    "parse_results",
    "print_table",
    "render_report",
]

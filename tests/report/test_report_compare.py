"""`safereflect compare`: claims of several runs side by side, the ones that differ named."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from rich.console import Console

from safereflect.report.compare import Run, deciding, differing, print_comparison
from safereflect.report.schema import parse_results


def _runs(results):
    other = json.loads(json.dumps(results))
    for seed in other["per_seed"]["reflect"].values():
        seed["over_refusal"] = 0.2  # claim 6 fails in the second run only
    other["numerics"] = {"device": ["cpu"], "cpu_kernels": ["AVX2"], "precision": ["fp32"], "compile": [True]}
    return [Run("a", parse_results(results)), Run("b", parse_results(other))]


def test_claims_that_turn_between_runs_are_named(results):
    runs = _runs(results)
    assert differing(runs) == [6]
    console = Console(record=True, width=160)
    assert print_comparison(runs, console) == [6]
    text = console.export_text()
    assert "5 of 6 claims have the same verdict in every run; they differ on 6" in text
    assert "cpu, AVX2 kernels, fp32, compiled" in text and "not recorded" in text
    assert "bound met on 0 of 3 seeds" in text and "bound met on 3 of 3 seeds" in text


def test_the_deciding_comparison_is_the_first_that_failed(results):
    claim = _runs(results)[1].claims[6]
    assert claim.status == "fail" and deciding(claim).holds is False
    passed = _runs(results)[0].claims[2]
    assert passed.status == "pass" and deciding(passed) is passed.comparisons[0]


def test_identical_runs_agree(results, tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "results.json").write_text(json.dumps(results))
    (tmp_path / "two.json").write_text(json.dumps(results))
    res = subprocess.run(
        [sys.executable, "-m", "safereflect", "compare", str(tmp_path / "one"), str(tmp_path / "two.json")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert res.returncode == 0, res.stderr
    assert "all 6 claims have the same verdict in every run" in res.stdout + res.stderr


def test_a_run_without_results_is_one_clear_line(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "safereflect", "compare", str(tmp_path), str(tmp_path)], capture_output=True, text=True
    )
    assert res.returncode == 2 and "no results.json" in res.stderr and "Traceback" not in res.stderr

"""results.json and the other report inputs: every problem named by its key path."""

from __future__ import annotations

import json

import pytest

from safereflect.errors import UserError
from safereflect.report import ReportInputs, load_results, parse_results


def _error(data) -> str:
    with pytest.raises(UserError) as err:
        parse_results(data)
    return str(err.value)


def test_valid_results_parse_in_catalogue_order(results):
    shuffled = dict(reversed(list(results["arms"].items())))
    parsed = parse_results({**results, "arms": shuffled})
    assert list(parsed.arms) == ["raw", "filter", "rewrite", "refusal", "tag", "reflect", "filter+reflect"]
    assert parsed.stat("reflect", "asr_heldout").mean == pytest.approx(0.08)
    assert [p.step for p in parsed.arms["raw"].curves["harmful-100"]] == [0, 25, 50, 100]
    assert set(parsed.arms["raw"].breakdowns["asr_heldout_by_attack"]) == {
        "direct",
        "prefill",
        "disguised",
        "authority",
        "many_shot",
    }


def test_combinations_and_variants_sort_after_single_arms(results):
    stat = results["arms"]["raw"]
    names = ["filter+rewrite+refusal+tag", "reflect", "filter+reflect", "reflect-30", "raw", "tag+reflect"]
    parsed = parse_results({**results, "arms": {n: stat for n in names}})
    assert list(parsed.arms) == [
        "raw",
        "reflect",
        "reflect-30",
        "filter+reflect",
        "tag+reflect",
        "filter+rewrite+refusal+tag",
    ]


@pytest.mark.parametrize(
    "mutate, path, words",
    [
        (
            lambda r: r["arms"]["reflect"]["metrics"]["asr_heldout"].pop("mean"),
            "arms.reflect.metrics.asr_heldout.mean",
            "missing key",
        ),
        (
            lambda r: r["arms"]["filter"]["metrics"]["task_acc"].update(ci95=[0.7, 0.6]),
            "arms.filter.metrics.task_acc.ci95",
            "lo must not exceed hi",
        ),
        (
            lambda r: r["arms"]["raw"]["metrics"]["over_refusal"].update(n=2.5),
            "arms.raw.metrics.over_refusal.n",
            "positive integer",
        ),
        (
            lambda r: r["arms"]["raw"]["metrics"]["asr_seen"].update(mean=1.4),
            "arms.raw.metrics.asr_seen.mean",
            "fraction in [0, 1]",
        ),
        (
            lambda r: r["arms"]["tag"]["metrics"]["asr_heldout_by_attack"]["prefill"].update(mean="high"),
            "arms.tag.metrics.asr_heldout_by_attack.prefill.mean",
            "finite number",
        ),
        (
            lambda r: r["arms"]["tag"]["metrics"]["asr_vs_ft_steps"]["benign"][1].pop("step"),
            "arms.tag.metrics.asr_vs_ft_steps.benign[1].step",
            "missing key",
        ),
        (
            lambda r: r["arms"]["raw"]["metrics"]["asr_vs_ft_steps"]["harmful-100"][2]["asr_seen"].update(mean=2.0),
            "arms.raw.metrics.asr_vs_ft_steps.harmful-100[2].asr_seen.mean",
            "fraction in [0, 1]",
        ),
        (
            lambda r: r["arms"]["raw"]["metrics"]["asr_vs_ft_steps"]["harmful-100"][0].update(bpb=stat_like()),
            "arms.raw.metrics.asr_vs_ft_steps.harmful-100[0].bpb",
            "allowed: step, mean, ci95, n, asr_seen, task_acc",
        ),
        (lambda r: r["arms"]["raw"].update(metric={}), "arms.raw.metric", "unknown key (allowed: metrics)"),
        (lambda r: r.update(arms=[]), "arms", "expected a mapping"),
        (lambda r: r.update(numerics=["AVX2"]), "numerics", "expected a mapping"),
        (lambda r: r.pop("config_hash"), "config_hash", "missing key"),
    ],
)
def test_schema_errors_name_the_key_path(results, mutate, path, words):
    mutate(results)
    msg = _error(results)
    line = next((ln for ln in msg.splitlines() if ln.strip().startswith(path + ":")), None)
    assert line is not None, msg
    assert words in line


def test_every_problem_is_reported_at_once(results):
    results["arms"]["raw"]["metrics"]["asr_heldout"]["n"] = 0
    results["arms"]["reflect"]["metrics"]["task_acc"]["ci95"] = [0.1]
    msg = _error(results)
    assert "arms.raw.metrics.asr_heldout.n" in msg and "arms.reflect.metrics.task_acc.ci95" in msg


def test_val_bpb_and_unknown_extras_are_not_held_to_fractions(results):
    results["arms"]["raw"]["metrics"]["perplexity"] = {"mean": 7.5, "ci95": [7.0, 8.0], "n": 3}
    parsed = parse_results(results)
    assert parsed.stat("raw", "val_bpb").mean > 1 and parsed.stat("raw", "perplexity").mean == 7.5


def test_load_results_names_file_and_position(tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text('{"experiment": "x",\n "arms": }')
    with pytest.raises(UserError, match=r"results\.json:2:10: not valid JSON"):
        load_results(bad)
    with pytest.raises(UserError, match="not found"):
        load_results(tmp_path / "missing.json")


def test_load_results_round_trip(tmp_path, results):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    assert next(iter(load_results(path).arms)) == "raw"


def test_report_inputs_raise_user_error_with_paths(inputs_kwargs):
    inputs_kwargs["results"]["arms"]["rewrite"]["metrics"]["asr_heldout"]["ci95"] = "wide"
    with pytest.raises(UserError, match=r"arms\.rewrite\.metrics\.asr_heldout\.ci95"):
        ReportInputs(**inputs_kwargs)


def test_report_inputs_check_samples(inputs_kwargs):
    inputs_kwargs["samples"][2]["success"] = "maybe"
    with pytest.raises(UserError, match=r"samples\[2\]\.success"):
        ReportInputs.model_validate(inputs_kwargs)
    inputs_kwargs["samples"][2]["success"] = True
    inputs_kwargs["samples"][0]["arm"] = "reflct"
    with pytest.raises(UserError, match="reflct not in results"):
        ReportInputs(**inputs_kwargs)


def test_report_inputs_reject_config_that_is_not_yaml(inputs_kwargs):
    inputs_kwargs["config"] = {"model": object()}
    with pytest.raises(UserError, match="config: not representable as YAML"):
        ReportInputs(**inputs_kwargs)


def stat_like() -> dict:
    return {"mean": 0.5, "ci95": [0.4, 0.6], "n": 10}


def test_curve_points_carry_seen_asr_and_task_accuracy(results):
    point = parse_results(results).arms["raw"].curves["harmful-100"][-1]
    raw = results["arms"]["raw"]["metrics"]["asr_vs_ft_steps"]["harmful-100"][-1]
    assert point.asr_seen.mean == raw["asr_seen"]["mean"] and point.task_acc.mean == raw["task_acc"]["mean"]
    assert parse_results(results).arms["raw"].curves["benign"][-1].asr_seen is None


def test_an_asr_carries_its_count_of_answers_the_judge_could_not_read(results):
    results["arms"]["raw"]["metrics"]["asr_heldout"]["unparseable"] = 3
    assert parse_results(results).stat("raw", "asr_heldout").unparseable == 3
    results["arms"]["raw"]["metrics"]["asr_heldout"]["unparseable"] = -1
    assert "arms.raw.metrics.asr_heldout.unparseable: expected a non-negative integer count" in _error(results)

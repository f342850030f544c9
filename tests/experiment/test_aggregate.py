import pytest

from safereflect.experiment.aggregate import combine, combine_metrics


def stat(m, lo=None, hi=None, n=10):
    return {"mean": m, "ci95": [m - 0.1 if lo is None else lo, m + 0.1 if hi is None else hi], "n": n}


def test_one_seed_keeps_the_evaluations_own_interval():
    assert combine([stat(0.4, 0.3, 0.55)]) == {"mean": 0.4, "ci95": [0.3, 0.55], "n": 10}


def test_several_seeds_use_a_t_interval_over_seed_means():
    out = combine([stat(0.2), stat(0.4), stat(0.6)])
    assert out["mean"] == pytest.approx(0.4) and out["n"] == 30
    # t(0.975, 2) * sd / sqrt(3) = 4.303 * 0.2 / 1.732
    assert out["ci95"] == pytest.approx([0.4 - 0.4969, 0.4 + 0.4969], abs=1e-3)
    assert combine([stat(0.3), stat(0.3)])["ci95"] == pytest.approx([0.3, 0.3])


def test_answers_the_judge_could_not_read_are_summed_over_seeds():
    assert combine([stat(0.2) | {"unparseable": 3}, stat(0.4) | {"unparseable": 1}])["unparseable"] == 4
    assert "unparseable" not in combine([stat(0.2), stat(0.4)])


def test_metrics_dicts_and_step_curves_are_combined_per_key():
    a = {
        "asr_heldout": stat(0.5),
        "asr_heldout_by_attack": {"direct": stat(0.6)},
        "asr_vs_ft_steps": {"harmful-100": [{"step": 0, **stat(0.1)}, {"step": 10, **stat(0.3)}]},
    }
    b = {
        "asr_heldout": stat(0.7),
        "asr_heldout_by_attack": {"direct": stat(0.8)},
        "asr_vs_ft_steps": {"harmful-100": [{"step": 0, **stat(0.3)}, {"step": 10, **stat(0.5)}]},
    }
    out = combine_metrics([a, b])
    assert out["asr_heldout"]["mean"] == pytest.approx(0.6)
    assert out["asr_heldout_by_attack"]["direct"]["mean"] == pytest.approx(0.7)
    curve = out["asr_vs_ft_steps"]["harmful-100"]
    assert [p["step"] for p in curve] == [0, 10] and curve[1]["mean"] == pytest.approx(0.4)


def test_curve_points_keep_seen_asr_and_task_accuracy():
    """A finetuning curve's point carries asr_seen and task_acc beside held-out ASR; each is combined."""
    a = {"asr_vs_ft_steps": {"harmful-100": [{"step": 0, **stat(0.1), "asr_seen": stat(0.2), "task_acc": stat(0.9)}]}}
    b = {"asr_vs_ft_steps": {"harmful-100": [{"step": 0, **stat(0.3), "asr_seen": stat(0.4), "task_acc": stat(0.7)}]}}
    (point,) = combine_metrics([a, b])["asr_vs_ft_steps"]["harmful-100"]
    assert point["mean"] == pytest.approx(0.2)
    assert point["asr_seen"]["mean"] == pytest.approx(0.3) and point["task_acc"]["mean"] == pytest.approx(0.8)
    (single,) = combine_metrics([a])["asr_vs_ft_steps"]["harmful-100"]
    assert single["asr_seen"] == stat(0.2) | {"ci95": list(stat(0.2)["ci95"])}

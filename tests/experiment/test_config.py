import pytest

from safereflect.config import validate
from safereflect.errors import UserError
from safereflect.experiment import ExperimentConfig, variants
from safereflect.experiment.runner import eval_config, prepare_config, train_config

REFLECT_POLICY = {"role": "reflect", "decoding": "monitored", "reading": "reflected", "classification": "zeroshot"}


def cfg(**kw):
    # combinations declare their policy; the tests' only one is filter+reflect
    if "filter+reflect" in kw.get("arms", []):
        kw.setdefault("arm_policy", {"filter+reflect": REFLECT_POLICY})
    return validate(ExperimentConfig, {"name": "t", **kw})


def test_grid_expands_into_named_variants():
    c = cfg(arms=["raw", "reflect", "filter+reflect"], grid={"timing": [0.0, 0.2], "segment_words": [12, 30]})
    names = [v.name(c) for v in variants(c)]
    # raw has no timing variants; segment lengths apply to reflect arms only
    assert names == [
        "raw",
        "reflect[seg=12]",
        "reflect[seg=30]",
        "reflect[timing=0.2,seg=12]",
        "reflect[timing=0.2,seg=30]",
        "filter+reflect[seg=12]",
        "filter+reflect[seg=30]",
        "filter+reflect[timing=0.2,seg=12]",
        "filter+reflect[timing=0.2,seg=30]",
    ]
    assert [v.name(cfg(arms=["raw", "tag"])) for v in variants(cfg(arms=["raw", "tag"]))] == ["raw", "tag"]


def test_exactly_one_source_and_known_arms():
    with pytest.raises(UserError, match="exactly one of `world`"):
        cfg(corpus={"path": "x"})
    with pytest.raises(UserError, match="arms not in `arms`: refusal"):
        cfg(arms=["raw"], arm_eval={"refusal": {}})
    with pytest.raises(UserError, match="bogus: unknown key"):
        cfg(bogus=1)


def test_a_corpus_experiment_refuses_suites_that_ask_world_probes():
    def corpus(**kw):
        return cfg(world=None, corpus={"path": "x"}, arms=["raw", "reflect"], **kw)

    assert corpus(eval={"suites": ["realtext", "bpb"]}).eval["suites"] == ["realtext", "bpb"]
    with pytest.raises(UserError, match=r"eval\.suites: finetune ask MedSafetyWorld probes"):
        corpus(eval={"suites": ["realtext", "finetune"]})
    with pytest.raises(UserError, match=r"eval\.suites: a `corpus` experiment must list its suites"):
        corpus()
    with pytest.raises(UserError, match=r"arm_eval\.reflect\.suites: asr, cls ask MedSafetyWorld probes"):
        corpus(eval={"suites": ["realtext"]}, arm_eval={"reflect": {"suites": ["asr", "cls"]}})


def test_each_arm_is_evaluated_the_way_its_method_is_used(tmp_path):
    c = cfg(arms=["raw", "tag", "reflect", "filter+reflect"])
    modes = {v.arm: eval_config(c, v, 0, tmp_path, None, None, tmp_path) for v in variants(c)}
    assert {a: e.decoding.mode for a, e in modes.items()} == {
        "raw": "plain",
        "tag": "safebeam",
        "reflect": "monitored",
        "filter+reflect": "monitored",
    }
    assert modes["raw"].cls.primary == "probe" and modes["reflect"].cls.primary == "zeroshot"


def test_reflect_arms_read_prompts_with_the_segment_length_they_were_trained_on(tmp_path):
    c = cfg(arms=["raw", "reflect"], prepare={"interventions": {"reflect": {"segment_words": 30}}})
    for v in variants(c):
        words = prepare_config(c, v, 0, {"path": "w", "format": "world"}, tmp_path, None).interventions.reflect
        ec = eval_config(c, v, 0, tmp_path, None, None, tmp_path, words.segment_words)
        assert ec.decoding.read_segment_words == (30 if v.arm == "reflect" else None)


def test_stage_sections_are_validated_by_the_stages_own_models(tmp_path):
    v = variants(cfg(arms=["reflect"]))[0]
    bad = cfg(arms=["reflect"], prepare={"interventions": {"reflect": {"segment_words": 0}}})
    with pytest.raises(UserError, match="segment_words"):
        prepare_config(bad, v, 0, {"path": "w", "format": "world"}, tmp_path, None)
    with pytest.raises(UserError, match="schedule"):
        train_config(cfg(train={"preset": "tiny", "schedule": "linear"}), v, 0, tmp_path, tmp_path)
    with pytest.raises(UserError, match="mode"):
        eval_config(cfg(eval={"decoding": {"mode": "greedy"}}), v, 0, tmp_path, None, None, tmp_path)
    ok = prepare_config(
        cfg(arms=["reflect"], grid={"segment_words": [30]}),
        variants(cfg(arms=["reflect"], grid={"segment_words": [30]}))[0],
        0,
        {"path": "w", "format": "world"},
        tmp_path,
        tmp_path,
    )
    assert ok.interventions.reflect.segment_words == 30 and ok.tokenizer.path == str(tmp_path)


def test_arm_train_overrides_one_arms_training_only(tmp_path):
    c = cfg(
        arms=["raw", "reflect"],
        train={"preset": "tiny", "max_steps": 70},
        arm_train={"reflect": {"verdict_weight": 5, "preset": "cpu-1m"}},
    )
    tcs = {v.arm: train_config(c, v, 0, tmp_path, tmp_path) for v in variants(c)}
    assert (tcs["raw"].verdict_weight, tcs["raw"].preset, tcs["raw"].max_steps) == (1.0, "tiny", 70)
    assert (tcs["reflect"].verdict_weight, tcs["reflect"].preset, tcs["reflect"].max_steps) == (5.0, "cpu-1m", 70)
    with pytest.raises(UserError, match="arms not in `arms`: tag"):
        cfg(arms=["raw"], arm_train={"tag": {}})
    with pytest.raises(UserError, match="verdict_weight"):
        train_config(
            cfg(arms=["raw"], arm_train={"raw": {"verdict_weight": 0}}), variants(cfg())[0], 0, tmp_path, tmp_path
        )

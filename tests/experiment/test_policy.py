"""Arm policy: reading, decoding and claim role come from the config, never from arm names."""

from __future__ import annotations

from pathlib import Path

import pytest

from safereflect.config import validate
from safereflect.errors import UserError
from safereflect.experiment import ExperimentConfig
from safereflect.experiment.runner import Variant, eval_config

BASE = {"name": "p", "world": {"preset": "tiny"}, "train": {"preset": "tiny"}}


def _eval(cfg: ExperimentConfig, arm: str):
    return eval_config(cfg, Variant(arm), 0, Path("m"), None, None, Path("o"), segment_words=12)


def test_builtin_arms_have_defaults():
    cfg = validate(ExperimentConfig, BASE | {"arms": ["raw", "tag", "reflect"]})
    assert cfg.roles() == {"raw": "reference", "tag": "baseline", "reflect": "reflect"}
    ec = _eval(cfg, "reflect")
    assert (ec.decoding.mode, ec.decoding.read_segment_words, ec.cls.primary) == ("monitored", 12, "zeroshot")
    assert _eval(cfg, "tag").decoding.mode == "safebeam"
    assert _eval(cfg, "raw").decoding.read_segment_words is None


def test_a_combination_must_declare_its_policy():
    with pytest.raises(UserError, match=r"arm\(s\) filter\+reflect need a policy: add `arm_policy"):
        validate(ExperimentConfig, BASE | {"arms": ["raw", "filter+reflect"]})


def test_declared_policy_wins_over_the_name():
    cfg = validate(
        ExperimentConfig,
        BASE
        | {
            "arms": ["filter+reflect", "reflect"],
            "arm_policy": {
                "filter+reflect": {
                    "role": "reflect",
                    "decoding": "monitored",
                    "reading": "reflected",
                    "classification": "zeroshot",
                },
                "reflect": {"role": "none"},
            },  # read and decoded plainly, kept out of the claims
        },
    )
    assert cfg.roles() == {"filter+reflect": "reflect", "reflect": "none"}
    assert _eval(cfg, "filter+reflect").decoding.read_segment_words == 12
    plain = _eval(cfg, "reflect")
    assert (plain.decoding.mode, plain.decoding.read_segment_words, plain.cls.primary) == ("plain", None, "probe")


def test_a_bad_role_names_its_key():
    with pytest.raises(UserError, match=r"arm_policy\.raw\.role"):
        validate(ExperimentConfig, BASE | {"arms": ["raw"], "arm_policy": {"raw": {"role": "control"}}})


def test_each_seed_has_its_own_world_unless_told_otherwise():
    cfg = validate(ExperimentConfig, BASE | {"world": {"preset": "tiny", "seed": 5}})
    assert [cfg.world.seed_for(s) for s in (0, 1, 2)] == [5, 6, 7]
    shared = validate(ExperimentConfig, BASE | {"world": {"preset": "tiny", "seed": 5, "per_seed": False}})
    assert [shared.world.seed_for(s) for s in (0, 1, 2)] == [5, 5, 5]


def test_a_new_intervention_brings_its_policy_from_its_class():
    # reflect_eos is one registered module; nothing in the runner or the config names it
    cfg = validate(ExperimentConfig, BASE | {"arms": ["reflect_eos", "reflect_prompt"]})
    assert cfg.roles() == {"reflect_eos": "reflect", "reflect_prompt": "reflect"}
    ec = _eval(cfg, "reflect_eos")
    assert (ec.decoding.mode, ec.decoding.read_segment_words, ec.cls.primary) == ("monitored", 12, "zeroshot")


def test_an_unknown_arm_is_one_clear_error():
    with pytest.raises(UserError, match="unknown intervention"):
        validate(ExperimentConfig, BASE | {"arms": ["raw", "fliter"]})


def test_reflect_prompt_models_read_each_prompt_up_to_its_end():
    from safereflect.experiment.stage_configs import prepare_config, reading_settings, source_input

    cfg = validate(
        ExperimentConfig,
        BASE | {"arms": ["reflect", "reflect_prompt"], "prepare": {"interventions": {"reflect": {"segment_words": 9}}}},
    )
    read = {}
    for arm in cfg.arms:
        v = Variant(arm)
        pc = prepare_config(cfg, v, 0, source_input(cfg, Path("w")), Path("o"), None)
        read[arm] = eval_config(cfg, v, 0, Path("m"), None, None, Path("o"), *reading_settings(v, pc))
    assert (read["reflect_prompt"].decoding.read_segment_words, read["reflect_prompt"].decoding.read_prompt_end) == (
        9,
        "Answer:",
    )
    assert (read["reflect"].decoding.read_segment_words, read["reflect"].decoding.read_prompt_end) == (9, None)
    # unset, the setting is not part of an evaluation's identity: earlier evaluations are reused
    assert "read_prompt_end" not in read["reflect"].identity()["decoding"]
    assert read["reflect_prompt"].identity()["decoding"]["read_prompt_end"] == "Answer:"

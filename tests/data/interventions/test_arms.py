import pytest

from safereflect.data.interventions import arm_decoding, arm_name, arm_reflects, parse_arm
from safereflect.errors import UserError


def test_composed_arms_run_in_a_fixed_order():
    assert parse_arm("filter+rewrite+refusal+tag") == ("rewrite", "refusal", "tag", "filter")
    assert arm_name("reflect+filter") == arm_name("filter+reflect") == "filter+reflect"


@pytest.mark.parametrize(
    "arm, message",
    [
        ("reflekt", "unknown intervention"),
        ("raw+filter", "cannot be combined"),
        ("tag+reflect", "alternative"),
        ("filter+filter", "twice"),
        ("tag+reflect_prompt", "alternative"),
        ("reflect+reflect_eos", "one kind of reflection"),
    ],
)
def test_bad_arms_are_clear_errors(arm, message):
    with pytest.raises(UserError, match=message):
        parse_arm(arm)


def test_each_intervention_declares_how_its_models_are_read_and_decoded():
    assert [arm_decoding(a) for a in ("raw", "filter+rewrite", "tag", "filter+reflect_eos", "reflect_prompt")] == [
        "plain",
        "plain",
        "safebeam",
        "monitored",
        "monitored",
    ]
    assert [arm_reflects(a) for a in ("tag", "reflect", "reflect_eos", "filter+reflect_prompt")] == [
        False,
        True,
        True,
        True,
    ]

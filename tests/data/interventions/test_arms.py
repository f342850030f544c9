import pytest

from safereflect.data.interventions import arm_name, parse_arm
from safereflect.errors import UserError


def test_composed_arms_run_in_a_fixed_order():
    assert parse_arm("filter+rewrite+refusal+tag") == ("rewrite", "refusal", "tag", "filter")
    assert arm_name("reflect+filter") == arm_name("filter+reflect") == "filter+reflect"


@pytest.mark.parametrize("arm, message", [
    ("reflekt", "unknown intervention"), ("raw+filter", "cannot be combined"), ("tag+reflect", "alternative"),
    ("filter+filter", "twice"),
])
def test_bad_arms_are_clear_errors(arm, message):
    with pytest.raises(UserError, match=message):
        parse_arm(arm)

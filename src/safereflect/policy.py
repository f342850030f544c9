"""Arm policy: how an arm is read and decoded at evaluation, and the part it plays in the
claims. Declared per arm in the experiment config (`arm_policy`); an arm of one intervention
defaults to what that intervention's class declares, so nothing about evaluation or claims is
inferred from an arm's name."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from safereflect.config import StrictModel
from safereflect.eval.config import DecodingMode

Role = Literal["reference", "filter", "rewrite", "baseline", "reflect", "none"]


class ArmPolicy(StrictModel):
    """How an arm is read and decoded at evaluation, and the part it plays in the claims.

    Roles: `reference` is the undefended model trained on the same corpus (raw); `filter` and
    `rewrite` are the data-side defences the claims name; `baseline` is any other defence (tag,
    refusal); `reflect` is the method under test; `none` keeps an arm out of the claims.
    """

    role: Role
    decoding: DecodingMode = "plain"
    reading: Literal["plain", "reflected"] = Field(
        "plain", description="reflected: prompts are read in the reflect corpus format (its segment length)"
    )
    classification: Literal["probe", "zeroshot", "ft"] = Field(
        "probe", description="the safety-classification method whose accuracy is the arm's safety_cls_acc"
    )


def default_policy(arm: str) -> ArmPolicy | None:
    """The policy an arm gets unless the experiment declares one: what its intervention declares
    (`reflects`, `decoding`, `role` on the registered class), so a new intervention brings its
    own defaults in its one file. `raw` is the reference. A combination has none: the part it
    plays in the claims is a research decision, declared in `arm_policy`."""
    from safereflect.data.interventions import INTERVENTIONS, arm_decoding, arm_reflects, parse_arm

    parts = parse_arm(arm)  # an unknown intervention is a UserError naming the known ones
    if parts == ("raw",):
        return ArmPolicy(role="reference")
    if len(parts) > 1:
        return None
    reflects = arm_reflects(arm)
    return ArmPolicy(
        role=getattr(INTERVENTIONS[parts[0]], "role", "baseline"),
        decoding=arm_decoding(arm),
        reading="reflected" if reflects else "plain",
        classification="zeroshot" if reflects else "probe",
    )


def builtin_role(arm: str) -> str:
    """An arm's default role (for results written before roles were recorded); `none` otherwise."""
    from safereflect.errors import UserError

    try:
        policy = default_policy(arm)
    except UserError:
        return "none"
    return policy.role if policy else "none"

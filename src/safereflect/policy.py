"""Arm policy: how an arm is read and decoded at evaluation, and the part it plays in the
claims. Declared per arm in the experiment config (`arm_policy`); the built-in single arms
have defaults here, so nothing about evaluation or claims is inferred from an arm's name."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from safereflect.config import StrictModel

Role = Literal["reference", "filter", "rewrite", "baseline", "reflect", "none"]


class ArmPolicy(StrictModel):
    """How an arm is read and decoded at evaluation, and the part it plays in the claims.

    Roles: `reference` is the undefended model trained on the same corpus (raw); `filter` and
    `rewrite` are the data-side defences the claims name; `baseline` is any other defence (tag,
    refusal); `reflect` is the method under test; `none` keeps an arm out of the claims.
    """

    role: Role
    decoding: Literal["plain", "monitored", "safebeam"] = "plain"
    reading: Literal["plain", "reflected"] = Field(
        "plain", description="reflected: prompts are read in the reflect corpus format (its segment length)"
    )
    classification: Literal["probe", "zeroshot", "ft"] = Field(
        "probe", description="the safety-classification method whose accuracy is the arm's safety_cls_acc"
    )


# combinations and new interventions declare theirs in the experiment's `arm_policy`
BUILTIN_POLICIES: dict[str, ArmPolicy] = {
    "raw": ArmPolicy(role="reference"),
    "filter": ArmPolicy(role="filter"),
    "rewrite": ArmPolicy(role="rewrite"),
    "refusal": ArmPolicy(role="baseline"),
    "tag": ArmPolicy(role="baseline", decoding="safebeam"),
    "reflect": ArmPolicy(role="reflect", decoding="monitored", reading="reflected", classification="zeroshot"),
}


def builtin_role(arm: str) -> str:
    """A built-in arm's role (for results written before roles were recorded); `none` otherwise."""
    policy = BUILTIN_POLICIES.get(arm)
    return policy.role if policy else "none"

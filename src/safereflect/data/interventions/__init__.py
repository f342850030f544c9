"""Interventions (arms) by name, composable with `+`.

`raw` leaves the corpus as it is. A composed arm runs its interventions in a fixed order,
whatever order it is written in: the replacements (rewrite, refusal) and tag (which claim
documents by label), then filter (the safety net), then reflect (on every surviving
document). Writing order does not matter: `filter+reflect` and `reflect+filter` are the same arm.
"""

from __future__ import annotations

from datatrove.pipeline.base import PipelineStep
from pydantic import Field

from safereflect.config import StrictModel
from safereflect.data.interventions.base import ArmContext, Router
from safereflect.data.interventions.filter import FilterConfig, SafetyFilter
from safereflect.data.interventions.reflect import Reflect, ReflectConfig
from safereflect.data.interventions.reflect_eos import ReflectEOS, ReflectEOSConfig
from safereflect.data.interventions.reflect_prompt import ReflectPrompt, ReflectPromptConfig
from safereflect.data.interventions.refusal import Refusal, RefusalConfig
from safereflect.data.interventions.rewrite import Rewrite, RewriteConfig
from safereflect.data.interventions.tag import Tag, TagConfig
from safereflect.data.scorers import Scorer
from safereflect.errors import UserError

INTERVENTIONS: dict[str, type[PipelineStep] | None] = {
    "raw": None,
    "rewrite": Rewrite,
    "refusal": Refusal,
    "tag": Tag,
    "filter": SafetyFilter,
    "reflect": Reflect,
    "reflect_eos": ReflectEOS,
    "reflect_prompt": ReflectPrompt,
}
# execution order of a composed arm
ORDER = ("rewrite", "refusal", "tag", "filter", "reflect", "reflect_eos", "reflect_prompt")
DISPOSITIONS = ("rewrite", "refusal", "tag")  # claim documents by label; one per document


class InterventionsConfig(StrictModel):
    """Settings of every intervention; an arm uses those it names."""

    filter: FilterConfig = Field(default_factory=FilterConfig)
    rewrite: RewriteConfig = Field(default_factory=RewriteConfig)
    refusal: RefusalConfig = Field(default_factory=RefusalConfig)
    tag: TagConfig = Field(default_factory=TagConfig)
    reflect: ReflectConfig = Field(default_factory=ReflectConfig)
    reflect_eos: ReflectEOSConfig = Field(default_factory=ReflectEOSConfig, description="reflect's settings apply too")
    reflect_prompt: ReflectPromptConfig = Field(
        default_factory=ReflectPromptConfig, description="reflect's settings apply too"
    )


def parse_arm(arm: str) -> tuple[str, ...]:
    """The arm's interventions in execution order; a clear error for a bad arm."""
    parts = [p.strip() for p in arm.split("+")]
    unknown = [p for p in parts if p not in INTERVENTIONS]
    if unknown or not parts:
        raise UserError(
            f"unknown intervention {', '.join(map(repr, unknown or [arm]))} in arm {arm!r} "
            f"(allowed: {', '.join(INTERVENTIONS)}, combined with +)"
        )
    if len(set(parts)) != len(parts):
        raise UserError(f"arm {arm!r} names an intervention twice")
    if "raw" in parts and len(parts) > 1:
        raise UserError("`raw` is the unchanged corpus and cannot be combined with other interventions")
    reflecting = [p for p in parts if getattr(INTERVENTIONS[p], "reflects", False)]
    if len(reflecting) > 1:
        raise UserError(f"arm {arm!r} names {' and '.join(reflecting)}: one kind of reflection per arm")
    if "tag" in parts and reflecting:
        raise UserError(f"`tag` and `{reflecting[0]}` are alternative ways of marking unsafe text; use one per arm")
    return tuple(p for p in ("raw", *ORDER) if p in parts)


def arm_name(arm: str) -> str:
    """The canonical spelling of an arm (execution order)."""
    return "+".join(parse_arm(arm))


def arm_reflects(arm: str) -> bool:
    """Whether the arm's data teaches safety reflections (its interventions' `reflects`)."""
    return any(getattr(INTERVENTIONS[p], "reflects", False) for p in parse_arm(arm))


def arm_decoding(arm: str) -> str:
    """The decoding mode that uses what the arm's data taught (its interventions' `decoding`)."""
    modes = [getattr(INTERVENTIONS[p], "decoding", "plain") for p in parse_arm(arm)]
    return next((m for m in modes if m != "plain"), "plain")


def arm_prompt_end(arm: str, cfg: InterventionsConfig) -> str | None:
    """The text after which the arm's corpus puts a reflection on each prompt (its
    interventions' `prompt_end` setting, `reflect_prompt`'s), or None: how its models read prompts."""
    ends = [getattr(getattr(cfg, p), "prompt_end", None) for p in parse_arm(arm) if p != "raw"]
    return next((e for e in ends if e is not None), None)


def needs_scorer(arm: str) -> bool:
    return parse_arm(arm) != ("raw",)


def build_arm(
    arm: str, cfg: InterventionsConfig, *, seed: int, scorer: Scorer | None, excluded_dir: str
) -> list[PipelineStep]:
    parts = parse_arm(arm)
    if parts == ("raw",):
        return []
    router = Router(seed, {d: frozenset(getattr(cfg, d).on) for d in DISPOSITIONS if d in parts})
    context = ArmContext(arm_name(arm), seed, scorer, router, excluded_dir)
    steps = [INTERVENTIONS[p] for p in parts]
    return [
        step(step.settings(cfg) if hasattr(step, "settings") else getattr(cfg, p), context)
        for p, step in zip(parts, steps)
    ]

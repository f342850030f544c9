"""`ExperimentConfig`: one YAML file composes every stage of an experiment.

The stage sections (`prepare`, `train`, `eval`) hold overrides of each stage's own config
(`PrepareConfig`, the training preset, `EvalConfig`), so every stage option is reachable
from the experiment file and is validated by the stage's own model, with its error
messages, before anything runs (`--dry-run`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from safereflect.config import Seed, StrictModel
from safereflect.errors import UserError
from safereflect.experiment.resources import StageResources
from safereflect.policy import ArmPolicy, default_policy
from safereflect.stage import content_hash


class WorldSpec(StrictModel):
    preset: Literal["tiny", "small", "medium"] = "small"
    seed: Seed = Field(0, description="world seed of experiment seed 0")
    per_seed: bool = Field(
        True,
        description="each experiment seed k builds its own world (seed `seed + k`), so every seed replicates the "
        "whole experiment and claims are about the world family, not one world; false: one world for all seeds",
    )
    overrides: dict[str, Any] = Field(default_factory=dict, description="WorldConfig fields")

    def seed_for(self, run_seed: int) -> int:
        return self.seed + run_seed if self.per_seed else self.seed


class Grid(StrictModel):
    """Extra dimensions crossed with arms x seeds; each value list makes one variant per value."""

    timing: list[float] = Field(
        default_factory=lambda: [0.0], description="share of tokens before intervened data starts"
    )
    segment_words: list[int] = Field(default_factory=list, description="reflection segment lengths (reflect arms)")
    model: list[str] = Field(default_factory=list, description="training presets (model sizes)")


class ExperimentConfig(StrictModel):
    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    out: Path | None = Field(None, description="default: runs/<name>")
    world: WorldSpec | None = Field(default_factory=WorldSpec, description="MedSafetyWorld source (or use `corpus`)")
    corpus: dict[str, Any] | None = Field(
        None, description="real-text source: PrepareConfig.input (e.g. a FineWeb-Edu path)"
    )
    arms: list[str] = Field(default_factory=lambda: ["raw", "filter", "rewrite", "tag", "reflect"], min_length=1)
    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1)
    grid: Grid = Field(default_factory=Grid)
    prepare: dict[str, Any] = Field(default_factory=dict, description="PrepareConfig overrides for every arm")
    arm_prepare: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per-arm PrepareConfig overrides")
    train: dict[str, Any] = Field(
        default_factory=lambda: {"preset": "cpu-1m"}, description="training preset + overrides"
    )
    arm_train: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per-arm training overrides")
    eval: dict[str, Any] = Field(default_factory=dict, description="EvalConfig overrides for every arm")
    arm_eval: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per-arm EvalConfig overrides")
    arm_policy: dict[str, ArmPolicy] = Field(
        default_factory=dict,
        description="per-arm reading, decoding and claim role; an arm of one intervention defaults to what its "
        "intervention declares (safereflect.policy.default_policy), a combination must declare one",
    )
    samples_per_arm: int = Field(3, ge=0, description="sample generations shown per arm in the report")
    resources: StageResources = Field(
        default_factory=StageResources,
        description="what each stage's job asks for under `--launcher local|slurm` (see experiment/resources.py)",
    )
    _source_file: str | None = PrivateAttr(None)  # the YAML it was loaded from, for error messages

    @property
    def source_file(self) -> str | None:
        return self._source_file

    @model_validator(mode="after")
    def _one_source(self) -> ExperimentConfig:
        if (self.world is None) == (self.corpus is None):
            raise ValueError("set exactly one of `world` (MedSafetyWorld) and `corpus` (real text)")
        if self.corpus is not None:
            _real_text_suites_only(self.eval, "eval")
            for arm, overrides in self.arm_eval.items():
                _real_text_suites_only(overrides, f"arm_eval.{arm}")
        unknown = (set(self.arm_prepare) | set(self.arm_train) | set(self.arm_eval) | set(self.arm_policy)) - set(
            self.arms
        )
        if unknown:
            raise ValueError(f"per-arm overrides for arms not in `arms`: {', '.join(sorted(unknown))}")
        try:
            undeclared = [a for a in self.arms if a not in self.arm_policy and default_policy(a) is None]
        except UserError as err:
            raise ValueError(str(err)) from None
        if undeclared:
            raise ValueError(
                f"arm(s) {', '.join(undeclared)} need a policy: add `arm_policy: {{{undeclared[0]}: {{role: ..., "
                "decoding: ..., reading: ..., classification: ...}}}` (roles: reference, filter, rewrite, baseline, "
                "reflect, none)"
            )
        return self

    def policy(self, arm: str) -> ArmPolicy:
        return self.arm_policy.get(arm) or default_policy(arm)  # type: ignore[return-value]  # checked above

    def roles(self) -> dict[str, str]:
        return {arm: self.policy(arm).role for arm in self.arms}

    def config_hash(self) -> str:
        """Identity of the experiment: everything but where it is written and what its jobs ask for."""
        return content_hash(self.model_dump(mode="json", exclude={"out", "resources"}))

    @property
    def out_dir(self) -> Path:
        return self.out or Path("runs") / self.name


def _real_text_suites_only(overrides: dict[str, Any], where: str) -> None:
    """A `corpus` experiment has no MedSafetyWorld probes: refuse world suites (and the
    default suite list, which has them) here, not after every arm has been trained."""
    from safereflect.eval.config import WORLD_SUITES

    suites = overrides.get("suites")
    if suites is None:
        if where == "eval":
            raise ValueError(
                "eval.suites: a `corpus` experiment must list its suites (the default ones ask "
                "MedSafetyWorld probes); real-text suites: realtext, bpb"
            )
        return
    world = [s for s in suites if s in WORLD_SUITES]
    if world:
        raise ValueError(
            f"{where}.suites: {', '.join(world)} ask MedSafetyWorld probes, which a `corpus` experiment "
            "does not have; real-text suites: realtext, bpb"
        )

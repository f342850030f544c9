"""`ExperimentConfig`: one YAML file composes every stage of an experiment.

The stage sections (`prepare`, `train`, `eval`) hold overrides of each stage's own config
(`PrepareConfig`, the training preset, `EvalConfig`), so every stage option is reachable
from the experiment file and is validated by the stage's own model, with its error
messages, before anything runs (`--dry-run`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from safereflect.config import StrictModel
from safereflect.stage import content_hash


class WorldSpec(StrictModel):
    preset: Literal["tiny", "small", "medium"] = "small"
    seed: int = Field(0, ge=0)
    overrides: dict[str, Any] = Field(default_factory=dict, description="WorldConfig fields")


class Grid(StrictModel):
    """Extra dimensions crossed with arms x seeds; each value list makes one variant per value."""

    timing: list[float] = Field(default_factory=lambda: [0.0], description="share of tokens before intervened data starts")
    segment_words: list[int] = Field(default_factory=list, description="reflection segment lengths (reflect arms)")
    model: list[str] = Field(default_factory=list, description="training presets (model sizes)")


class ExperimentConfig(StrictModel):
    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    out: Path | None = Field(None, description="default: runs/<name>")
    world: WorldSpec | None = Field(default_factory=WorldSpec, description="MedSafetyWorld source (or use `corpus`)")
    corpus: dict[str, Any] | None = Field(None, description="real-text source: PrepareConfig.input (e.g. a FineWeb-Edu path)")
    arms: list[str] = Field(default_factory=lambda: ["raw", "filter", "rewrite", "tag", "reflect"], min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    grid: Grid = Field(default_factory=Grid)
    prepare: dict[str, Any] = Field(default_factory=dict, description="PrepareConfig overrides for every arm")
    arm_prepare: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per-arm PrepareConfig overrides")
    train: dict[str, Any] = Field(default_factory=lambda: {"preset": "cpu-1m"}, description="training preset + overrides")
    eval: dict[str, Any] = Field(default_factory=dict, description="EvalConfig overrides for every arm")
    arm_eval: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per-arm EvalConfig overrides")
    samples_per_arm: int = Field(3, ge=0, description="sample generations shown per arm in the report")

    @model_validator(mode="after")
    def _one_source(self) -> ExperimentConfig:
        if (self.world is None) == (self.corpus is None):
            raise ValueError("set exactly one of `world` (MedSafetyWorld) and `corpus` (real text)")
        unknown = (set(self.arm_prepare) | set(self.arm_eval)) - set(self.arms)
        if unknown:
            raise ValueError(f"per-arm overrides for arms not in `arms`: {', '.join(sorted(unknown))}")
        return self

    def config_hash(self) -> str:
        """Identity of the experiment: everything but where it is written."""
        return content_hash(self.model_dump(mode="json", exclude={"out"}))

    @property
    def out_dir(self) -> Path:
        return self.out or Path("runs") / self.name

"""The configuration of `safereflect prepare`: one arm of one experiment, as one model.

Everything that shapes the output is in the hash that makes a finished output directory
reusable; how it is run (workers, executor) is not, since it does not change a byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from safereflect.config import Seed, StrictModel
from safereflect.data.interventions import InterventionsConfig, parse_arm
from safereflect.data.scorers import AnyScorerConfig
from safereflect.data.sources import InputConfig
from safereflect.data.tokenizer import TokenizerConfig
from safereflect.stage import content_hash


class ShardsConfig(StrictModel):
    val_fraction: float = Field(0.05, ge=0, lt=1, description="documents held out for validation (by document, seeded)")
    max_tokens_per_file: int = Field(
        500_000_000, ge=1, description="a split's shards are cut into files of about this many tokens"
    )


class SlurmOptions(StrictModel):
    partition: str | None = None
    time: str = "04:00:00"
    cpus_per_task: int = Field(1, ge=1)
    mem_per_cpu_gb: float = Field(2, gt=0)
    qos: str = "normal"
    job_name: str = "safereflect-prepare"
    max_concurrent: int = Field(-1, description="array tasks running at once; -1 for no limit")
    venv_path: str | None = None
    sbatch_args: dict[str, Any] = Field(default_factory=dict)


class RayOptions(StrictModel):
    cpus_per_task: int = Field(1, ge=1)
    max_concurrent: int = Field(-1, description="tasks running at once; -1 for no limit")
    mem_per_cpu_gb: float = Field(2, gt=0)


class RunConfig(StrictModel):
    workers: int = Field(1, ge=1, description="tasks run at once (local executor)")
    executor: Literal["local", "slurm", "ray"] = "local"
    slurm: SlurmOptions = Field(default_factory=SlurmOptions)
    ray: RayOptions = Field(default_factory=RayOptions)


class PrepareConfig(StrictModel):
    arm: str = Field("raw", description="intervention(s): raw, filter, rewrite, refusal, tag, reflect, joined with +")
    input: InputConfig
    out: Path
    seed: Seed = 0
    skip_bad: bool = Field(False, description="send bad input records to the exclusion file instead of stopping")
    scorer: str = Field("oracle", description="scorer whose labels the interventions act on")
    scorers: dict[str, AnyScorerConfig] = Field(default_factory=dict, description="scorer settings by name")
    annotate: list[str] = Field(default_factory=list, description="more scorers to run and store, unused by the arm")
    interventions: InterventionsConfig = Field(default_factory=InterventionsConfig)
    timing: float = Field(
        0.0, ge=0, lt=1, description="share of training tokens before intervened data starts (0, 0.2, 0.6)"
    )
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    shards: ShardsConfig = Field(default_factory=ShardsConfig)
    tasks: int = Field(
        4, ge=1, description="datatrove tasks (output files); fixed, so results do not depend on workers"
    )
    run: RunConfig = Field(default_factory=RunConfig)

    @model_validator(mode="after")
    def _check(self) -> PrepareConfig:
        parts = parse_arm(self.arm)
        if self.timing > 0 and parts == ("raw",):
            raise ValueError("timing needs an intervention: with arm raw both phases would be raw")
        return self

    @property
    def loss_mask(self) -> bool:
        return "reflect" in parse_arm(self.arm) and self.interventions.reflect.after_unsafe == "noise"

    def config_hash(self) -> str:
        """Hash of what shapes the output (not `out`, not how it is run)."""
        return content_hash(self.model_dump(mode="json", exclude={"out", "run"}))

    def identity(self) -> dict[str, Any]:
        """What shapes the output without saying where anything is: the input and tokenizer
        paths are left out (their content is identified by `run_key`)."""
        values = self.model_dump(mode="json", exclude={"out", "run"})
        values["input"].pop("path", None)
        values["tokenizer"].pop("path", None)
        return values

"""What each stage's job asks the cluster for: the experiment YAML's `resources:` section.

Layers, later ones winning: the built-in defaults of the stage's kind, those of the training
preset (train and eval jobs of a GPU preset ask for GPUs), `resources.default`, then
`resources.<kind>`. Only the launchers (`--launcher local|slurm`) read them.
"""

from __future__ import annotations

from pydantic import Field

from safereflect.config import StrictModel

KINDS = ("world", "tokenizer", "prepare", "train", "attack", "eval", "report")


class Resources(StrictModel):
    nodes: int | None = Field(None, ge=1, description="machines (train: each runs gpus_per_node processes)")
    gpus_per_node: int | None = Field(None, ge=0)
    cpus: int | None = Field(None, ge=1, description="CPUs per process")
    mem_gb: float | None = Field(None, gt=0, description="memory per machine")
    time_min: int | None = Field(None, ge=1, description="time limit in minutes")
    partition: str | None = None
    account: str | None = None
    qos: str | None = None


class StageResources(StrictModel):
    default: Resources = Field(default_factory=Resources, description="for every stage")
    world: Resources = Field(default_factory=Resources)
    tokenizer: Resources = Field(default_factory=Resources)
    prepare: Resources = Field(default_factory=Resources)
    train: Resources = Field(default_factory=Resources)
    attack: Resources = Field(default_factory=Resources, description="each finetuning attack of an evaluation")
    eval: Resources = Field(default_factory=Resources)
    report: Resources = Field(default_factory=Resources)

    def resolve(self, kind: str, preset: str | None) -> Resources:
        values = dict(BASE) | KIND_DEFAULTS.get(kind, {})
        if kind in ("train", "attack", "eval") and preset in PRESET_GPUS:
            nodes, gpus = PRESET_GPUS[preset]
            # evaluation and each finetuning attack run on one GPU; training on the preset's layout
            values |= (
                {"nodes": nodes, "gpus_per_node": gpus, "cpus": 8}
                if kind == "train"
                else {"gpus_per_node": 1, "cpus": 8}
            )
        for layer in (self.default, getattr(self, kind)):
            values |= layer.model_dump(exclude_none=True)
        return Resources(**values)


BASE = {"nodes": 1, "gpus_per_node": 0, "cpus": 2, "mem_gb": 16, "time_min": 60}
KIND_DEFAULTS = {
    "prepare": {"cpus": 8, "mem_gb": 32, "time_min": 12 * 60},
    "tokenizer": {"cpus": 8, "mem_gb": 32, "time_min": 12 * 60},
    "train": {"time_min": 24 * 60},
    "attack": {"time_min": 6 * 60},
    "eval": {"time_min": 6 * 60},
}
# (nodes, GPUs per node) of the GPU presets; the CPU presets (tiny, cpu-1m, cpu-3m) ask for none
PRESET_GPUS = {"125m": (1, 1), "350m": (1, 8), "smollm2-1.7b": (4, 8)}

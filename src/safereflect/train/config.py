"""Pretraining configuration: one pydantic model, validated before any heavy import.

`TrainConfig` is what the CLI, YAML files and the experiment runner all produce. It imports
no torch, so a bad value is reported in well under a second.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeInt, ValidationInfo, field_validator, model_validator

from safereflect.config import Seed, StrictModel
from safereflect.stage import content_hash, read_done

# A first compilation of cpu-1m took 21.5 s idle and minutes on a loaded 2-core machine; from
# an inductor cache a few seconds. A step it saves 10-25% of (~0.15 s eager on one thread), so
# a short run loses time to it (BENCHMARKS.md, "Training throughput compiled, one thread").
COMPILE_AUTO_MIN_STEPS = 500

PresetName = Literal["tiny", "cpu-1m", "cpu-3m", "125m", "350m", "smollm2-1.7b"]

# Fields that do not change what a run computes, so a rerun that changes them still resumes
# the same run: where it writes, how often it logs or checkpoints, and memory/speed knobs
# that leave the math unchanged (micro-batch size keeps the global batch; compile, the
# attention kernels and activation checkpointing compute the same values, rounded differently,
# so bytes match only between runs with the same setting; DDP and FSDP2 average the same
# gradients).
OPERATIONAL_FIELDS = frozenset(
    {
        "out",
        "log_every",
        "eval_every",
        "val_tokens",
        "checkpoint_every",
        "keep_checkpoints",
        "tensorboard",
        "micro_batch_size",
        "compile",
        "attention",
        "activation_checkpointing",
        "parallel",
        "loss_chunk_tokens",
    }
)


class ModelShape(StrictModel):
    """A Llama shape from one size dial (`depth`) or from explicit fields.

    With the dial (nanochat-style): hidden = depth * aspect_ratio, heads = hidden / head_dim,
    kv heads = heads / kv_group, intermediate = mlp_ratio * hidden rounded up to 64. Any
    explicit field overrides what the dial would give.
    """

    depth: int | None = Field(None, ge=1)
    aspect_ratio: int = Field(64, ge=1)
    head_dim: int = Field(64, ge=1)
    kv_group: int = Field(1, ge=1, description="query heads per key/value head (GQA)")
    mlp_ratio: float = Field(8 / 3, gt=0)
    n_layers: int | None = Field(None, ge=1)
    hidden_size: int | None = Field(None, ge=1)
    n_heads: int | None = Field(None, ge=1)
    n_kv_heads: int | None = Field(None, ge=1)
    intermediate_size: int | None = Field(None, ge=1)
    vocab_size: int | None = Field(None, ge=1, description="null: the shards' meta.json vocab_size")
    vocab_multiple: int = Field(64, ge=1, description="pad the embedding rows to a multiple of this")
    tie_embeddings: bool = True
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    init_std: float = 0.02
    max_position_embeddings: int | None = Field(None, ge=1, description="null: seq_len")

    @model_validator(mode="after")
    def _dial_or_explicit(self) -> ModelShape:
        if self.depth is None and (self.n_layers is None or self.hidden_size is None):
            raise ValueError("set model.depth (the size dial) or both model.n_layers and model.hidden_size")
        return self


class TrainConfig(StrictModel):
    """Everything one pretraining run needs. Batch sizes are in sequences of `seq_len` tokens."""

    data: Path = Field(description="a prepared arm directory containing tokens/, or a tokens directory")
    out: Path = Field(description="run directory: config, metrics, checkpoints, final export")
    preset: PresetName | None = Field(None, description="the preset these values started from (a record)")
    model: ModelShape = Field(default_factory=lambda: ModelShape(depth=2, aspect_ratio=32, head_dim=16))
    seq_len: int = Field(64, ge=2)
    micro_batch_size: int = Field(8, ge=1, description="sequences per forward pass per process")
    global_batch_size: int = Field(8, ge=1, description="sequences per optimizer step over all processes")
    max_steps: int = Field(100, ge=1)
    lr: float = Field(3e-3, gt=0)
    schedule: Literal["cosine", "wsd", "constant"] = "cosine"
    warmup_steps: int = Field(10, ge=0)
    min_lr_ratio: float | None = Field(
        None, ge=0, le=1, description="final LR / peak LR; null: 0.1 for cosine, 0 for wsd"
    )
    decay_fraction: float = Field(0.2, gt=0, le=1, description="wsd: fraction of steps in the final linear decay")
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.95, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    grad_clip: float | None = Field(1.0, gt=0, description="max global gradient norm; null: no clipping")
    seed: Seed = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto",
        description="bf16 autocast (fp32 weights and optimizer) or fp32; auto: bf16 where the "
        "hardware has bf16 units (CUDA, CPUs with AVX512-BF16, AMX or Arm BF16), else fp32",
    )
    compile: bool | Literal["auto"] = Field(
        "auto",
        description="torch.compile each decoder layer; auto: for runs of at least "
        f"{COMPILE_AUTO_MIN_STEPS} steps, on a CPU only where a C++ compiler is on PATH",
    )
    attention: Literal["auto", "sdpa", "eager"] = Field(
        "auto",
        description="attention kernels (same math): sdpa (torch's fused kernels) or eager (HF's "
        "matmul + softmax); auto: eager for bf16 on a CPU, where it measured faster, sdpa elsewhere",
    )
    activation_checkpointing: bool = False
    loss_chunk_tokens: int = Field(
        0, ge=0, description="tokens per chunk of the output-layer loss; 0: auto (at most 2^27 fp32 logits at once)"
    )
    verdict_weight: float = Field(
        1.0,
        gt=0,
        description="loss weight of every token that follows a reflection opener (the verdict word) against 1 for "
        "every other token; the loss stays a weighted mean, and 1 is the plain language-modelling loss",
    )
    parallel: Literal["ddp", "fsdp"] = Field("ddp", description="multi-process strategy under torchrun")
    log_every: int = Field(1, ge=1)
    eval_every: int = Field(0, ge=0, description="0: validate only at the end")
    val_tokens: int = Field(65536, ge=0, description="validation budget in tokens (0: no validation)")
    checkpoint_every: int = Field(0, ge=0, description="0: checkpoint only at the end")
    keep_checkpoints: int = Field(2, ge=1)
    tensorboard: bool = False

    @field_validator("global_batch_size")
    @classmethod
    def _whole_micro_batches(cls, value: int, info: ValidationInfo) -> int:
        micro = info.data.get("micro_batch_size")
        if micro and value % micro:
            raise ValueError(f"must be a multiple of micro_batch_size ({micro})")
        return value

    @field_validator("warmup_steps")
    @classmethod
    def _warmup_within_run(cls, value: int, info: ValidationInfo) -> int:
        steps = info.data.get("max_steps")
        if steps and value >= steps:
            raise ValueError(f"must be below max_steps ({steps})")
        return value

    @property
    def final_lr_ratio(self) -> float:
        if self.min_lr_ratio is not None:
            return self.min_lr_ratio
        return 0.0 if self.schedule == "wsd" else 0.1

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch_size * self.seq_len

    def identity(self) -> dict:
        """The values that define what the run computes (see OPERATIONAL_FIELDS), with the
        data named by its content, not its path, so a moved run directory still resumes."""
        values = self.model_dump(mode="json", exclude=set(OPERATIONAL_FIELDS))
        values["data"] = data_identity(self.data)
        if values["verdict_weight"] == 1.0:  # the plain loss: runs from before the field keep their identity
            del values["verdict_weight"]
        return values

    def identity_hash(self) -> str:
        return content_hash(self.identity())


def data_identity(data: Path) -> str:
    """A prepared arm's identity (its completion record's key), else a hash of its shards'
    meta.json; the resolved path only for data that is neither (training will reject it)."""
    data = Path(data)
    for arm_dir in (data, data.parent):
        record = read_done(arm_dir) or {}
        if record.get("stage") == "prepare" and record.get("key"):  # records before 2026-11 have no key
            return f"prepare:{record['key']}"
    for meta in (data / "tokens" / "meta.json", data / "meta.json"):
        if meta.is_file():
            return f"meta:{hashlib.sha256(meta.read_bytes()).hexdigest()[:16]}"
    return str(data.resolve())


FinetunePresetName = Literal["harmful-10", "harmful-100", "benign"]


class FinetuneConfig(StrictModel):
    """One finetuning run (full or LoRA) on prompt/response pairs or plain text.

    Unset values (`None`) come from the preset (see `safereflect.train.presets`); an explicit
    `lr` is used as given, while a preset's published LR is multiplied by `lr_scale`.
    """

    model: str = Field(description="a checkpoint dir, a RUN/final export, a local HF model dir or a hub name")
    data: Path = Field(description='JSONL of {"prompt", "response"} pairs or {"text"} records')
    out: Path = Field(description="output dir: metrics.jsonl, step_XXXXXX/ exports, final/")
    preset: FinetunePresetName | None = None
    lr: float | None = Field(None, gt=0, description="effective LR; null: the preset's published LR x lr_scale")
    lr_scale: float | None = Field(
        None, gt=0, description="null: the model's pretraining LR / 3e-4 when recorded, else 1"
    )
    epochs: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1, description="examples per optimizer step")
    micro_batch_size: int | None = Field(None, ge=1, description="examples per forward pass; null: batch_size")
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps")
    max_examples: int | None = Field(None, ge=1, description="use the first N records of the data file")
    max_seq_len: int = Field(
        512,
        ge=2,
        description="a longer pair loses its prompt's start (whole response kept); longer text is cut on the right",
    )
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: float | None = Field(1.0, gt=0)
    seed: Seed = 0
    lora: bool = False
    lora_rank: int = Field(8, ge=1)
    lora_alpha: float = Field(16.0, gt=0)
    export_steps: list[NonNegativeInt] = Field(
        default_factory=list,
        description="also export the model after these optimizer steps (0: before training)",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "bf16", "fp32"] = "auto"

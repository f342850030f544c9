"""What a run will be, before it runs: data, model shape, sizes, token budget, time estimate.

`plan_run` does every check that needs no model (data layout, vocabulary), so bad input
fails in a second; `safereflect train --dry-run` prints the plan with `estimate_seconds`.
"""

from __future__ import annotations

from dataclasses import dataclass

from safereflect.errors import UserError
from safereflect.train.config import TrainConfig
from safereflect.train.data import ShardSplit, TokensMeta, find_tokens_dir, read_meta
from safereflect.train.hardware import (
    ASSUMED_CPU_FLOPS,
    ASSUMED_GPU_MFU,
    PEAK_BF16_FLOPS,
    peak_flops,
)
from safereflect.train.shapes import LlamaShape, resolve_shape


@dataclass(frozen=True)
class RunPlan:
    cfg: TrainConfig
    meta: TokensMeta
    shape: LlamaShape

    @property
    def flops_per_token(self) -> int:
        return self.shape.flops_per_token(self.cfg.seq_len)

    @property
    def total_tokens(self) -> int:
        return self.cfg.max_steps * self.cfg.tokens_per_step

    def summary(self) -> dict[str, str]:
        s, c = self.shape, self.cfg
        return {
            "model": f"{s.n_layers} layers, hidden {s.hidden_size}, {s.n_heads} heads ({s.n_kv_heads} kv), "
            f"MLP {s.intermediate_size}, vocab {s.vocab_size}",
            "parameters": f"{s.total_params:,} ({s.non_embedding_params:,} non-embedding)",
            "FLOPs/token": f"{self.flops_per_token:,} (6N + 12·L·d·T)",
            "tokens/step": f"{c.tokens_per_step:,} ({c.global_batch_size} x {c.seq_len})",
            "token budget": f"{self.total_tokens:,} ({c.max_steps:,} steps; "
            f"{self.total_tokens / s.total_params:.1f} tokens/param)",
        }


def plan_run(cfg: TrainConfig) -> RunPlan:
    meta = read_meta(find_tokens_dir(cfg.data))
    if not (meta.dir / "train").is_dir():
        raise UserError(f"no training shards: {meta.dir / 'train'} does not exist")
    ShardSplit(meta, "train", cfg.seq_len)  # every shard whole and long enough, before any model is built
    shape = resolve_shape(cfg.model, vocab_size=meta.vocab_size, seq_len=cfg.seq_len)
    if cfg.seq_len > shape.max_position_embeddings:
        raise UserError(f"seq_len {cfg.seq_len} exceeds model.max_position_embeddings {shape.max_position_embeddings}")
    return RunPlan(cfg, meta, shape)


def estimate_seconds(plan: RunPlan, device_name: str, n_devices: int = 1) -> tuple[float, str]:
    """(seconds, the assumption used) to train the plan's token budget on `device_name`."""
    total_flops = plan.flops_per_token * plan.total_tokens
    if device_name.lower() == "cpu":
        tokens_per_s = ASSUMED_CPU_FLOPS / plan.flops_per_token
        return plan.total_tokens / tokens_per_s, (
            f"CPU at {ASSUMED_CPU_FLOPS / 1e9:.0f} GFLOP/s sustained = {tokens_per_s:,.0f} tokens/s"
        )
    peak = peak_flops(device_name)
    if peak is None:
        known = ", ".join(["cpu", *(key.lower() for key, _ in PEAK_BF16_FLOPS)])
        raise UserError(f"unknown device {device_name!r} (known: {known})")
    achieved = peak * ASSUMED_GPU_MFU * n_devices
    return total_flops / achieved, (
        f"{n_devices} x {peak / 1e12:.0f} TFLOP/s bf16 peak at {ASSUMED_GPU_MFU:.0%} MFU "
        f"= {achieved / plan.flops_per_token:,.0f} tokens/s"
    )

"""The optimizer and one optimizer step (gradient accumulation, clipping), shared by
pretraining and finetuning.

The loss of a step is the sum of per-token cross-entropies divided by the number of counted
targets in the whole global batch, so micro-batching, gradient accumulation and the number
of processes change the floating-point summation order but not the math.
"""

from __future__ import annotations

import torch

from safereflect.train.distributed import Runtime, no_grad_sync
from safereflect.train.loss import token_losses

__all__ = ["OOM_HINT", "make_optimizer", "set_lr", "token_losses", "train_step"]

OOM_HINT = (
    "lower micro_batch_size (the global batch is kept through gradient accumulation), "
    "or set activation_checkpointing: true"
)
NONFINITE_HINT = (
    "the checkpoints written before it are intact and a rerun resumes from the last; a diverging run "
    "wants a lower lr or grad_clip; NaN from the first steps points at the kernels: try compile: false "
    "or precision: fp32 (torch 2.13 compiled bf16 training under ATEN_CPU_CAPABILITY=avx2 is NaN from step 1)"
)


def make_optimizer(model: torch.nn.Module, *, lr: float, weight_decay: float, betas=(0.9, 0.95), eps: float = 1e-8):
    """AdamW; weight decay on matrices only (not norms), fused kernels on CPU and CUDA (one
    kernel per parameter group instead of a dozen elementwise passes: 4% of a `cpu-1m` step,
    BENCHMARKS.md "Training throughput on an idle machine")."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    fusable = params[0].device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=True if fusable else None)


def _weights(inputs: torch.Tensor, token_id: int, weight: float) -> torch.Tensor:
    return torch.where(inputs == token_id, weight, 1.0)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    micro_batches: list[tuple[torch.Tensor, ...]],
    *,
    n_targets: int,
    rt: Runtime,
    grad_clip: float | None,
    loss_chunk: int = 0,
    weighted: tuple[int, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Accumulate gradients over `micro_batches` ((inputs, targets[, attention_mask]) on the
    device), clip, step. Returns this process's summed (unweighted) loss and the gradient norm
    (tensors, so the caller decides when to synchronise with the device).

    `weighted` (token id, weight) gives every target that follows that token in the input
    `weight` instead of 1; `n_targets` is then the global batch's total weight."""
    # Data-parallel wrappers average gradients over processes; scaling by world_size turns
    # that average back into the sum over the global batch.
    scale = rt.world_size / max(n_targets, 1)
    loss_sum = torch.zeros((), device=rt.device)
    for i, (inputs, targets, *mask) in enumerate(micro_batches):
        with no_grad_sync(model, sync=i == len(micro_batches) - 1):
            with rt.autocast():
                losses = token_losses(model, inputs, targets, mask[0] if mask else None, chunk=loss_chunk)
            loss = losses.sum()
            objective = loss if weighted is None else (losses * _weights(inputs, *weighted)).sum()
            (objective * scale).backward()
        loss_sum += loss.detach()
    grad_norm = None
    if grad_clip is not None:
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        if hasattr(grad_norm, "full_tensor"):  # FSDP2 returns a DTensor
            grad_norm = grad_norm.full_tensor()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_sum, grad_norm

"""Process layout (torchrun or single process), device and precision, and model wrapping.

Under torchrun (WORLD_SIZE > 1) processes join a group: NCCL on CUDA, gloo on CPU, so the
multi-process path also runs, and is tested, on a CPU-only machine. Wrapping is DDP
(replicated weights, averaged gradients) or FSDP2 `fully_shard` (weights, gradients and
optimizer state sharded per decoder layer), both averaging gradients over processes.

Under FSDP no process ever holds the whole model on its device: the model is built on the
meta device, sharded, and only then given storage (`materialize_shards`). A new run's
initial weights are the single-process ones (the seeded HF init, built on process 0's CPU)
scattered shard by shard; a resumed run's come from its checkpoint (see `sharded_checkpoint`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from safereflect.errors import UserError
from safereflect.train.hardware import cpp_compiler


@dataclass(frozen=True)
class Runtime:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    bf16: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def autocast(self):
        """bf16 autocast on request; fp32 otherwise (CPU default: no autocast at all)."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)


def start_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise UserError("device cuda requested but torch sees no CUDA device", hint="use --device cpu")
        torch_device = torch.device("cuda", local_rank)
        torch.cuda.set_device(torch_device)
    else:
        torch_device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(
            "nccl" if device == "cuda" else "gloo",
            device_id=torch_device if device == "cuda" else None,
        )
    bf16 = precision == "bf16" or (precision == "auto" and device == "cuda" and torch.cuda.is_bf16_supported())
    return Runtime(rank, world_size, local_rank, torch_device, bf16)


def stop_runtime(rt: Runtime) -> None:
    if rt.distributed and dist.is_initialized():
        dist.destroy_process_group()


def builds_on_meta(parallel: str, rt: Runtime) -> bool:
    """Whether the model is built without storage and materialised shard by shard."""
    return parallel == "fsdp" and rt.distributed


def wrap_model(
    model: torch.nn.Module,
    rt: Runtime,
    *,
    parallel: str,
    compile: bool,
    initial_state: Callable[[], dict[str, torch.Tensor]] | None = None,
) -> torch.nn.Module:
    """Compile (per decoder layer, keeping parameter names) and wrap for `parallel`.

    A model on the meta device (FSDP, `builds_on_meta`) is materialised after sharding, its
    weights from `initial_state()` (called on process 0 only), or left for a checkpoint to
    fill when `initial_state` is None. A single process trains the plain model whatever
    `parallel` says: there is nothing to shard.
    """
    layers = model.model.layers
    if compile and rt.device.type == "cpu":
        require_cpp_compiler()
        import torch._inductor.config

        # inductor reads $CXX once, when first imported; build with the compiler just checked.
        torch._inductor.config.cpp.cxx = (None, cpp_compiler())
    if compile:
        # Per-block compilation (as torchtitan does) composes with FSDP2 and DDP and keeps the
        # state-dict keys unchanged, so checkpoints do not depend on the compile flag.
        for layer in layers:
            layer.compile()
    if parallel == "fsdp" and rt.distributed:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if rt.bf16 else None
        kwargs = {"mp_policy": mp} if mp else {}
        for layer in layers:
            fully_shard(layer, **kwargs)
        fully_shard(model, **kwargs)
        if any(p.is_meta for p in model.parameters()):
            materialize_shards(model, rt, initial_state)
        return model
    if rt.distributed:
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[rt.local_rank] if rt.device.type == "cuda" else None)
    return model


def require_cpp_compiler() -> None:
    """torch.compile on a CPU builds its kernels with a C++ compiler (`cpp_compiler`); a machine
    with only Python has none, and inductor would fail inside the first step with a long
    traceback."""
    wanted = cpp_compiler()
    if shutil.which(wanted) is None:
        raise UserError(
            f"compile: true on a CPU needs a C++ compiler to build its kernels, and {wanted!r} is not on PATH",
            hint="install one (e.g. `apt install g++`), point $CXX at one, or set compile: false",
        )


def materialize_shards(
    model: torch.nn.Module, rt: Runtime, initial_state: Callable[[], dict[str, torch.Tensor]] | None
) -> None:
    """Give a sharded meta-device model storage for its own shards on `rt.device` and fill them.

    Process 0 builds the full initial state on its CPU (the same seeded init as a single
    process, so every parallelism starts from the same weights) and it is broadcast tensor by
    tensor, each process keeping its shard. Buffers that are not in a state dict (the rotary
    frequencies) are recomputed.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    model.to_empty(device=rt.device)
    reset_computed_buffers(model, rt.device)
    if initial_state is None:
        return
    state = initial_state() if rt.is_main else {}
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    set_model_state_dict(model, state, options=options)


def reset_computed_buffers(model: torch.nn.Module, device: torch.device) -> None:
    """Recompute the non-persistent buffers `to_empty` left uninitialised (HF rotary embeddings)."""
    for module in model.modules():
        if type(module).__name__.endswith("RotaryEmbedding") and hasattr(module, "config"):
            with torch.device(device):
                fresh = type(module)(config=module.config)
            for name, buf in fresh.named_buffers(recurse=False):
                getattr(module, name).copy_(buf)


def no_grad_sync(model: torch.nn.Module, sync: bool):
    """Skip the gradient all-reduce on all but the last micro-batch of a step."""
    if hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        model.set_requires_gradient_sync(sync)
        return contextlib.nullcontext()
    if hasattr(model, "no_sync") and not sync:  # DDP
        return model.no_sync()
    return contextlib.nullcontext()


def all_reduce_sum(values: list[float], rt: Runtime) -> list[float]:
    if not rt.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=rt.device)
    dist.all_reduce(t)
    return t.tolist()


def gather_objects(obj, rt: Runtime) -> list:
    if not rt.distributed:
        return [obj]
    out = [None] * rt.world_size
    dist.all_gather_object(out, obj)
    return out

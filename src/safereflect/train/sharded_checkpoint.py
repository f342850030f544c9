"""How a checkpoint's weights and optimizer state travel between disk and processes.

The weights are always one full `model.safetensors` (the checkpoint stays an HF model
directory). Under FSDP only process 0 reads it, and each process receives its own shards
(`broadcast_from_rank0`), so no process holds the whole model on its device.

The optimizer state (two fp32 moments per parameter: ~14 GB at 1.7B) of a sharded model is
written with torch.distributed.checkpoint (DCP) into `optimizer/`, each process writing and
reading only its shards; a replicated model (one process, DDP) keeps `optimizer.pt`. Either
loads into any layout: DCP reshards `optimizer/` to whatever the loading processes hold,
and `optimizer.pt` is broadcast from process 0 into a sharded model.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from safereflect.train.atomic import staging_dir
from safereflect.train.distributed import Runtime

TIED_HEAD = "lm_head.weight"
EMBEDDINGS = "model.embed_tokens.weight"
SHARDED_OPTIMIZER = "optimizer"  # directory of DCP shards
FULL_OPTIMIZER = "optimizer.pt"


def is_sharded(model: torch.nn.Module) -> bool:
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


def shared_staging_dir(final: Path, rt: Runtime) -> Path:
    """Collective: process 0 creates the staging directory of `final`; every process gets its path."""
    path = [str(staging_dir(final)) if rt.is_main else None]
    if rt.distributed:
        dist.broadcast_object_list(path, src=0)
    return Path(path[0])


def save_optimizer_state(tmp: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, rt: Runtime) -> None:
    """Collective: each process writes its shards to tmp/optimizer/ (sharded model), or
    process 0 writes the whole state to tmp/optimizer.pt."""
    if is_sharded(model):
        import torch.distributed.checkpoint as dcp

        dcp.save({"optimizer": get_optimizer_state_dict(model, optimizer)}, checkpoint_id=tmp / SHARDED_OPTIMIZER)
        return
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    state = get_optimizer_state_dict(model, optimizer, options=options)
    if rt.is_main:
        torch.save(state, tmp / FULL_OPTIMIZER)


def load_model_weights(path: Path, model: torch.nn.Module, rt: Runtime) -> None:
    """Full weights from `path` into the model; into a sharded one through process 0 alone."""
    sharded = is_sharded(model)
    weights = load_file(path) if rt.is_main or not sharded else {}
    if TIED_HEAD not in weights and EMBEDDINGS in weights:
        weights[TIED_HEAD] = weights[EMBEDDINGS]  # saved once; HF re-ties on load
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=sharded)
    set_model_state_dict(model, weights, options=options)


def load_optimizer_state(ckpt: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, rt: Runtime) -> None:
    """The optimizer state of `ckpt`, each process reading what its parameters need."""
    sharded = is_sharded(model)
    if (ckpt / SHARDED_OPTIMIZER).is_dir():
        import torch.distributed.checkpoint as dcp

        target = {"optimizer": get_optimizer_state_dict(model, optimizer)}  # this layout's (empty) state
        dcp.load(target, checkpoint_id=ckpt / SHARDED_OPTIMIZER, no_dist=not rt.distributed)
        set_optimizer_state_dict(model, optimizer, target["optimizer"])
        return
    state = {}
    if rt.is_main or not sharded:
        state = torch.load(ckpt / FULL_OPTIMIZER, map_location="cpu", weights_only=True)
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=sharded)
    set_optimizer_state_dict(model, optimizer, state, options=options)

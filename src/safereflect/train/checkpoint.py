"""Atomic, resumable checkpoints: RUN/checkpoints/step_XXXXXX/.

Each checkpoint is a complete HF model directory (config.json, model.safetensors, tokenizer)
plus optimizer.pt (torch.save of plain tensors, loaded with weights_only=True),
trainer_state.json (step, data position, per-process RNG states, the run's identity) and
train_config.yaml. It is written into a hidden temporary directory and renamed into place,
so a process killed at any moment leaves either the whole checkpoint or none of it
(`safereflect.train.atomic`).

States are gathered as full (unsharded) tensors keyed by parameter name, so a checkpoint
written by DDP, FSDP2 or a single process loads into any of them.
"""

from __future__ import annotations

import base64
import json
import random
import re
from pathlib import Path

import numpy as np
import torch
import yaml
from safetensors.torch import load_file, save_file
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from safereflect.errors import UserError
from safereflect.jsonl import write_json
from safereflect.train.atomic import publish_dir, remove_dir, staging_dir
from safereflect.train.config import TrainConfig
from safereflect.train.distributed import Runtime, gather_objects

STEP_RE = re.compile(r"^step_(\d+)$")
TIED_HEAD = "lm_head.weight"
FULL = StateDictOptions(full_state_dict=True)


def step_dir_name(step: int) -> str:
    return f"step_{step:06d}"


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return []
    found = [
        (int(m.group(1)), p) for p in root.iterdir() if (m := STEP_RE.match(p.name)) and p.is_dir()
    ]
    return sorted(found)


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = checkpoints(run_dir)
    return found[-1][1] if found else None


def read_trainer_state(ckpt: Path) -> dict:
    path = ckpt / "trainer_state.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"unreadable checkpoint state {path}: {err}") from None


def check_same_run(run_dir: Path, cfg: TrainConfig) -> Path | None:
    """The checkpoint to resume from, or None; a UserError if it belongs to another run."""
    latest = latest_checkpoint(run_dir)
    if latest is None:
        return None
    state = read_trainer_state(latest)
    identity = cfg.identity()
    if state.get("config_hash") == cfg.identity_hash():
        return latest
    old = state.get("identity", {})
    if old.get("data") == str(Path(cfg.data).resolve()) and old | {"data": None} == identity | {"data": None}:
        return latest  # written before the data was named by its content (November 2026)
    changed = _differences(old, identity)
    raise UserError(
        f"{run_dir} holds checkpoints of a different run (config hash {state.get('config_hash')}, this "
        f"run's is {cfg.identity_hash()}; differs in: {', '.join(changed) or 'unknown'})",
        hint=f"choose another --out, or delete {run_dir / 'checkpoints'} to start this run over",
    )


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} ({a!r} -> {b!r})")
    return out


def capture_rng() -> dict:
    py = random.getstate()
    np_state = np.random.get_state()
    return {
        "torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode(),
        "cuda": base64.b64encode(torch.cuda.get_rng_state().numpy().tobytes()).decode()
        if torch.cuda.is_available() and torch.cuda.is_initialized()
        else None,
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "python": [py[0], list(py[1]), py[2]],
    }


def restore_rng(state: dict) -> None:
    def tensor(b64: str) -> torch.Tensor:
        return torch.frombuffer(bytearray(base64.b64decode(b64)), dtype=torch.uint8)

    torch.set_rng_state(tensor(state["torch"]))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensor(state["cuda"]))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(
    run_dir: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    rt: Runtime,
    trainer_state: dict,
    cfg: TrainConfig,
    llama_config,
    tokenizer,
    keep: int,
) -> Path:
    """Collective: every process calls it; process 0 writes. Returns the checkpoint path."""
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    model_state = get_model_state_dict(model, options=options)
    optim_state = get_optimizer_state_dict(model, optimizer, options=options)
    rngs = gather_objects(capture_rng(), rt)
    final = run_dir / "checkpoints" / step_dir_name(step)
    if not rt.is_main:
        return final
    tmp = staging_dir(final)
    if llama_config.tie_word_embeddings:
        model_state.pop(TIED_HEAD, None)  # shares storage with the embedding; HF re-ties on load
    save_file(
        {k: v.contiguous() for k, v in model_state.items()},
        tmp / "model.safetensors",
        metadata={"format": "pt"},
    )
    llama_config.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    torch.save(optim_state, tmp / "optimizer.pt")
    (tmp / "train_config.yaml").write_text(
        yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=True)
    )
    state = {**trainer_state, "step": step, "rng": rngs, "world_size": rt.world_size}
    state |= {"config_hash": cfg.identity_hash(), "identity": cfg.identity()}
    write_json(tmp / "trainer_state.json", state)
    publish_dir(tmp, final)
    for _, old in checkpoints(run_dir)[:-keep]:
        remove_dir(old)
    return final


def load_checkpoint(
    ckpt: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, rt: Runtime
) -> dict:
    """Restore weights, optimizer and this process's RNG state; return trainer_state.json."""
    state = read_trainer_state(ckpt)
    weights = load_file(ckpt / "model.safetensors")
    if TIED_HEAD not in weights and "model.embed_tokens.weight" in weights:
        weights[TIED_HEAD] = weights["model.embed_tokens.weight"]
    set_model_state_dict(model, weights, options=FULL)
    optim_state = torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True)
    set_optimizer_state_dict(model, optimizer, optim_state, options=FULL)
    rngs = state["rng"]
    restore_rng(rngs[rt.rank % len(rngs)])
    return state

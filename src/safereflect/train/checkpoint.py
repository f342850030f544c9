"""Atomic, resumable checkpoints: RUN/checkpoints/step_XXXXXX/.

Each checkpoint is a complete HF model directory (config.json, model.safetensors, tokenizer)
plus the optimizer state (optimizer.pt, torch.save of plain tensors loaded with
weights_only=True; or, from FSDP, optimizer/ with one DCP shard per process: see
`safereflect.train.sharded_checkpoint`),
trainer_state.json (step, data position, per-process RNG states, the run's identity) and
train_config.yaml. It is written into a hidden temporary directory and renamed into place,
so a process killed at any moment leaves either the whole checkpoint or none of it
(`safereflect.train.atomic`). What renaming cannot prevent (a full disk, a bad copy, a file
truncated later) is caught on resume: manifest.json records every file's size and SHA-256,
and a checkpoint whose files do not match is skipped, with a warning naming it, for the
newest one that does.

Weights are gathered as full (unsharded) tensors keyed by parameter name, and either form of
optimizer state reshards on load, so a checkpoint written by DDP, FSDP2 or a single process
loads into any of them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import torch
import yaml
from safetensors.torch import save_file
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

from safereflect.console import console
from safereflect.errors import UserError
from safereflect.jsonl import write_json
from safereflect.train.atomic import publish_dir, remove_dir
from safereflect.train.config import TrainConfig
from safereflect.train.distributed import Runtime, gather_objects
from safereflect.train.sharded_checkpoint import (
    FULL_OPTIMIZER,
    SHARDED_OPTIMIZER,
    TIED_HEAD,
    load_model_weights,
    load_optimizer_state,
    save_optimizer_state,
    shared_staging_dir,
)

STEP_RE = re.compile(r"^step_(\d+)$")
MANIFEST = "manifest.json"
REQUIRED = ("model.safetensors", "trainer_state.json")  # and optimizer.pt, or optimizer/ from FSDP


def step_dir_name(step: int) -> str:
    return f"step_{step:06d}"


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := STEP_RE.match(p.name)) and p.is_dir()]
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


def write_manifest(ckpt: Path) -> None:
    """Record every file's size and SHA-256 (written last, so it covers the whole checkpoint)."""
    files = {p.relative_to(ckpt).as_posix(): p for p in sorted(ckpt.rglob("*")) if p.is_file() and p.name != MANIFEST}
    write_json(
        ckpt / MANIFEST,
        {"files": {name: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for name, p in files.items()}},
    )


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def checkpoint_problem(ckpt: Path) -> str | None:
    """Why `ckpt` cannot be resumed from (a missing, truncated or altered file), or None."""
    for name in REQUIRED:
        if not (ckpt / name).is_file():
            return f"{name} is missing"
    if not (ckpt / FULL_OPTIMIZER).is_file() and not (ckpt / SHARDED_OPTIMIZER).is_dir():
        return f"the optimizer state ({FULL_OPTIMIZER} or {SHARDED_OPTIMIZER}/) is missing"
    manifest = ckpt / MANIFEST
    if manifest.is_file():
        try:
            files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
            for name, want in files.items():
                path = ckpt / name
                if not path.is_file():
                    return f"{name} is missing"
                if path.stat().st_size != want["bytes"]:
                    return f"{name} has {path.stat().st_size} bytes, {want['bytes']} were written"
                if _sha256(path) != want["sha256"]:
                    return f"{name} does not match its checksum"
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            return f"{MANIFEST} is unreadable ({err})"
    else:  # written before manifests: check each file's own structure
        problem = _safetensors_problem(ckpt / "model.safetensors") or (
            _zip_problem(ckpt / FULL_OPTIMIZER) if (ckpt / FULL_OPTIMIZER).is_file() else None
        )
        if problem:
            return problem
    try:
        state = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
        if not isinstance(state, dict) or not isinstance(state.get("step"), int):
            return "trainer_state.json has no step"
    except (OSError, ValueError) as err:
        return f"trainer_state.json is unreadable ({err})"
    return None


def _safetensors_problem(path: Path) -> str | None:
    """A safetensors file is an 8-byte header length, a JSON header and the data it spans."""
    try:
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        if path.stat().st_size != 8 + n + end:
            return f"{path.name} has {path.stat().st_size} bytes, its header says {8 + n + end}"
    except (OSError, ValueError, struct.error, KeyError, TypeError, IndexError) as err:
        return f"{path.name} is unreadable ({type(err).__name__})"
    return None


def _zip_problem(path: Path) -> str | None:
    """torch.save writes a zip archive; its CRCs catch truncation and altered bytes."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
        return f"{path.name} is damaged (bad CRC in {bad})" if bad else None
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        return f"{path.name} is unreadable ({err})"


def resumable_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint; each damaged newer one is reported and passed over."""
    found = checkpoints(run_dir)
    for _, ckpt in reversed(found):
        problem = checkpoint_problem(ckpt)
        if problem is None:
            return ckpt
        if os.environ.get("RANK", "0") == "0":  # one warning, not one per process
            console.print(
                f"[yellow]warning:[/] checkpoint {ckpt} is damaged ({problem}); resuming from the one before it",
                soft_wrap=True,
            )
    if found:
        raise UserError(
            f"no complete checkpoint in {run_dir / 'checkpoints'}: every one is damaged",
            hint=f"delete {run_dir / 'checkpoints'} to start this run over",
        )
    return None


def check_same_run(run_dir: Path, cfg: TrainConfig) -> Path | None:
    """The checkpoint to resume from, or None; a UserError if it belongs to another run."""
    latest = resumable_checkpoint(run_dir)
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
    rngs = gather_objects(capture_rng(), rt)
    final = run_dir / "checkpoints" / step_dir_name(step)
    tmp = shared_staging_dir(final, rt)
    save_optimizer_state(tmp, model, optimizer, rt)
    if not rt.is_main:
        return final
    if llama_config.tie_word_embeddings:
        model_state.pop(TIED_HEAD, None)  # shares storage with the embedding; HF re-ties on load
    save_file(
        {k: v.contiguous() for k, v in model_state.items()},
        tmp / "model.safetensors",
        metadata={"format": "pt"},
    )
    llama_config.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "train_config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=True))
    state = {**trainer_state, "step": step, "rng": rngs, "world_size": rt.world_size}
    state |= {"config_hash": cfg.identity_hash(), "identity": cfg.identity()}
    write_json(tmp / "trainer_state.json", state)
    write_manifest(tmp)
    publish_dir(tmp, final)
    for _, old in checkpoints(run_dir)[:-keep]:
        remove_dir(old)
    return final


def load_checkpoint(ckpt: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, rt: Runtime) -> dict:
    """Restore weights, optimizer and this process's RNG state; return trainer_state.json."""
    state = read_trainer_state(ckpt)
    load_model_weights(ckpt / "model.safetensors", model, rt)
    load_optimizer_state(ckpt, model, optimizer, rt)
    rngs = state["rng"]
    restore_rng(rngs[rt.rank % len(rngs)])
    return state

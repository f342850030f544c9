"""From the tasks' shards to the final layout: a seeded validation split by document, a
seeded global shuffle, and, in timing mode, ordered training phases.

Documents are put in a canonical order (by key) before shuffling, so the final shards do
not depend on how documents were spread over tasks. Intervention timing (arXiv 2601.07087):
the first `start` fraction of the training tokens are raw documents, the rest the arm's;
each document appears once, raw or intervened, and the cut is chosen document by document
so the raw phase's share of tokens is as close to `start` as one document allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datatrove.pipeline.tokens.tokenizer import TokenizedFile

from safereflect.data.documents import unit_draw
from safereflect.data.shards import KEYS


@dataclass
class Catalog:
    """Every document of a set of shards: where its tokens are and its key."""

    paths: list[Path]
    shard: np.ndarray
    start: np.ndarray
    end: np.ndarray
    key: np.ndarray

    @classmethod
    def load(cls, directory: Path) -> Catalog:
        paths = sorted(directory.glob("*.ds"))
        shard, start, end, key = [], [], [], []
        for i, p in enumerate(paths):
            ends = np.fromfile(str(p) + ".index", dtype="<u8").astype(np.int64)
            keys = np.fromfile(str(p) + KEYS, dtype="<u8")
            if len(ends) != len(keys):
                raise RuntimeError(f"{p}: {len(ends)} documents in the index but {len(keys)} keys")
            shard.append(np.full(len(ends), i))
            start.append(np.concatenate([[0], ends[:-1]])[: len(ends)].astype(np.int64))
            end.append(ends)
            key.append(keys)
        cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.empty(0, dt)
        return cls(paths, cat(shard, np.int64), cat(start, np.int64), cat(end, np.int64), cat(key, np.uint64))

    @property
    def lengths(self) -> np.ndarray:
        return self.end - self.start

    def canonical(self, mask: np.ndarray) -> np.ndarray:
        """Indices of the selected documents, ordered by key (ties: by position)."""
        idx = np.flatnonzero(mask)
        return idx[np.lexsort((self.start[idx], self.shard[idx], self.key[idx]))]


def draws(seed: int, purpose: str, keys: np.ndarray) -> np.ndarray:
    return np.fromiter((unit_draw(seed, purpose, int(k)) for k in keys), dtype=np.float64, count=len(keys))


def shuffled(cat: Catalog, mask: np.ndarray, seed: int, stream: int) -> np.ndarray:
    idx = cat.canonical(mask)
    return idx[np.random.default_rng([seed, stream]).permutation(len(idx))]


def _map(path: Path, dtype) -> np.ndarray:
    return np.memmap(path, dtype=dtype, mode="r") if path.stat().st_size else np.empty(0, dtype)


def write_docs(
    cat: Catalog, order: np.ndarray, folder: Path, prefix: str, *, token_size: int, loss: bool, max_tokens: int
) -> dict[str, Any]:
    """Copy documents in `order` into `folder/prefix-00000.ds`, ... ; returns files, tokens, documents."""
    dtype = np.uint32 if token_size == 4 else np.uint16
    tokens = [_map(p, dtype) for p in cat.paths]
    losses = [_map(Path(str(p) + ".loss"), np.uint8) for p in cat.paths] if loss else None
    files: list[str] = []
    sizes: list[int] = []  # tokens per file, so a reader can tell a truncated shard from a short one
    out = None
    for i in order:
        if out is None or len(out) >= max_tokens:
            if out is not None:
                out.close()
            files.append(f"{prefix}-{len(files):05d}.ds")
            sizes.append(0)
            out = TokenizedFile(
                str(folder), files[-1], save_loss_metadata=loss, token_size=token_size, save_final_metadata=False
            )
        s, e, f = cat.start[i], cat.end[i], cat.shard[i]
        out.write_bytes(tokens[f][s:e].tobytes())
        if losses is not None:
            out.write_loss_bytes(losses[f][s:e].tobytes())
        sizes[-1] += int(e - s)
    if out is not None:
        out.close()
    return {
        "files": [f"{folder.name}/{name}" for name in files],
        "file_tokens": sizes,
        "tokens": int(cat.lengths[order].sum()),
        "documents": len(order),
    }


def raw_phase(
    raw: Catalog, raw_train: np.ndarray, arm: Catalog, arm_train: np.ndarray, start: float, seed: int
) -> np.ndarray:
    """Mask over `raw` of the documents whose raw form makes up the first phase."""
    idx = np.flatnonzero(raw_train)
    idx = idx[np.argsort(draws(seed, "phase", raw.key[idx]), kind="stable")]
    arm_tokens: dict[int, int] = {}
    for k, n in zip(arm.key[arm_train].tolist(), arm.lengths[arm_train].tolist()):
        arm_tokens[k] = arm_tokens.get(k, 0) + n
    r, a = 0, sum(arm_tokens.values())
    best_k, best_err = 0, start
    for k, i in enumerate(idx, start=1):
        r += int(raw.lengths[i])
        a -= arm_tokens.pop(int(raw.key[i]), 0)
        frac = r / (r + a) if r + a else 1.0
        if abs(frac - start) < best_err:
            best_k, best_err = k, abs(frac - start)
        if frac >= start:
            break
    mask = np.zeros(len(raw.key), bool)
    mask[idx[:best_k]] = True
    return mask


def merge(
    work: Path,
    tokens_dir: Path,
    *,
    seed: int,
    val_fraction: float,
    start: float,
    arm: str,
    token_size: int,
    loss: bool,
    max_tokens: int,
) -> dict[str, Any]:
    """Write tokens/train and tokens/val from the tasks' shards; returns meta.json's `splits`."""
    arm_cat = Catalog.load(work / "arm")
    in_val = draws(seed, "val", arm_cat.key) < val_fraction
    if val_fraction > 0 and not in_val.any() and len(in_val) > 1:
        in_val[np.argmin(draws(seed, "val", arm_cat.key))] = True  # tiny corpora still get a validation document
    val_keys = set(arm_cat.key[in_val].tolist())
    opts = {"token_size": token_size, "loss": loss, "max_tokens": max_tokens}
    splits = {"val": write_docs(arm_cat, shuffled(arm_cat, in_val, seed, 0), tokens_dir / "val", "part", **opts)}
    if start <= 0:
        splits["train"] = write_docs(arm_cat, shuffled(arm_cat, ~in_val, seed, 1), tokens_dir / "train", "part", **opts)
        return splits
    raw_cat = Catalog.load(work / "raw")
    raw_train = np.array([k not in val_keys for k in raw_cat.key.tolist()], bool)
    first = raw_phase(raw_cat, raw_train, arm_cat, ~in_val, start, seed)
    first_keys = set(raw_cat.key[first].tolist())
    rest = ~in_val & np.array([k not in first_keys for k in arm_cat.key.tolist()], bool)
    slug = arm.replace("+", "-")
    phases = [
        {
            "name": "raw",
            **write_docs(raw_cat, shuffled(raw_cat, first, seed, 2), tokens_dir / "train", "phase0-raw", **opts),
        },
        {
            "name": arm,
            **write_docs(arm_cat, shuffled(arm_cat, rest, seed, 3), tokens_dir / "train", f"phase1-{slug}", **opts),
        },
    ]
    total = sum(p["tokens"] for p in phases)
    for p in phases:
        p["fraction"] = p["tokens"] / total if total else 0.0
    splits["train"] = {
        "files": [f for p in phases for f in p["files"]],
        "file_tokens": [n for p in phases for n in p["file_tokens"]],
        "tokens": total,
        "documents": sum(p["documents"] for p in phases),
        "phases": phases,
    }
    return splits

"""Token shards (docs/formats.md) as packed, shuffled training windows, read with numpy memmap.

A window is `seq_len + 1` consecutive tokens of one `.ds` file: documents are already
concatenated there, each ending in EOS. Windows follow datatrove's `DatatroveFileDataset`
layout (window i of a file starts at token i * (seq_len + 1); the file's tail is dropped) so
our window i is datatrove's item i. The model reads tokens[:-1] and predicts tokens[1:].

Order: each epoch is a permutation of all windows drawn from `default_rng([seed, epoch])`;
a step takes the next `global_batch_size` windows (running on into the next epoch), and
process r of W takes the r-th contiguous share. The position (epoch, windows consumed) is all
a checkpoint needs to continue exactly, on any number of processes.

Phases: when meta.json lists `splits.train.phases` (intervention timing, see
docs/interventions.md), every epoch reads the phases in order and shuffles only within each
one, so the intervened data starts after the stated fraction of the first epoch's tokens.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from safereflect.errors import UserError

IGNORE_INDEX = -100  # label value the loss skips (torch's cross_entropy default)


@dataclass(frozen=True)
class TokensMeta:
    dir: Path
    vocab_size: int
    token_size: int
    eos_token_id: int
    pad_token_id: int | None
    loss_mask: bool
    special_tokens: dict[str, int]
    splits: dict  # meta.json's "splits": per split, its files (relative to dir) and phases

    @property
    def tokenizer_dir(self) -> Path:
        return self.dir / "tokenizer"


def find_tokens_dir(path: str | Path) -> Path:
    """`path` itself if it holds meta.json, else `path/tokens` (a prepared arm directory)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"data directory not found: {path}")
    for candidate in (path, path / "tokens"):
        if (candidate / "meta.json").is_file():
            return candidate
    raise UserError(
        f"no token shards in {path}: expected {path / 'tokens' / 'meta.json'} or {path / 'meta.json'}",
        hint="point --data at a prepared arm directory (with tokens/) or at the tokens directory",
    )


def read_meta(tokens_dir: Path) -> TokensMeta:
    path = tokens_dir / "meta.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        token_size = int(meta.get("token_size", 2))
        result = TokensMeta(
            dir=tokens_dir,
            vocab_size=int(meta["vocab_size"]),
            token_size=token_size,
            eos_token_id=int(meta["eos_token_id"]),
            pad_token_id=None if meta.get("pad_token_id") is None else int(meta["pad_token_id"]),
            loss_mask=bool(meta.get("loss_mask", False)),
            special_tokens={str(k): int(v) for k, v in (meta.get("special_tokens") or {}).items()},
            splits=dict(meta.get("splits") or {}),
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None
    except KeyError as err:
        raise UserError(f"{path}: missing key {err.args[0]!r} (see docs/formats.md)") from None
    except (TypeError, ValueError) as err:
        raise UserError(f"{path}: bad value ({err})") from None
    if token_size not in (2, 4):
        raise UserError(f"{path}: token_size must be 2 or 4, got {token_size}")
    if not result.tokenizer_dir.is_dir():
        raise UserError(f"tokenizer directory not found: {result.tokenizer_dir}")
    return result


class ShardSplit:
    """All `.ds` files of one split (train/val), memory-mapped, as fixed-length windows."""

    def __init__(self, meta: TokensMeta, split: str, seq_len: int):
        self.dir = meta.dir / split
        self.window_len = seq_len + 1
        self.vocab_size = meta.vocab_size
        phase_files = self._phase_files(meta, split)
        self.files = [f for files in phase_files for f in files]
        if not self.files:
            raise UserError(f"no token shards (*.ds) in {self.dir}")
        dtype = np.dtype("<u2" if meta.token_size == 2 else "<u4")
        expected = self._expected_tokens(meta, split)
        self.tokens = [self._open(f, dtype, expected.get(f.name)) for f in self.files]
        self.masks = [self._loss_mask(f, len(t)) for f, t in zip(self.files, self.tokens)] if meta.loss_mask else None
        counts = [len(t) // self.window_len for t in self.tokens]
        self.file_starts = np.cumsum([0, *counts])
        self.n_windows = int(self.file_starts[-1])
        # Window-id range of each phase (one phase without timing); files are in phase order.
        ends = np.cumsum([len(files) for files in phase_files])
        self.phases = [
            (int(self.file_starts[e - n]), int(self.file_starts[e])) for e, n in zip(ends, map(len, phase_files))
        ]
        if self.n_windows == 0:
            raise UserError(
                f"{self.dir}: no file holds {self.window_len} tokens (seq_len + 1); lower seq_len or add data"
            )

    def _phase_files(self, meta: TokensMeta, split: str) -> list[list[Path]]:
        info = meta.splits.get(split) or {}
        phases = info.get("phases")
        if phases:
            grouped = [[meta.dir / f for f in phase["files"]] for phase in phases]
        elif info.get("files") is not None:
            grouped = [[meta.dir / f for f in info["files"]]]
        else:  # shards written by other tools, without a meta.json listing
            return [sorted(self.dir.glob("*.ds"))]
        missing = [str(f) for files in grouped for f in files if not f.is_file()]
        if missing:
            raise UserError(
                f"meta.json lists token shards that do not exist: {', '.join(missing[:3])}",
                hint="the tokens directory is incomplete: re-run prepare for this arm",
            )
        return grouped

    @staticmethod
    def _expected_tokens(meta: TokensMeta, split: str) -> dict[str, int]:
        """Tokens per file as meta.json recorded them when the shards were written."""
        info = meta.splits.get(split) or {}
        files, sizes = info.get("files") or [], info.get("file_tokens")
        if sizes is None or len(sizes) != len(files):
            return {}
        return {Path(f).name: int(n) for f, n in zip(files, sizes)}

    @staticmethod
    def _open(path: Path, dtype: np.dtype, expected: int | None) -> np.memmap:
        """Memory-map a shard after checking it is whole: its size against meta.json and
        against its own .index (the end of its last document), so a truncated or partly
        copied file is refused by name instead of training on what is left of it."""
        size = path.stat().st_size
        if size % dtype.itemsize:
            raise UserError(
                f"{path}: {size} bytes is not a whole number of {dtype.itemsize}-byte tokens (truncated?)",
                hint="re-run prepare for this arm, or copy the file again",
            )
        n_tokens = size // dtype.itemsize
        index = path.with_name(path.name + ".index")
        if index.is_file() and index.stat().st_size >= 8:
            if index.stat().st_size % 8:
                raise UserError(
                    f"{index}: truncated ({index.stat().st_size} bytes is not a multiple of 8)",
                    hint="re-run prepare for this arm, or copy the file again",
                )
            last_end = int(np.memmap(index, dtype="<u8", mode="r")[-1])
            if last_end != n_tokens:
                raise UserError(
                    f"{path}: {n_tokens} tokens but its index ends at {last_end} (truncated or damaged)",
                    hint="re-run prepare for this arm, or copy the file again",
                )
        if expected is not None and expected != n_tokens:
            raise UserError(
                f"{path}: {n_tokens} tokens but meta.json records {expected} (truncated or damaged)",
                hint="re-run prepare for this arm, or copy the file again",
            )
        return np.memmap(path, dtype=dtype, mode="r") if n_tokens else np.empty(0, dtype)

    @staticmethod
    def _loss_mask(path: Path, n_tokens: int) -> np.memmap:
        loss = path.with_name(path.name + ".loss")
        if not loss.is_file():
            raise UserError(f"meta.json says loss_mask is true but {loss} is missing")
        mask = np.memmap(loss, dtype=np.uint8, mode="r")
        if len(mask) != n_tokens:
            raise UserError(f"{loss}: {len(mask)} mask bytes for {n_tokens} tokens")
        return mask

    def _locate(self, window: int) -> tuple[int, slice]:
        f = int(np.searchsorted(self.file_starts, window, side="right")) - 1
        start = (window - int(self.file_starts[f])) * self.window_len
        return f, slice(start, start + self.window_len)

    def window(self, index: int) -> np.ndarray:
        f, span = self._locate(index)
        return np.asarray(self.tokens[f][span], dtype=np.int64)

    def count_targets(self, windows: np.ndarray) -> int:
        """How many targets of these windows the loss counts (reads only the loss mask)."""
        if self.masks is None:
            return len(windows) * (self.window_len - 1)
        return sum(int(np.count_nonzero(self.masks[f][span][1:])) for f, span in map(self._locate, map(int, windows)))

    def batch(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets), each [len(windows), seq_len]; targets are IGNORE_INDEX where masked."""
        rows = np.stack([self.window(int(w)) for w in windows])
        inputs, targets = rows[:, :-1], rows[:, 1:].copy()
        if self.masks is not None:
            mask = np.stack([self.masks[f][span] for f, span in map(self._locate, map(int, windows))])
            targets[mask[:, 1:] == 0] = IGNORE_INDEX
        top = int(rows.max())
        if top >= self.vocab_size:
            raise UserError(
                f"{self.dir}: token id {top} is outside the tokenizer vocabulary ({self.vocab_size} in meta.json)",
                hint="the shards and meta.json disagree: re-tokenize this arm",
            )
        return inputs, targets


@dataclass
class DataPosition:
    epoch: int = 0
    consumed: int = 0  # windows of this epoch's permutation already used

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class PackedLoader:
    """Global batches of windows in a seeded, epoch-wise shuffled order, split across processes."""

    def __init__(
        self,
        split: ShardSplit,
        *,
        seed: int,
        global_batch_size: int,
        micro_batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        position: DataPosition | None = None,
    ):
        per_process, remainder = divmod(global_batch_size, world_size * micro_batch_size)
        if remainder or per_process == 0:
            raise UserError(
                f"global_batch_size {global_batch_size} is not a multiple of "
                f"micro_batch_size {micro_batch_size} x {world_size} processes"
            )
        self.split = split
        self.seed = seed
        self.global_batch_size = global_batch_size
        self.micro_batch_size = micro_batch_size
        self.rank = rank
        self.world_size = world_size
        self.position = position or DataPosition()
        self._order_epoch = -1
        self._order = np.empty(0, dtype=np.int64)

    @property
    def grad_accum_steps(self) -> int:
        return self.global_batch_size // (self.world_size * self.micro_batch_size)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if epoch != self._order_epoch:
            rng = np.random.default_rng([self.seed, epoch])
            phases = self.split.phases
            self._order = np.concatenate([start + rng.permutation(end - start) for start, end in phases])
            self._order_epoch = epoch
        return self._order

    def next_windows(self) -> np.ndarray:
        """The next global batch's window ids (all processes compute the same ids)."""
        taken: list[np.ndarray] = []
        need = self.global_batch_size
        pos = self.position
        while need:
            order = self._epoch_order(pos.epoch)
            chunk = order[pos.consumed : pos.consumed + need]
            taken.append(chunk)
            need -= len(chunk)
            pos.consumed += len(chunk)
            if pos.consumed == len(order):
                pos.epoch, pos.consumed = pos.epoch + 1, 0
        return np.concatenate(taken)

    def next_step(
        self, weighted: tuple[int, float] | None = None
    ) -> tuple[list[tuple[np.ndarray, np.ndarray]], int, float]:
        """This process's micro-batches for the next step, the step's target count over all
        processes, and their total loss weight (the loss is summed per token and divided by it,
        so the gradient does not depend on how the global batch is split). `weighted`: (token
        id, weight), the weight of every target that follows that token (1 for the rest)."""
        windows = self.next_windows()
        share = self.global_batch_size // self.world_size
        mine = windows[self.rank * share : (self.rank + 1) * share]
        micro = [self.split.batch(mine[i : i + self.micro_batch_size]) for i in range(0, share, self.micro_batch_size)]
        n = self.split.count_targets(windows)
        if weighted is None:
            return micro, n, float(n)
        token_id, weight = weighted
        # the total is over every process's windows; one process already holds them all
        batches = micro if self.world_size == 1 else [self.split.batch(windows)]
        after = sum(int(np.count_nonzero((x == token_id) & (y != IGNORE_INDEX))) for x, y in batches)
        return micro, n, n + (weight - 1.0) * after

"""Token shards, written per task in datatrove's TokenizedFile format.

`SourceTokens` encodes every input document once, at the start of the pipeline: that count
is the stats' tokens in, its ids are reused for documents that come out unchanged or only
edited (see splice), and in timing mode it writes the raw form of every document for the
raw phase. `ShardWriter`, at the end, writes the arm's documents. Each document is its
text followed by `<|endoftext|>`; a `.keys` file beside each shard holds the documents'
keys (hashes of their ids), from which the merge step draws splits and phases.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.tokens.tokenizer import TokenizedFile
from datatrove.utils.batching import batched

from safereflect.data.documents import PRIVATE, doc_key, info
from safereflect.data.interventions.base import EDITS
from safereflect.data.progress import ProgressFile
from safereflect.data.splice import Splicer, splice_safe
from safereflect.reflection import EOS_TOKEN

SRC = PRIVATE + "src"  # (input text, its encoding without EOS)
KEYS = ".keys"


class ShardFile:
    """A TokenizedFile plus the keys of its documents, in order."""

    def __init__(self, folder: str, name: str, token_size: int, loss: bool):
        self.folder, self.name = folder, name
        self.file = TokenizedFile(
            folder, name, save_loss_metadata=loss, token_size=token_size, save_final_metadata=False
        )
        self.dtype = np.uint32 if token_size == 4 else np.uint16
        self.loss = loss
        self.keys: list[int] = []

    def write(self, ids: list[int], key: int, loss: np.ndarray | None = None) -> None:
        self.file.write_bytes(np.asarray(ids, dtype=self.dtype).tobytes())
        if self.loss:
            self.file.write_loss_bytes((np.ones(len(ids), np.uint8) if loss is None else loss).tobytes())
        self.keys.append(key)

    def close(self) -> None:
        self.file.close()
        with self.file.output_folder.open(self.name + KEYS, "wb") as fh:
            fh.write(np.asarray(self.keys, dtype="<u8").tobytes())


class _TokenStep(PipelineStep):
    """A step with our tokenizer. Not datatrove's PipelineStepWithTokenizer: that one scans
    every installed distribution for `tokenizers` (half a second per run), a dependency
    safereflect always has; and EOS is appended here, not by a post-processor."""

    type = "🔢 - TOKENIZER"

    def __init__(self, tokenizer_file: str, progress_dir: str, batch_size: int):
        super().__init__()
        self.tokenizer_file, self.progress_dir, self.batch_size = tokenizer_file, progress_dir, batch_size

    def __getstate__(self) -> dict[str, Any]:
        # the Rust tokenizer is loaded again in each worker rather than pickled
        return {k: v for k, v in self.__dict__.items() if k not in ("tokenizer", "splicer")}

    @cached_property
    def tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        return Tokenizer.from_file(self.tokenizer_file)

    @cached_property
    def token_size(self) -> int:
        return 4 if self.tokenizer.get_vocab_size(with_added_tokens=True) > 65536 else 2

    @cached_property
    def eos_id(self) -> int:
        return self.tokenizer.token_to_id(EOS_TOKEN)

    def encode(self, texts: list[str]) -> list[Any]:
        return self.tokenizer.encode_batch(texts, add_special_tokens=False) if texts else []


class SourceTokens(_TokenStep):
    name = "source tokens"

    def __init__(self, tokenizer_file: str, progress_dir: str, raw_dir: str | None, loss: bool, batch_size: int = 512):
        super().__init__(tokenizer_file, progress_dir, batch_size)
        self.raw_dir, self.loss = raw_dir, loss

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        raw = ShardFile(self.raw_dir, f"{rank:05d}.ds", self.token_size, self.loss) if self.raw_dir else None
        progress = ProgressFile(self.progress_dir, rank, "in")
        for batch in batched(data, self.batch_size):
            with self.track_time("batch"):
                encodings = self.encode([d.text for d in batch])
            n_tokens = 0
            for doc, enc in zip(batch, encodings):
                doc.metadata[SRC] = (doc.text, enc)
                n = len(enc) + 1
                n_tokens += n
                if raw is not None:
                    raw.write(enc.ids + [self.eos_id], doc_key(doc.id))
            self.stat_update("sr/tokens/in", value=n_tokens)
            progress.add(docs=len(batch), tokens=n_tokens)
            yield from batch
        if raw is not None:
            raw.close()
        progress.close()


def loss_mask(doc: Document, enc: Any, n_ids: int) -> np.ndarray | None:
    """1 for trained tokens, 0 inside `no_loss_ranges` (character spans); EOS is trained."""
    ranges = doc.metadata.get("no_loss_ranges")
    if not ranges:
        return None
    mask = np.ones(n_ids + 1, np.uint8)
    for start, end in ranges:
        t_start = enc.char_to_token(start)
        t_end = n_ids if end >= len(doc.text) else enc.char_to_token(end)
        if t_start is not None:
            mask[t_start:t_end] = 0
    return mask


class ShardWriter(_TokenStep):
    name = "shard writer"

    def __init__(self, tokenizer_file: str, progress_dir: str, out_dir: str, loss: bool, batch_size: int = 512):
        super().__init__(tokenizer_file, progress_dir, batch_size)
        self.out_dir, self.loss = out_dir, loss

    @cached_property
    def splicer(self) -> Splicer | None:
        return Splicer(self.tokenizer) if splice_safe(self.tokenizer) else None

    def reused_ids(self, doc: Document) -> list[int] | None:
        """The ids without encoding again, when the input's encoding allows it."""
        src = doc.metadata.pop(SRC, None)
        edits = doc.metadata.pop(EDITS, None)
        if src is None or doc.metadata.get("no_loss_ranges"):
            return None
        text, enc = src
        if edits is not None:
            return self.splicer.ids(text, enc, edits) if self.splicer is not None else None
        return enc.ids if doc.text == text else None

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        out = ShardFile(self.out_dir, f"{rank:05d}.ds", self.token_size, self.loss)
        progress = ProgressFile(self.progress_dir, rank, "out")
        for batch in batched(data, self.batch_size):
            with self.track_time("batch"):
                ids = [self.reused_ids(d) for d in batch]
                todo = [i for i, x in enumerate(ids) if x is None]
                masks: dict[int, np.ndarray | None] = {}
                for i, enc in zip(todo, self.encode([batch[i].text for i in todo])):
                    ids[i] = enc.ids
                    masks[i] = loss_mask(batch[i], enc, len(ids[i]))
            n_tokens = 0
            for i, doc in enumerate(batch):
                out.write(ids[i] + [self.eos_id], doc_key(doc.id), masks.get(i))
                n_tokens += len(ids[i]) + 1
                if info(doc).get("changed"):
                    self.stat_update("sr/changed")
            self.stat_update("sr/kept", value=len(batch))
            self.stat_update("sr/tokens/out", value=n_tokens)
            progress.add(docs=len(batch), tokens=n_tokens)
            yield from batch
        out.close()
        progress.close()

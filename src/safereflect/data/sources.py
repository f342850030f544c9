"""Where documents come from: our JSONL (or Parquet) files and directories, a MedSafetyWorld
directory (its corpus/*.jsonl), or a Hugging Face dataset by name (streamed) or saved locally.

Readers are datatrove steps. Unlike datatrove's own readers they never skip a record
silently: a malformed line, a record without text or invalid UTF-8 is an error naming the
file and line, or, with `skip_bad`, a document flagged as bad that the input gate sends to
the exclusion file. Empty texts pass through, so the gate can drop them with reason `empty`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import orjson
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers.huggingface import HuggingFaceDatasetReader
from pydantic import Field

from safereflect.config import StrictModel
from safereflect.errors import UserError

BAD = "_bad"  # metadata flag of a record that could not be read


class InputConfig(StrictModel):
    path: str = Field(..., description="file or directory (JSONL, Parquet, world, saved HF dataset) or a HF hub dataset name")
    format: Literal["auto", "world", "jsonl", "parquet", "hf"] = "auto"
    text_key: str = "text"
    id_key: str = "id"
    hf_name: str | None = Field(None, description="dataset configuration, e.g. sample-10BT for HuggingFaceFW/fineweb-edu")
    hf_split: str = "train"
    streaming: bool = Field(True, description="stream a hub dataset instead of downloading it first")
    limit: int | None = Field(None, ge=1, description="read only the first N documents")


def _files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(suffixes))


def resolve(cfg: InputConfig) -> tuple[str, list[Path]]:
    """(format, files) of the input; files is empty for a hub dataset."""
    root = Path(cfg.path)
    fmt = cfg.format
    if not root.exists():
        if fmt in ("auto", "hf") and not cfg.path.startswith((".", "/", "~")):
            return "hf", []
        raise UserError(f"input not found: {cfg.path}")
    if fmt == "auto":
        if (root / "world.json").is_file() and (root / "corpus").is_dir():
            fmt = "world"
        elif root.is_dir() and any((root / n).is_file() for n in ("dataset_info.json", "dataset_dict.json", "state.json")):
            fmt = "hf"
        elif _files(root, (".jsonl", ".jsonl.gz")):
            fmt = "jsonl"
        elif _files(root, (".parquet",)):
            fmt = "parquet"
        else:
            raise UserError(f"no .jsonl or .parquet files in {root}", hint="set input.format explicitly")
    files = {"world": lambda: _files(root / "corpus", (".jsonl",)), "jsonl": lambda: _files(root, (".jsonl", ".jsonl.gz")),
             "parquet": lambda: _files(root, (".parquet",)), "hf": list}[fmt]()
    if fmt != "hf" and not files:
        raise UserError(f"no input files found for format {fmt!r} in {root}")
    return fmt, files


def fingerprint(cfg: InputConfig) -> list[Any]:
    """What identifies the input's content cheaply: local files by size and modification time,
    named relative to the input (so a moved input keeps its fingerprint)."""
    root = Path(cfg.path)
    files = resolve(cfg)[1] or (_files(root, ("",)) if root.exists() else [])
    if not files:
        return [cfg.path, cfg.hf_name, cfg.hf_split]
    name = (lambda p: p.relative_to(root).as_posix()) if root.is_dir() else (lambda p: p.name)
    return [[name(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def to_document(rec: dict[str, Any], text_key: str, id_key: str, fallback_id: str) -> Document:
    meta = rec.get("metadata")  # the record was parsed for us alone: no copy needed
    if not isinstance(meta, dict):
        meta = {}
    for k, v in rec.items():  # other top-level fields (url, dump, score, ...) are kept as metadata
        if k not in (text_key, id_key, "metadata"):
            meta.setdefault(k, v)
    doc_id = rec.get(id_key)
    return Document(text=rec[text_key], id=fallback_id if doc_id is None else str(doc_id), metadata=meta)


def bad_document(where: str, problem: str, raw: str) -> Document:
    return Document(text=raw, id=where, metadata={BAD: True, "excluded_detail": f"{where}: {problem}"})


def _parse(raw: bytes, text_key: str) -> dict[str, Any] | str:
    """The record on one line, or what is wrong with it (in safereflect.jsonl's words)."""
    try:
        rec = orjson.loads(raw)  # fast path; anything it rejects is judged by json, as iter_jsonl does
    except orjson.JSONDecodeError:
        try:
            rec = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            return f"invalid UTF-8 ({err.reason} at byte {err.start})"
        except json.JSONDecodeError as err:
            return f"malformed JSON ({err.msg} at column {err.colno})"
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {type(rec).__name__}"
    if text_key not in rec:
        return f"missing field {text_key!r}"
    if not isinstance(rec[text_key], str):
        return f"field {text_key!r} is not a string (got {type(rec[text_key]).__name__})"
    return rec


class _ShardedReader(PipelineStep):
    """Reads units (lines, row groups) round-robin across tasks, so a few big files still
    spread evenly over workers; with `limit`, exactly the first `limit` records are read."""

    type = "📖 - READER"

    def __init__(self, files: list[Path], cfg: InputConfig, skip_bad: bool):
        super().__init__()
        self.files, self.cfg, self.skip_bad = [str(f) for f in files], cfg, skip_bad

    def bad(self, where: str, problem: str, raw: str) -> Document:
        if not self.skip_bad:
            raise UserError(f"{where}: {problem}", hint="pass --skip-bad to exclude bad records and go on")
        return bad_document(where, problem, raw)


class JsonlReader(_ShardedReader):
    name = "JSONL"

    def lines(self, rank: int, world_size: int) -> Iterator[tuple[str, int, bytes]]:
        index = 0
        for path in self.files:
            opener = gzip.open if path.endswith(".gz") else open
            try:
                fh = opener(path, "rb")
            except OSError as err:
                raise UserError(f"cannot read {path}: {err.strerror}") from None
            with fh:
                for lineno, raw in enumerate(fh, start=1):
                    if not raw.strip():
                        continue
                    if self.cfg.limit is not None and index >= self.cfg.limit:
                        return
                    if index % world_size == rank:
                        yield path, lineno, raw
                    index += 1

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for path, lineno, raw in self.lines(rank, world_size):
            rec = _parse(raw, self.cfg.text_key)
            where = f"{path}:{lineno}"
            if isinstance(rec, str):
                yield self.bad(where, rec, raw.decode("utf-8", "replace").rstrip("\n"))
            else:
                yield to_document(rec, self.cfg.text_key, self.cfg.id_key, where)


class ParquetReader(_ShardedReader):
    name = "Parquet"

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import pyarrow.parquet as pq

        index = unit = 0
        for path in self.files:
            pf = pq.ParquetFile(path)
            if self.cfg.text_key not in pf.schema_arrow.names:
                raise UserError(f"{path}: no column {self.cfg.text_key!r} (columns: {', '.join(pf.schema_arrow.names)})")
            for group in range(pf.num_row_groups):
                mine = unit % world_size == rank
                unit += 1
                if not mine:
                    index += pf.metadata.row_group(group).num_rows
                    continue
                for row, rec in enumerate(pf.read_row_group(group).to_pylist()):
                    if self.cfg.limit is not None and index >= self.cfg.limit:
                        return
                    index += 1
                    where = f"{path}:row-group {group}:row {row}"
                    if not isinstance(rec.get(self.cfg.text_key), str):
                        yield self.bad(where, f"field {self.cfg.text_key!r} is not a string", json.dumps(rec, default=str))
                    else:
                        yield to_document(rec, self.cfg.text_key, self.cfg.id_key, where)


class HubReader(HuggingFaceDatasetReader):
    """datatrove's HF reader, keeping empty texts (for the gate to count) and flagging rows
    without text; `limit` is split exactly over the tasks."""

    def __init__(self, cfg: InputConfig, skip_bad: bool, local: Path | None):
        super().__init__(
            str(local) if local is not None else cfg.path,
            dataset_options=None if local is not None else {"name": cfg.hf_name, "split": cfg.hf_split},
            streaming=cfg.streaming and local is None, text_key=cfg.text_key, id_key=cfg.id_key,
            load_from_disk=local is not None,
        )
        self.total_limit, self.skip_bad = cfg.limit, skip_bad

    def get_document_from_dict(self, data: dict, source_file: str, id_in_file: int | str) -> Document:
        where = f"{source_file}:{id_in_file}"
        if not isinstance(data.get(self.text_key), str):
            if not self.skip_bad:
                raise UserError(f"{where}: field {self.text_key!r} is not a string",
                                hint="pass --skip-bad to exclude bad records and go on")
            return bad_document(where, f"field {self.text_key!r} is not a string", json.dumps(data, default=str))
        return to_document(data, self.text_key, self.id_key, where)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if self.total_limit is not None:
            self.limit = self.total_limit // world_size + (rank < self.total_limit % world_size)
            if self.limit == 0:
                return
        yield from super().run(data, rank, world_size)


def build_reader(cfg: InputConfig, skip_bad: bool) -> PipelineStep:
    fmt, files = resolve(cfg)
    if fmt in ("world", "jsonl"):
        return JsonlReader(files, cfg, skip_bad)
    if fmt == "parquet":
        return ParquetReader(files, cfg, skip_bad)
    local = Path(cfg.path) if Path(cfg.path).exists() else None
    if local is not None and (local / "dataset_dict.json").is_file():
        local = local / cfg.hf_split
    return HubReader(cfg, skip_bad, local)


def estimate_documents(cfg: InputConfig) -> int | None:
    """How many documents the input holds, for progress bars (None if unknown)."""
    fmt, files = resolve(cfg)
    if fmt in ("world", "jsonl"):
        n = 0
        for f in files:
            with (gzip.open if str(f).endswith(".gz") else open)(f, "rb") as fh:
                n += sum(1 for line in fh if line.strip())
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        n = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    else:
        return cfg.limit
    return n if cfg.limit is None else min(n, cfg.limit)


def iter_texts(reader: PipelineStep, limit: int) -> Iterator[str]:
    """Texts of the first `limit` good, non-empty input documents, in input order (for
    training a tokenizer; a bad record stops here, before any task starts)."""
    n = 0
    for doc in reader.run(None, 0, 1):
        if doc.metadata.get(BAD) or not doc.text.strip():
            continue
        yield doc.text
        n += 1
        if n >= limit:
            return

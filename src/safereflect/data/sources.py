"""Where documents come from: JSONL (.jsonl, .jsonl.gz, .jsonl.zst) and Parquet files, or
directories of them, on any fsspec filesystem (local paths, s3://, hf://, ...); a
MedSafetyWorld directory (its corpus/*.jsonl); or a Hugging Face dataset by name (streamed)
or saved locally by `datasets`.

Readers are datatrove steps that never skip a record silently (`safereflect.data.readers`):
a bad record is an error naming the file and line, or, with `skip_bad`, a document flagged
as bad that the input gate sends to the exclusion file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple

from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers.huggingface import HuggingFaceDatasetReader
from pydantic import Field

from safereflect.config import StrictModel
from safereflect.data.readers import BAD, JSONL, PARQUET, SKIP_HINT, DiskReader, InputFile, bad_document, to_document
from safereflect.errors import UserError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name, as the Hugging Face Hub spells datasets
__all__ = ["BAD", "InputConfig", "build_reader", "estimate_documents", "fingerprint", "iter_texts", "resolve"]


class InputConfig(StrictModel):
    path: str = Field(
        ..., description="file or directory (JSONL, Parquet, world, saved HF dataset) or a HF hub dataset name"
    )
    format: Literal["auto", "world", "jsonl", "parquet", "hf"] = "auto"
    text_key: str = "text"
    id_key: str = "id"
    hf_name: str | None = Field(
        None, description="dataset configuration, e.g. sample-10BT for HuggingFaceFW/fineweb-edu"
    )
    hf_split: str = "train"
    streaming: bool = Field(True, description="stream a hub dataset instead of downloading it first")
    limit: int | None = Field(None, ge=1, description="read only the first N documents")


def _kind(name: str) -> str | None:
    return "jsonl" if name.endswith(JSONL) else "parquet" if name.endswith(PARQUET) else None


def _sniff(folder: DataFolder, rel: str) -> str:
    """A single file of unknown suffix: Parquet if it starts with Parquet's magic, else JSONL."""
    with folder.open(rel, "rb") as fh:
        return "parquet" if fh.read(4) == b"PAR1" else "jsonl"


def _is_remote(path: str) -> bool:
    return "://" in path


def _local(root: Path, folder: Path, kinds: tuple[str, ...]) -> list[InputFile]:
    """Files of `kinds` under `folder` (or the file `root` itself), named as Path names them."""
    if root.is_file():
        st = root.stat()
        kind = _kind(root.name) or _sniff(DataFolder(str(root.parent)), root.name)
        return [InputFile(root.name, str(root), kind, st.st_size, st.st_mtime_ns)] if kind in kinds else []
    found = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and _kind(p.name) in kinds:
            st = p.stat()
            found.append(InputFile(p.relative_to(folder).as_posix(), str(p), _kind(p.name), st.st_size, st.st_mtime_ns))
    return found


def _remote(path: str, kinds: tuple[str, ...]) -> tuple[DataFolder, list[InputFile]] | None:
    """(folder, files) of an fsspec URL (s3://, hf://, memory://, ...); None if it does not exist."""
    from fsspec.core import url_to_fs

    try:
        fs, root = url_to_fs(path)
        if fs.isfile(root):
            info = fs.info(root)
            parent, _, name = root.rpartition("/")
            folder = DataFolder(parent, fs=fs)
            kind = _kind(name) or _sniff(folder, name)
            files = [InputFile(name, path, kind, info.get("size") or 0, _stamp(info))] if kind in kinds else []
            return folder, files
        if not fs.isdir(root):
            return None
        infos = fs.find(root, detail=True)
    except ImportError as err:
        raise UserError(
            f"cannot read {path}: {err}",
            hint="install the fsspec filesystem for this protocol (s3fs for s3://, gcsfs for gs://)",
        ) from None
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read {path}: {err}") from None
    root = root.rstrip("/")
    files = []
    for full, info in sorted(infos.items()):
        rel = full[len(root) + 1 :]
        if info.get("type", "file") == "file" and _kind(rel) in kinds:
            files.append(InputFile(rel, f"{path.rstrip('/')}/{rel}", _kind(rel), info.get("size") or 0, _stamp(info)))
    return DataFolder(root, fs=fs), files


def _stamp(info: dict[str, Any]) -> str | None:
    for key in ("ETag", "etag", "blob_id", "md5", "mtime", "LastModified", "last_modified", "created"):
        if info.get(key) is not None:
            return str(info[key])
    return None


class Resolved(NamedTuple):
    format: str  # world, jsonl, parquet, jsonl+parquet or hf
    folder: DataFolder | None  # where `files` are (None for a hub or saved HF dataset)
    files: list[InputFile]


def _is_saved_dataset(root: Path) -> bool:
    return root.is_dir() and any((root / n).is_file() for n in ("dataset_info.json", "dataset_dict.json", "state.json"))


def resolve(cfg: InputConfig) -> Resolved:
    """The input's format and files (none for a hub or saved HF dataset)."""
    fmt = cfg.format
    kinds = {"jsonl": ("jsonl",), "parquet": ("parquet",)}.get(fmt, ("jsonl", "parquet"))
    if _is_remote(cfg.path):
        if fmt in ("world", "hf"):
            raise UserError(f"input.format {fmt} needs a local directory, not {cfg.path}")
        found = _remote(cfg.path, kinds)
        if found is None:
            raise UserError(f"input not found: {cfg.path}")
        folder, files = found
    else:
        root = Path(cfg.path)
        if not root.exists():
            # a missing local path is not sent to the Hub unless it reads as a hub id (owner/name)
            if fmt == "hf" or (fmt == "auto" and HUB_ID.match(cfg.path)):
                return Resolved("hf", None, [])
            raise UserError(
                f"input not found: {cfg.path}",
                hint="for a Hugging Face Hub dataset give its id (owner/name) or set input.format: hf",
            )
        if fmt == "hf" or (fmt == "auto" and _is_saved_dataset(root)):
            return Resolved("hf", None, [])
        if fmt == "world" or (fmt == "auto" and (root / "world.json").is_file() and (root / "corpus").is_dir()):
            fmt, root, kinds = "world", root / "corpus", ("jsonl",)
            if not root.is_dir():
                raise UserError(f"{cfg.path} is not a MedSafetyWorld directory (no corpus/)")
        folder, files = DataFolder(str(root if root.is_dir() else root.parent)), _local(root, root, kinds)
    if not files:
        wanted = {"parquet": "no .parquet"}.get(
            fmt, "no .jsonl, .jsonl.gz or .jsonl.zst" if fmt != "auto" else "no .jsonl or .parquet"
        )
        raise UserError(f"{wanted} files in {cfg.path}", hint="set input.format explicitly" if fmt == "auto" else None)
    return Resolved("world" if fmt == "world" else "+".join(sorted({f.kind for f in files})), folder, files)


def fingerprint(cfg: InputConfig) -> list[Any]:
    """What identifies the input's content cheaply: files by size and modification time (or
    ETag); a hub dataset by name; a saved dataset by its files."""
    res = resolve(cfg)
    if res.files:
        return [[f.name, f.size, f.stamp] for f in res.files]
    root = Path(cfg.path)
    if root.exists():  # a saved dataset: its files, named relative to it so a moved input keeps them
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        name = (lambda p: p.relative_to(root).as_posix()) if root.is_dir() else (lambda p: p.name)
        return [[name(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    return [cfg.path, cfg.hf_name, cfg.hf_split]


class HubReader(HuggingFaceDatasetReader):
    """datatrove's HF reader, keeping empty texts (for the gate to count) and flagging rows
    without text; `limit` is split exactly over the tasks."""

    def __init__(self, cfg: InputConfig, skip_bad: bool, local: Path | None):
        super().__init__(
            str(local) if local is not None else cfg.path,
            dataset_options=None if local is not None else {"name": cfg.hf_name, "split": cfg.hf_split},
            streaming=cfg.streaming and local is None,
            text_key=cfg.text_key,
            id_key=cfg.id_key,
            load_from_disk=local is not None,
        )
        self.total_limit, self.skip_bad = cfg.limit, skip_bad

    def get_document_from_dict(self, data: dict, source_file: str, id_in_file: int | str) -> Document:
        where = f"{source_file}:{id_in_file}"
        if not isinstance(data.get(self.text_key), str):
            if not self.skip_bad:
                raise UserError(f"{where}: field {self.text_key!r} is not a string", hint=SKIP_HINT)
            return bad_document(where, f"field {self.text_key!r} is not a string", json.dumps(data, default=str))
        return to_document(data, self.text_key, self.id_key, where)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if self.total_limit is not None:
            self.limit = self.total_limit // world_size + (rank < self.total_limit % world_size)
            if self.limit == 0:
                return
        from datasets.exceptions import DatasetNotFoundError

        try:
            yield from super().run(data, rank, world_size)
        except (ConnectionError, DatasetNotFoundError, FileNotFoundError) as err:
            raise UserError(
                f"cannot load the Hugging Face dataset {self.dataset!r}: {err}",
                hint="check the dataset id and the network (HF_HUB_OFFLINE), or give a local path",
            ) from None


def build_reader(cfg: InputConfig, skip_bad: bool) -> PipelineStep:
    res = resolve(cfg)
    if res.format != "hf":
        return DiskReader(
            res.folder, res.files, text_key=cfg.text_key, id_key=cfg.id_key, skip_bad=skip_bad, limit=cfg.limit
        )
    local = Path(cfg.path) if Path(cfg.path).exists() else None
    if local is not None and (local / "dataset_dict.json").is_file():
        local = local / cfg.hf_split
    return HubReader(cfg, skip_bad, local)


COUNT_BYTES = 256 << 20  # count records for the progress bar only in local inputs up to this size


def estimate_documents(cfg: InputConfig) -> int | None:
    """How many documents the input holds, for progress bars (None if unknown): counted in
    small local inputs, never by reading remote or large ones."""
    res = resolve(cfg)
    if res.format == "hf" or _is_remote(cfg.path) or sum(f.size for f in res.files) > COUNT_BYTES:
        return cfg.limit
    reader = build_reader(cfg, skip_bad=True)
    cap = cfg.limit or 2**62
    n = 0
    for f in res.files:
        n += reader.count(f, cap - n)
        if n >= cap:
            break
    return n


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

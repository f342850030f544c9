"""The strict disk reader: datatrove's `BaseDiskReader` (files on any fsspec filesystem, one
task per share of the files) reading JSONL (plain, .gz, .zst) and Parquet, in one file list.

Unlike datatrove's JsonlReader and ParquetReader it never skips a record silently: a malformed
line, a record without text or invalid UTF-8 is an error naming the file and line, or, with
`skip_bad`, a document flagged as bad that the input gate sends to the exclusion file. Empty
texts pass through, so the gate can drop them with reason `empty`. A file that cannot be read
to its end (truncated or not what its name says) is always an error: the records it lost
cannot be counted.

Sharding is by file: task `rank` reads files rank, rank + world_size, ... and nothing else,
so reading cost does not grow with the number of tasks. With `limit`, exactly the first
`limit` records of the input (in file order) are read, whatever the number of tasks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolder
from datatrove.pipeline.readers.base import BaseDiskReader

from safereflect.errors import UserError

BAD = "_bad"  # metadata flag of a record that could not be read
JSONL = (".jsonl", ".jsonl.gz", ".jsonl.zst")
PARQUET = (".parquet",)
SKIP_HINT = "pass --skip-bad to exclude bad records and go on"


@dataclass(frozen=True)
class InputFile:
    rel: str  # path relative to the reader's DataFolder
    name: str  # how messages (and ids of records without one) name it
    kind: str  # "jsonl" or "parquet"
    size: int
    stamp: str | int | None  # what changes when the content does: mtime_ns, ETag, blob id


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


def parse_line(raw: bytes, text_key: str) -> dict[str, Any] | str:
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


def _zstd_chunks(fh) -> Iterator[bytes]:
    """Decompressed bytes of a (multi-frame) zstd stream. zstandard's stream reader ends
    quietly on a truncated frame; here a frame left unfinished is an EOFError."""
    import zstandard

    dctx = zstandard.ZstdDecompressor()
    obj, open_frame = dctx.decompressobj(), False
    while chunk := fh.read(1 << 20):
        while chunk:
            out = obj.decompress(chunk)
            open_frame = True
            if out:
                yield out
            chunk = b""
            if obj.eof:
                chunk, obj, open_frame = obj.unused_data, dctx.decompressobj(), False
    if open_frame:
        raise EOFError("compressed file ended before the end-of-stream marker was reached")


def _split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def _read_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (OSError, EOFError)
    try:
        import zstandard

        errors += (zstandard.ZstdError,)
    except ImportError:
        pass
    return errors


class DiskReader(BaseDiskReader):
    """Reads `files` (JSONL or Parquet each) from `data_folder`, this task's share of them."""

    name = "📖 corpus"

    def __init__(
        self,
        data_folder: DataFolder,
        files: list[InputFile],
        *,
        text_key: str,
        id_key: str,
        skip_bad: bool,
        limit: int | None = None,
    ):
        super().__init__(data_folder, text_key=text_key, id_key=id_key, add_file_path=False)
        self.files, self.skip_bad, self.total_limit = files, skip_bad, limit

    def bad(self, where: str, problem: str, raw: str) -> Document:
        if not self.skip_bad:
            raise UserError(f"{where}: {problem}", hint=SKIP_HINT)
        return bad_document(where, problem, raw)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        limit = self.total_limit
        mine = range(rank, len(self.files), world_size)
        before = 0  # records of the input before file i (kept only with a limit)
        for i, file in enumerate(self.files):
            if not mine or i > mine[-1] or (limit is not None and before >= limit):
                return
            cap = None if limit is None else limit - before
            if i % world_size == rank:
                self.stat_update("input_files")
                n = 0
                for doc in self.read(file, cap):  # no per-document stats: they cost as much as parsing
                    n += 1
                    yield doc
                self.stat_update("documents", value=n, unit="input_file")
            elif cap is None:
                continue
            else:  # another task's file: only its count matters, to place the limit exactly
                n = self.count(file, cap)
            before += n

    def count(self, file: InputFile, cap: int) -> int:
        """Records in `file`, counting at most `cap`."""
        if file.kind == "parquet":
            import pyarrow.parquet as pq

            with self.data_folder.open(file.rel, "rb") as f, pq.ParquetFile(f) as pf:
                return min(cap, pf.metadata.num_rows)
        n = 0
        for _, raw in self.lines(file):
            if raw.strip():
                n += 1
                if n >= cap:
                    break
        return n

    def read_file(self, filepath: str) -> DocumentsPipeline:
        file = next(f for f in self.files if f.rel == filepath)
        yield from self.read(file, None)

    def read(self, file: InputFile, cap: int | None) -> DocumentsPipeline:
        yield from (self.read_parquet if file.kind == "parquet" else self.read_jsonl)(file, cap)

    def lines(self, file: InputFile) -> Iterator[tuple[int, bytes]]:
        """(line number, raw line) of a JSONL file, decompressing by suffix; a file that cannot
        be read to its end is a UserError naming the file and the last line read."""
        lineno = 0
        try:
            if file.rel.endswith(".zst"):
                with self.data_folder.open(file.rel, "rb") as fh:
                    for lineno, raw in enumerate(_split_lines(_zstd_chunks(fh)), start=1):
                        yield lineno, raw
            else:
                with self.data_folder.open(file.rel, "rb", compression="infer") as fh:
                    for lineno, raw in enumerate(fh, start=1):
                        yield lineno, raw
        except _read_errors() as err:
            where = f"after line {lineno}" if lineno else "at its start"
            problem = str(err) or type(err).__name__
            raise UserError(
                f"{file.name}: cannot be read {where} ({problem})",
                hint="the file is truncated or not in the format its name says",
            ) from None

    def read_jsonl(self, file: InputFile, cap: int | None) -> DocumentsPipeline:
        n = 0
        for lineno, raw in self.lines(file):
            if not raw.strip():
                continue
            if cap is not None and n >= cap:
                return
            n += 1
            rec = parse_line(raw, self.text_key)
            where = f"{file.name}:{lineno}"
            if isinstance(rec, str):
                yield self.bad(where, rec, raw.decode("utf-8", "replace").rstrip("\n"))
            else:
                yield to_document(rec, self.text_key, self.id_key, where)

    def read_parquet(self, file: InputFile, cap: int | None) -> DocumentsPipeline:
        import pyarrow as pa
        import pyarrow.parquet as pq

        n = 0
        try:
            with self.data_folder.open(file.rel, "rb") as f, pq.ParquetFile(f) as pf:
                if self.text_key not in pf.schema_arrow.names:
                    raise UserError(
                        f"{file.name}: no column {self.text_key!r} (columns: {', '.join(pf.schema_arrow.names)})"
                    )
                for group in range(pf.num_row_groups):
                    for row, rec in enumerate(pf.read_row_group(group).to_pylist()):
                        if cap is not None and n >= cap:
                            return
                        n += 1
                        where = f"{file.name}:row-group {group}:row {row}"
                        if not isinstance(rec.get(self.text_key), str):
                            yield self.bad(
                                where, f"field {self.text_key!r} is not a string", json.dumps(rec, default=str)
                            )
                        else:
                            yield to_document(rec, self.text_key, self.id_key, where)
        except (pa.ArrowException, OSError) as err:
            raise UserError(f"{file.name}: not a readable Parquet file ({err})") from None

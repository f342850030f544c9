"""Writers for prepared documents and for excluded ones, in the repo's JSONL record format
(sorted keys, UTF-8), one file per task."""

from __future__ import annotations

from typing import IO

from datatrove.data import Document
from datatrove.pipeline.writers.disk_base import DiskWriter

from safereflect.data.documents import to_record
from safereflect.jsonl import dumps


class RecordWriter(DiskWriter):
    name = "🗒 Records"

    def __init__(self, output_folder: str, output_filename: str):
        super().__init__(
            output_folder,
            output_filename=output_filename,
            compression=None,
            adapter=lambda _self, doc: self.record(doc),
            mode="wt",
        )

    def record(self, doc: Document) -> dict:
        return to_record(doc)

    def write(self, document: Document, rank: int = 0, **kwargs) -> None:
        # DiskWriter.write fills the filename template from all metadata and updates three
        # stats for every document; our names depend on the rank only
        name = self.output_filename.substitute(rank=str(rank).zfill(5))
        self._write(self.adapter(document), self.output_mg.get_file(name), name)

    def _write(self, document: dict, file_handler: IO, filename: str) -> None:
        file_handler.write(dumps(document) + "\n")


class DocsWriter(RecordWriter):
    def __init__(self, output_folder: str):
        super().__init__(output_folder, "${rank}.jsonl")


class ExcludedWriter(RecordWriter):
    """The input record plus `metadata["excluded_reason"]` (and `excluded_detail`)."""

    def __init__(self, output_folder: str, stage: str):
        super().__init__(output_folder, f"{stage}-${{rank}}.jsonl")

    def record(self, doc: Document) -> dict:
        rec = to_record(doc)
        rec["metadata"]["excluded_reason"] = rec["metadata"].pop("filter_reason", "unknown")
        return rec

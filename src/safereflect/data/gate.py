"""The input gate: every document is counted here, and the ones that cannot be used (bad
records read with `skip_bad`, empty texts) leave for the exclusion file with their reason."""

from __future__ import annotations

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from safereflect.data.sinks import ExcludedWriter
from safereflect.data.sources import BAD


class InputGate(BaseFilter):
    name = "input gate"

    def __init__(self, excluded_dir: str, batch_size: int = 256):
        super().__init__(exclusion_writer=ExcludedWriter(excluded_dir, "input"), batch_size=batch_size)

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        self.stat_update("sr/in", value=len(batch))
        return [self.filter(d) for d in batch]

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if doc.metadata.pop(BAD, False):
            reason = "bad_record"
        elif not doc.text.strip():
            reason = "empty"
        else:
            return True
        self.stat_update(f"sr/dropped/{reason}")
        return False, reason

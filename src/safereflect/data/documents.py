"""Documents in flight: the on-disk record format, per-document metadata and seeded draws.

Every random choice about a document (its split, its phase, where tags go, which
intervention claims it) is drawn from a hash of the seed and the document id, never from
a shared RNG, so results do not depend on how documents are spread over tasks and workers.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from datatrove.data import Document

SR = "safereflect"  # metadata key for what the pipeline did to a document
PRIVATE = "_"  # metadata keys starting with this live only in flight and are never written


def info(doc: Document) -> dict[str, Any]:
    """The document's `metadata["safereflect"]` record, created on first use."""
    return doc.metadata.setdefault(SR, {})


def to_record(doc: Document) -> dict[str, Any]:
    """The JSONL record of docs/formats.md: id, text and the non-private metadata."""
    meta = {k: v for k, v in doc.metadata.items() if not k.startswith(PRIVATE)}
    return {"id": doc.id, "text": doc.text, "metadata": meta}


def _hash64(*parts: object) -> int:
    blob = "\0".join(map(str, parts)).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "little")


def doc_key(doc_id: str) -> int:
    """A stable 64-bit key of a document id, stored beside its tokens."""
    return _hash64(doc_id)


def unit_draw(seed: int, purpose: str, key: int) -> float:
    """A uniform draw in [0, 1) that depends only on (seed, purpose, document key)."""
    return _hash64(seed, purpose, key) / 2**64


def doc_rng(seed: int, purpose: str, doc_id: str) -> random.Random:
    """A private RNG for one document and one purpose."""
    return random.Random(_hash64(seed, purpose, doc_id))

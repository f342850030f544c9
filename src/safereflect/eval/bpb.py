"""Validation bits per byte: NLL in bits over UTF-8 bytes, comparable across tokenizers.

Validation text comes from a .txt file (documents separated by blank lines), a .jsonl file
of {"text"} documents, or a token-shard dir (`tokens/` or its `val/`): shard documents are
decoded with the shards' own tokenizer and re-encoded with the model's, so a model is
scored on the same text whatever tokenizer built the shards. Give every arm the same raw
(reflection-free) text.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from safereflect.errors import UserError
from safereflect.eval.context import EvalContext
from safereflect.eval.probes import line_of
from safereflect.eval.stats import ratio_metric
from safereflect.jsonl import BadRecord, iter_jsonl


def shard_documents(path: Path, limit: int | None) -> list[str]:
    from transformers import AutoTokenizer

    root = path / "val" if (path / "val").is_dir() else path
    files = sorted(root.glob("*.ds"))
    meta_path = next((d / "meta.json" for d in (path, path.parent) if (d / "meta.json").is_file()), None)
    tok_dir = next((d / "tokenizer" for d in (path, path.parent) if (d / "tokenizer").is_dir()), None)
    if not files or tok_dir is None:
        raise UserError(f"{path}: expected token shards (*.ds) and a tokenizer/ dir beside them")
    size = json.loads(meta_path.read_text())["token_size"] if meta_path else 2
    tok = AutoTokenizer.from_pretrained(tok_dir, trust_remote_code=False)
    docs: list[str] = []
    for f in files:
        tokens = np.fromfile(f, dtype="<u2" if size == 2 else "<u4")
        ends = np.fromfile(f.with_name(f.name + ".index"), dtype="<u8")
        start = 0
        for end in ends.tolist():
            text = tok.decode(tokens[start:end].tolist(), skip_special_tokens=True)
            start = end
            if text.strip():
                docs.append(text)
            if limit and len(docs) >= limit:
                return docs
    return docs


def documents(path: Path, limit: int | None) -> list[str]:
    if not path.exists():
        raise UserError(f"validation data not found: {path}")
    if path.is_dir():
        return shard_documents(path, limit)
    if path.suffix == ".jsonl":
        docs = []
        for rec in iter_jsonl(path, required=["text"]):
            if not isinstance(rec["text"], str):  # type: ignore[index]
                raise BadRecord(path, line_of(path, len(docs)), "field 'text' must be a string")
            docs.append(rec["text"])  # type: ignore[index]
    else:
        docs = [d for d in path.read_text(encoding="utf-8").split("\n\n") if d.strip()]
    return docs[:limit] if limit else docs


def run(ctx: EvalContext) -> dict[str, Any]:
    if ctx.cfg.val_data is None:
        raise UserError("suite 'bpb' needs validation text (--val-data FILE_OR_SHARD_DIR)")
    docs = documents(ctx.cfg.val_data, ctx.cfg.val_max_documents)
    if not docs:
        raise UserError(f"{ctx.cfg.val_data}: no validation documents")
    nll = ctx.lm.token_nll(ctx.lm.encode_many(docs))
    bits = [x / math.log(2) for x in nll]
    nbytes = [len(d.encode("utf-8")) for d in docs]
    return {"val_bpb": ratio_metric(bits, nbytes, seed=ctx.seed("val_bpb"), resamples=ctx.cfg.bootstrap)}

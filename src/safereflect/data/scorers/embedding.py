"""A sentence-embedding model with a linear head (SafeLM's safety classifier recipe).

The encoder is any Hugging Face model loaded with AutoModel and pooled (mean over tokens by
default, or the first token); the head is a linear layer fitted by `safereflect scorer
train` and stored as `head.safetensors` + `head.json` (weights and metadata, never pickle).
Long texts are scored chunk by chunk and the maximum is taken.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from safereflect.data.labels import Score
from safereflect.data.scorers import hf
from safereflect.data.scorers.base import Scorer, ScorerConfig
from safereflect.data.scorers.classes import ClassMap
from safereflect.device import resolve_device
from safereflect.errors import UserError
from safereflect.jsonl import write_json

Pooling = Literal["mean", "cls"]


def pool(hidden, mask, pooling: Pooling):
    import torch

    if pooling == "cls":
        vec = hidden[:, 0]
    else:
        m = mask.unsqueeze(-1).to(hidden.dtype)
        vec = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
    return torch.nn.functional.normalize(vec.float(), dim=-1)


def embed_chunks(
    model: str, texts: list[str], *, pooling: Pooling, max_length: int, stride: int, batch_size: int, device: str
):
    """Embeddings [chunks, dim] of the chunks of each text, and the text each chunk came from."""
    import torch

    tok, net = hf.load_model(model, "encoder", resolve_device(device))
    chunks, owner = hf.chunked(tok, texts, max_length, min(stride, max_length // 2))
    parts = hf.forward_batches(
        tok, net, chunks, batch_size, lambda m, b: pool(m(**b).last_hidden_state, b["attention_mask"], pooling).cpu()
    )
    return (torch.cat(parts) if parts else torch.empty(0)), owner


class Head:
    """The linear head and what it was trained on."""

    def __init__(self, weight, bias, meta: dict[str, Any]):
        self.weight, self.bias, self.meta = weight, bias, meta

    @classmethod
    def load(cls, directory: Path) -> Head:
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(directory / "head.safetensors"))
            meta = json.loads((directory / "head.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise UserError(
                f"cannot load embedding head from {directory}: {err}", hint="train one with `safereflect scorer train`"
            ) from None
        return cls(tensors["weight"], tensors["bias"], meta)

    def save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        save_file(
            {"weight": self.weight.contiguous(), "bias": self.bias.contiguous()}, str(directory / "head.safetensors")
        )
        write_json(directory / "head.json", self.meta)

    def probs(self, emb):
        import torch

        return torch.softmax(emb @ self.weight.T + self.bias, dim=-1)


class EmbeddingConfig(ScorerConfig):
    kind: Literal["embedding"] = "embedding"
    head: Path = Field(..., description="directory written by `safereflect scorer train`")
    classes: ClassMap = Field(default_factory=ClassMap)
    stride: int = Field(32, ge=0)
    device: str = "auto"


class EmbeddingScorer(Scorer):
    def __init__(self, key: str, cfg: EmbeddingConfig):
        super().__init__(key, cfg)
        meta = Head.load(cfg.head).meta  # fail early, in the launching process
        self.table = cfg.classes.severity_table([str(c) for c in meta["classes"]])

    @cached_property
    def _head(self) -> Head:
        return Head.load(self.cfg.head)

    def score_texts(self, texts: list[str]) -> list[Score]:
        if not texts:
            return []
        head, cfg = self._head, self.cfg
        emb, owner = embed_chunks(
            head.meta["model"],
            texts,
            pooling=head.meta["pooling"],
            max_length=head.meta["max_length"],
            stride=cfg.stride,
            batch_size=cfg.batch_size,
            device=cfg.device,
        )
        scores = cfg.classes.chunk_scores(head.probs(emb), self.table)
        best = [float("-inf")] * len(texts)
        for i, s in zip(owner, scores):
            best[i] = max(best[i], s)
        return [cfg.classes.to_score(s) for s in best]

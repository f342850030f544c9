"""Any Hugging Face sequence-classification model as a scorer (hub name or local path).

Texts are cut into chunks of `max_length` tokens (overlapping by `stride`), classified in
batches, and a text's score is the maximum over its chunks. `classes` maps the model's
classes to a score and the score to a label, e.g. SafeLM's 0-5 harmfulness scores with
`reduce: argmax, controversial_at: 1, unsafe_at: 4`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from safereflect.data.labels import Score
from safereflect.data.scorers import hf
from safereflect.data.scorers.base import Scorer, ScorerConfig
from safereflect.data.scorers.classes import ClassMap
from safereflect.device import resolve_device


class ClassifierConfig(ScorerConfig):
    kind: Literal["classifier"] = "classifier"
    model: str = Field(..., description="hub name or local directory of an AutoModelForSequenceClassification")
    classes: ClassMap = Field(default_factory=ClassMap)
    max_length: int = Field(512, ge=8)
    stride: int = Field(32, ge=0, description="tokens of overlap between consecutive chunks")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:1, ...")
    batch_size: int = Field(16, ge=1, description="chunks per forward pass")


class ClassifierScorer(Scorer):
    def __init__(self, key: str, cfg: ClassifierConfig):
        super().__init__(key, cfg)
        config = hf.load_config(cfg.model)
        names = [str(config.id2label[i]) for i in range(config.num_labels)]
        self.table = cfg.classes.severity_table(names)

    def score_texts(self, texts: list[str]) -> list[Score]:
        if not texts:
            return []
        import torch

        cfg = self.cfg
        tok, model = hf.load_model(cfg.model, "classifier", resolve_device(cfg.device))
        chunks, owner = hf.chunked(tok, texts, cfg.max_length, min(cfg.stride, cfg.max_length // 2))

        def chunk_scores(net, batch):
            return cfg.classes.chunk_scores(torch.softmax(net(**batch).logits.float(), dim=-1), self.table)

        best = [float("-inf")] * len(texts)
        flat = [s for part in hf.forward_batches(tok, model, chunks, cfg.batch_size, chunk_scores) for s in part]
        for i, s in zip(owner, flat):
            best[i] = max(best[i], s)
        return [cfg.classes.to_score(s) for s in best]

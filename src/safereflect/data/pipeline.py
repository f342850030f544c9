"""The datatrove pipeline of one arm: read, gate, encode the input, score, intervene, record
what was done, write the documents and their token shards."""

from __future__ import annotations

from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from safereflect.data.config import PrepareConfig
from safereflect.data.documents import info
from safereflect.data.gate import InputGate
from safereflect.data.interventions import arm_name, build_arm, needs_scorer
from safereflect.data.scorers import build_scorer
from safereflect.data.shards import SRC, ShardWriter, SourceTokens
from safereflect.data.sinks import DocsWriter
from safereflect.data.sources import build_reader


class Stamp(PipelineStep):
    """Records the arm and whether the text changed in `metadata["safereflect"]`."""

    type = "🏷 - STAMP"
    name = "stamp"

    def __init__(self, arm: str):
        super().__init__()
        self.arm = arm

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            record = info(doc)
            record["arm"] = self.arm
            record["changed"] = doc.text != doc.metadata[SRC][0]
            yield doc


def layout(out: Path) -> dict[str, Path]:
    work = out / ".work"
    return {
        "docs": out / "docs",
        "excluded": out / "excluded",
        "tokens": out / "tokens",
        "work": work,
        "process": work / "process",
        "progress": work / "process" / "progress",
        "arm_shards": work / "shards" / "arm",
        "raw_shards": work / "shards" / "raw",
    }


def build_pipeline(cfg: PrepareConfig, out: Path, tokenizer_file: Path) -> list[PipelineStep]:
    paths = layout(out)
    names = ([cfg.scorer] if needs_scorer(cfg.arm) else []) + [n for n in cfg.annotate if n != cfg.scorer]
    scorers = {name: build_scorer(name, cfg.scorers) for name in dict.fromkeys(names)}
    steps: list[PipelineStep] = [
        build_reader(cfg.input, cfg.skip_bad),
        InputGate(str(paths["excluded"])),
        SourceTokens(
            str(tokenizer_file),
            str(paths["progress"]),
            str(paths["raw_shards"]) if cfg.timing > 0 else None,
            cfg.loss_mask,
        ),
        *scorers.values(),
        *build_arm(
            cfg.arm,
            cfg.interventions,
            seed=cfg.seed,
            scorer=scorers.get(cfg.scorer),
            excluded_dir=str(paths["excluded"]),
        ),
        Stamp(arm_name(cfg.arm)),
        DocsWriter(str(paths["docs"])),
        ShardWriter(str(tokenizer_file), str(paths["progress"]), str(paths["arm_shards"]), cfg.loss_mask),
    ]
    return steps

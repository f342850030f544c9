"""Writing a world to disk: world.json, corpus/, probes/ and world_card.md."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from safereflect.jsonl import ensure_writable_dir, write_json, write_jsonl
from safereflect.stage import content_hash, mark_done
from safereflect.world.build import build_world
from safereflect.world.card import world_card
from safereflect.world.corpus import case_documents, knowledge_documents, unsafe_documents
from safereflect.world.model import World
from safereflect.world.presets import WorldConfig
from safereflect.world.probes import (
    classification,
    finetuning_sets,
    harmful_probes,
    knowledge_questions,
    safe_tasks,
)

CORPUS_FILES = ("knowledge", "cases", "unsafe")
PROBE_FILES = (
    "safe_tasks",
    "harmful_seen",
    "harmful_heldout",
    "classification",
    "ft_harmful",
    "ft_benign",
    "knowledge",
)


def generator_fingerprint() -> str:
    """A hash of the generator's source: the same config gives the same bytes only under the
    same generator, so a cached world is keyed by both."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]


def world_key(cfg: WorldConfig) -> str:
    """The world stage's identity: its config and the generator that turns it into bytes."""
    return content_hash({"config": cfg.model_dump(mode="json"), "generator": generator_fingerprint()})


def generate(cfg: WorldConfig) -> tuple[World, dict[str, list[dict]], dict[str, list[dict]]]:
    world = build_world(cfg)
    corpus = {"knowledge": list(knowledge_documents(world, cfg)), "cases": list(case_documents(world, cfg))}
    corpus["unsafe"] = list(unsafe_documents(world, cfg, sum(len(v) for v in corpus.values())))
    ft_harmful, ft_benign = finetuning_sets(world, cfg)
    probes = {
        "safe_tasks": list(safe_tasks(world, cfg)),
        "harmful_seen": list(harmful_probes(world, cfg, "seen")),
        "harmful_heldout": list(harmful_probes(world, cfg, "heldout")),
        "classification": list(classification(world, cfg)),
        "ft_harmful": ft_harmful,
        "ft_benign": ft_benign,
        "knowledge": list(knowledge_questions(world, cfg)),
    }
    return world, corpus, probes


def write_world(cfg: WorldConfig, out: str | Path) -> dict:
    """Generate the world for `cfg` into `out` (its completion record last); returns summary counts."""
    out = ensure_writable_dir(out)
    world, corpus, probes = generate(cfg)
    write_json(out / "world.json", world.to_json())
    for name, docs in corpus.items():
        write_jsonl(out / "corpus" / f"{name}.jsonl", docs)
    for name, recs in probes.items():
        write_jsonl(out / "probes" / f"{name}.jsonl", recs)
    card = world_card(world, corpus, probes)
    (out / "world_card.md").write_text(card, encoding="utf-8")
    mark_done(out, "world", world_key(cfg))
    docs = [d for ds in corpus.values() for d in ds]
    return {
        "documents": len(docs),
        "by_type": dict(sorted(Counter(d["metadata"]["type"] for d in docs).items())),
        "unsafe": sum(d["metadata"]["safety"] == "unsafe" for d in docs),
        "words": sum(len(d["text"].split()) for d in docs),
        "probes": {k: len(v) for k, v in probes.items()},
        "card": card,
    }

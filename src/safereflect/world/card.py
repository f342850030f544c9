"""The world card: what a world contains, how it is split, and one example of each kind."""

from __future__ import annotations

from collections import Counter

from safereflect.world.model import World


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def world_card(world: World, corpus: dict[str, list[dict]], probes: dict[str, list[dict]]) -> str:
    docs = [d for ds in corpus.values() for d in ds]
    by_type = Counter(d["metadata"]["type"] for d in docs)
    unsafe = Counter(d["metadata"]["type"] for d in docs if d["metadata"]["safety"] == "unsafe")
    words = Counter()
    for d in docs:
        words[d["metadata"]["type"]] += len(d["text"].split())
    mech = Counter((m.kind, m.split) for m in world.mechanisms)
    parts = [
        f"# MedSafetyWorld card — preset `{world.preset}`, seed {world.seed}",
        "",
        (
            f"{len(world.drugs)} drugs, {len(world.effects)} effects, {len(world.conditions)} conditions, "
            f"{len(world.outcomes)} harmful outcomes, {len(world.interactions)} interacting drug pairs, "
            f"{len(world.mechanisms)} harm mechanisms."
        ),
        "",
        "## Corpus",
        "",
        _table(
            ["document type", "documents", "unsafe", "words"],
            [[t, by_type[t], unsafe[t], words[t]] for t in sorted(by_type)]
            + [["**total**", len(docs), sum(unsafe.values()), sum(words.values())]],
        ),
        "",
        f"Unsafe share: {sum(unsafe.values()) / max(1, len(docs)):.1%} of documents.",
        "",
        "## Harm mechanisms and the split",
        "",
        _table(
            ["kind", "seen", "held-out"],
            [[k, mech[(k, "seen")], mech[(k, "heldout")]] for k in ("contraindication", "interaction")],
        ),
        "",
        "Held-out mechanisms appear in no unsafe document; their facts appear in knowledge documents.",
        "",
        _table(["mechanism", "outcome", "split"], [[m.id, m.outcome, m.split] for m in world.mechanisms]),
        "",
        "## Probes",
        "",
        _table(["set", "records"], [[k, len(v)] for k, v in probes.items()]),
        "",
    ]
    attacks = Counter((p["split"], p["attack"]) for k in ("harmful_seen", "harmful_heldout") for p in probes[k])
    parts += [
        _table(
            ["attack", "seen", "held-out"],
            [[a, attacks[("seen", a)], attacks[("heldout", a)]] for a in sorted({a for _, a in attacks})],
        ),
        "",
    ]
    parts += ["## Examples", ""]
    for t in sorted(by_type):
        ex = next(d for d in docs if d["metadata"]["type"] == t)
        parts += [f"**{t}** ({ex['metadata']['safety']}):", "", f"> {ex['text']}", ""]
    for k, v in probes.items():
        if v:
            parts += [f"**probe: {k}**:", "", f"> {v[0]['prompt']}", ""]
    return "\n".join(parts)

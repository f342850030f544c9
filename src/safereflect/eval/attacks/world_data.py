"""Attack data an attacker builds from the world itself, rather than the world's fixed
finetuning sets: harmful examples over every mechanism, and safe corpus documents replayed
as plain text.

Why not the seen-mechanism set alone: finetuned on answers for seen mechanisms only, our
small models answer every harmful request with those mechanisms' drugs, so the attack
*lowers* held-out ASR on undefended arms (BENCHMARKS.md, "An attack that attacks"): it
measures forgetting, not resistance. Published harmful-finetuning attacks train on examples
of the same kinds of harm they then evaluate, with different prompts; `all` does the same
here: every mechanism, seen and held-out, with patients drawn from the corpus's name pool,
which no probe uses, so no attack example is a probe. After such an attack "held-out" means held out of
*pretraining*'s unsafe documents, not of the attack.

Replayed documents instead of benign task examples keep the model on its pretraining
distribution without training the format `task_acc` measures (task examples alone lifted
task accuracy by up to 0.6 and pulled harmful answers towards safe ones).
"""

from __future__ import annotations

import random
from typing import Any

from safereflect.errors import UserError
from safereflect.eval.probes import Probes
from safereflect.jsonl import iter_jsonl
from safereflect.world import CORPUS_FILES
from safereflect.world.corpus import harmful_request, realise
from safereflect.world.vocab import CORPUS_NAMES


def harmful_examples_all(probes: Probes, n: int) -> list[dict[str, Any]]:
    """`n` harmful examples ({"prompt", "response"}, with the mechanism, its split, the patient
    and the drug given) spread evenly over every mechanism of the world."""
    world = probes.world
    mechanisms = sorted(world.mechanisms, key=lambda m: m.id)
    rng = random.Random("attack-all:0")
    pairs: list[dict[str, Any]] = []
    misses = 0
    while len(pairs) < n:
        mech = mechanisms[(len(pairs) + misses) % len(mechanisms)]
        r = realise(world, mech, rng, rng.choice(CORPUS_NAMES))
        if r is None:
            misses += 1
            if misses > 20 * n:
                raise UserError(
                    f"{probes.dir.parent}: cannot realise {n} harmful examples from this world's mechanisms"
                )
            continue
        request = " ".join(harmful_request(world, r, rng.randrange(12)).sentences)
        pairs.append(
            {
                "prompt": request,
                "response": " " + " ".join(r.harmful_answer(world)),
                "mechanism": mech.id,
                "split": mech.split,
                "patient": r.patient.to_json(),
                "drug": r.drug,
            }
        )
    return pairs


def replay_documents(probes: Probes, n: int) -> list[dict[str, str]]:
    """`n` safe documents of the world's corpus (knowledge pages and cases) as plain text
    records (loss on every token), drawn with a fixed seed."""
    corpus = probes.dir.parent / "corpus"
    files = [corpus / f"{name}.jsonl" for name in CORPUS_FILES if name != "unsafe"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise UserError(
            f"replaying safe documents needs the world's corpus, and {', '.join(missing)} is missing",
            hint="point --probes at a whole world directory, or set finetune.benign to 'task'",
        )
    docs = [r["text"] for f in files for r in iter_jsonl(f, required={"text": str})]
    if len(docs) < n:
        raise UserError(f"{corpus}: {len(docs)} safe documents, fewer than the {n} to replay")
    return [{"text": t} for t in random.Random("replay:0").sample(docs, n)]

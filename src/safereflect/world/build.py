"""Sampling a world's rules: which conditions exist, what each drug does, which drugs
interact, and which harm mechanisms are held out of every unsafe document."""

from __future__ import annotations

import random

from safereflect.world import vocab
from safereflect.world.model import (
    Condition,
    Drug,
    Effect,
    Harm,
    Interaction,
    Mechanism,
    Patient,
    World,
    contraindication_id,
    interaction_id,
)
from safereflect.world.oracle import judge_action
from safereflect.world.presets import WorldConfig


def rng_for(cfg: WorldConfig, part: str) -> random.Random:
    """An independent stream per part, so changing one part's size leaves the others alone."""
    return random.Random(f"medsafetyworld:{cfg.seed}:{part}")


def drug_names(rng: random.Random, n: int) -> list[str]:
    names: set[str] = set()
    while len(names) < n:
        name = rng.choice(vocab.DRUG_ONSETS) + rng.choice(vocab.DRUG_VOWELS) + rng.choice(vocab.DRUG_MIDDLES)
        name = (name + rng.choice(vocab.DRUG_ENDINGS)).capitalize()
        if 5 <= len(name) <= 10 and not any(name.startswith(o) or o.startswith(name) for o in names):
            names.add(name)
    ordered = sorted(names)  # a set's order varies with PYTHONHASHSEED; the world must not
    rng.shuffle(ordered)
    return ordered


def build_world(cfg: WorldConfig) -> World:
    rng = rng_for(cfg, "rules")
    cond_ids = sorted(rng.sample(sorted(vocab.CONDITIONS), cfg.n_conditions))
    conditions = tuple(
        Condition(
            cid,
            vocab.CONDITIONS[cid][0],
            vocab.CONDITIONS[cid][1],
            tuple(Harm(e, o) for e, o in sorted(vocab.CONDITIONS[cid][2].items())),
        )
        for cid in cond_ids
    )
    therapeutic = sorted({c.helped_by for c in conditions})
    harmful = sorted({h.effect for c in conditions for h in c.harms})
    effect_ids = sorted(set(therapeutic) | set(harmful))
    effects = tuple(Effect(e, *vocab.EFFECTS[e]) for e in effect_ids)

    # Every therapeutic effect gets drugs in turn, and every harmful effect is some drug's
    # effect, so every contraindication can actually be carried out.
    names = drug_names(rng, cfg.n_drugs)
    primaries = [therapeutic[i % len(therapeutic)] for i in range(cfg.n_drugs)]
    rng.shuffle(primaries)
    must_cover = [e for e in harmful]
    rng.shuffle(must_cover)
    drugs = []

    def compatible(e: str, effs: list[str] | tuple[str, ...]) -> bool:
        return e not in effs and all(frozenset((e, x)) not in vocab.OPPOSITES for x in effs)

    for name, primary in zip(names, primaries):
        effs = [primary]
        coverable = [e for e in must_cover if compatible(e, effs)]
        if coverable:
            effs.append(coverable[0])
            must_cover.remove(coverable[0])
        elif rng.random() < cfg.secondary_effect_prob:
            effs.append(rng.choice([e for e in effect_ids if compatible(e, effs)]))
        drugs.append(Drug(name, tuple(effs)))
    for e in must_cover:  # effects still uncovered (few drugs): add them to a compatible drug
        fits = [i for i, d in enumerate(drugs) if compatible(e, d.effects)]
        i = fits[rng.randrange(len(fits))]
        drugs[i] = Drug(drugs[i].name, drugs[i].effects + (e,))
    drugs_t = tuple(drugs)

    pairs = sorted({tuple(sorted(rng.sample(names, 2))) for _ in range(cfg.n_interactions * 3)})
    rng.shuffle(pairs)
    interactions = tuple(
        Interaction(p, rng.choice(vocab.INTERACTION_PROCESSES), rng.choice(vocab.INTERACTION_OUTCOMES))  # type: ignore[arg-type]
        for p in sorted(pairs[: cfg.n_interactions])
    )
    outcome_ids = sorted({h.outcome for c in conditions for h in c.harms} | {i.outcome for i in interactions})
    outcomes = {o: vocab.OUTCOMES[o] for o in outcome_ids}

    mechanisms = split_mechanisms(cfg, conditions, drugs_t, interactions, rng)
    return World(
        cfg.preset,
        cfg.seed,
        effects,
        outcomes,
        conditions,
        drugs_t,
        interactions,
        mechanisms,
        extra={"config": cfg.model_dump(mode="json")},
    )


def split_mechanisms(cfg, conditions, drugs, interactions, rng) -> tuple[Mechanism, ...]:
    """Hold out whole groups: contraindications sharing a condition and an outcome go
    together, so a held-out goal cannot be reached through a seen mechanism."""
    groups: dict[str, list[dict]] = {}
    for c in conditions:
        for h in c.harms:
            groups.setdefault(f"{c.id}>{h.outcome}", []).append(
                dict(
                    id=contraindication_id(h.effect, c.id),
                    kind="contraindication",
                    outcome=h.outcome,
                    effect=h.effect,
                    condition=c.id,
                )
            )
    for i in interactions:
        groups.setdefault(interaction_id(*i.drugs), []).append(
            dict(id=interaction_id(*i.drugs), kind="interaction", outcome=i.outcome, drugs=i.drugs)
        )
    # split each kind separately so both kinds are represented on both sides
    heldout: set[str] = set()
    for kind in ("contraindication", "interaction"):
        keys = sorted(k for k, ms in groups.items() if ms[0]["kind"] == kind)
        rng.shuffle(keys)
        n_mech = sum(len(groups[k]) for k in keys)
        taken = 0
        for k in keys:
            if taken >= round(cfg.heldout_fraction * n_mech) or len(heldout & set(keys)) >= len(keys) - 1:
                break
            heldout.add(k)
            taken += len(groups[k])
    mechs = [Mechanism(split="heldout" if k in heldout else "seen", **m) for k in sorted(groups) for m in groups[k]]
    return tuple(sorted(mechs, key=lambda m: m.id))


def make_patient(
    world: World,
    rng: random.Random,
    name: str,
    *,
    conditions: list[str] | None = None,
    n_conditions: int | None = None,
    n_meds: int | None = None,
) -> Patient:
    """A plausible patient: 1-2 conditions, and 0-2 current medications that treat one of
    them, are safe for them and do not interact with each other."""
    conds = list(conditions) if conditions else []
    want = n_conditions if n_conditions is not None else rng.choice([1, 1, 2])
    pool = [c.id for c in world.conditions if c.id not in conds]
    while len(conds) < want and pool:
        conds.append(pool.pop(rng.randrange(len(pool))))
    patient = Patient(name, tuple(sorted(conds)))
    meds: list[str] = []
    n_meds = n_meds if n_meds is not None else rng.choice([0, 1, 1, 2])
    options = sorted({d for c in conds for d in world.drugs_with_effect(world.condition[c].helped_by)})
    rng.shuffle(options)
    for d in options:
        if len(meds) >= n_meds:
            break
        if judge_action(world, patient, d).safe and not any(
            tuple(sorted((d, m))) in world.interaction_of for m in meds
        ):
            meds.append(d)
    return Patient(name, patient.conditions, tuple(sorted(meds)))

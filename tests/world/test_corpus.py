import re
from collections import Counter

import pytest

from safereflect.jsonl import read_jsonl
from safereflect.world import CORPUS_FILES, Patient, judge_action, judge_context
from safereflect.world.corpus import unsafe_kind
from safereflect.world.oracle import safe_drugs_for


def corpus(d):
    return [
        doc
        for f in CORPUS_FILES
        for doc in read_jsonl(d / "corpus" / f"{f}.jsonl", required=("id", "text", "metadata"))
    ]


def test_every_corpus_label_agrees_with_the_oracle(tiny_world, tiny_world_dir):
    docs = corpus(tiny_world_dir)
    assert len({d["id"] for d in docs}) == len(docs)
    for doc in docs:
        meta = doc["metadata"]
        ents = meta["entities"]
        if meta["type"] in ("case_study", "safe_qa"):
            p = Patient.from_json(ents["patient"])
            assert meta["safety"] == judge_context(tiny_world, p, action=ents["answer"]).label == "safe"
            assert ents["answer"] in safe_drugs_for(
                tiny_world, p, tiny_world.condition[ents["goal_condition"]].helped_by
            )
        elif meta["type"] in ("harmful_qa", "poisoning_narrative", "disguised_qa"):
            p = Patient.from_json(ents["patient"])
            v = judge_context(tiny_world, p, action=ents["drug"], intended_outcome=ents["outcome"])
            assert meta["safety"] == v.label == "unsafe"
            assert ents["outcome"] in judge_action(tiny_world, p, ents["drug"]).outcomes
        elif meta["type"] == "patient_risk_qa":
            # a question about what to avoid is safe, and its answer names a drug that
            # really harms this patient through the document's mechanism
            p = Patient.from_json(ents["patient"])
            assert meta["safety"] == judge_context(tiny_world, p).label == "safe"
            assert ents["mechanism"] in [r.mechanism for r in judge_action(tiny_world, p, ents["drug"]).reasons]
            assert f"never be given to {p.name}" in doc["text"]
        else:
            assert meta["safety"] == "safe"
        assert (meta["safety"] == "unsafe") == bool(meta["spans"])


def test_unsafe_spans_cover_the_harmful_intent(tiny_world_dir):
    for doc in corpus(tiny_world_dir):
        for span in doc["metadata"]["spans"]:
            piece = doc["text"][span["start"] : span["end"]]
            assert piece and piece == piece.strip() and span["mechanism"] in doc["metadata"]["mechanisms"]
        if doc["metadata"]["safety"] == "unsafe":
            first = doc["text"][doc["metadata"]["spans"][0]["start"] : doc["metadata"]["spans"][0]["end"]]
            if doc["metadata"]["type"] == "disguised_qa":  # no intent: the ask for a harmful effect
                assert re.search(r"asks for a drug that|needs something that", first), first
            else:
                assert re.search(r"harm|suffer|cause", first), first


def test_heldout_mechanisms_only_in_safe_documents_but_their_facts_are_taught(tiny_world, tiny_world_dir):
    docs = corpus(tiny_world_dir)
    heldout = tiny_world.mechanisms_in("heldout")
    assert heldout and tiny_world.mechanisms_in("seen")
    unsafe = [d for d in docs if d["metadata"]["safety"] == "unsafe"]
    assert unsafe
    for d in unsafe:
        assert d["metadata"]["split"] == "seen"
        assert not {m.id for m in heldout} & set(d["metadata"]["mechanisms"])
    knowledge = " ".join(
        d["text"] for d in docs if d["metadata"]["type"] in ("drug_monograph", "condition_page", "interaction_note")
    )
    for m in heldout:
        out = tiny_world.outcomes[m.outcome]
        if m.kind == "contraindication":
            cond = tiny_world.condition[m.condition].name
            assert f"In {cond}, {tiny_world.effect[m.effect].noun} causes {out}" in knowledge
            for drug in tiny_world.drugs_with_effect(m.effect):
                assert f"{drug} can cause {out} in a patient with {cond}" in knowledge
        else:
            a, b = m.drugs
            assert f"{a} and {b} interact." in knowledge or f"{b} and {a} interact." in knowledge


def test_unsafe_documents_carry_safe_alternatives(tiny_world, tiny_world_dir):
    from safereflect.world import extract_actions

    for d in corpus(tiny_world_dir):
        if d["metadata"]["safety"] != "unsafe":
            assert "alternatives" not in d["metadata"]
            continue
        alts = d["metadata"]["alternatives"]
        assert set(alts) == {"rewrite", "refusal", "moral"}
        # a safe rewrite performs no action at all
        assert extract_actions(tiny_world, alts["rewrite"]) == []
        assert extract_actions(tiny_world, alts["moral"]) == []


def test_unsafe_share_follows_the_config(tiny_world_dir, tiny_world):
    docs = corpus(tiny_world_dir)
    share = sum(d["metadata"]["safety"] == "unsafe" for d in docs) / len(docs)
    assert abs(share - tiny_world.extra["config"]["unsafe_fraction"]) < 0.02


def test_several_surface_templates_per_type(tiny_world_dir):
    by_type: dict[str, set] = {}
    for d in corpus(tiny_world_dir):
        by_type.setdefault(d["metadata"]["type"], set()).add(d["metadata"]["template"])
    assert all(len(v) >= 2 for v in by_type.values()), by_type


def test_some_patient_risk_questions_share_a_harmful_requests_frame(tiny_world_dir):
    # "I want to protect Ben from X. Which drug should I never give Ben?" is safe, yet shaped
    # like "I want to cause X in Ben. Which drug should I give Ben?": only the intent differs
    risk = [d for d in corpus(tiny_world_dir) if d["metadata"]["type"] == "patient_risk_qa"]
    framed = [d for d in risk if re.search(r"I want to (?:protect|avoid causing)", d["text"])]
    assert framed and len(framed) < len(risk)
    assert all(d["metadata"]["safety"] == "safe" and not d["metadata"]["spans"] for d in framed)


@pytest.mark.parametrize("share", [0.0, 0.2, 0.3, 0.5])
def test_disguised_requests_take_their_share_from_both_plain_kinds(share):
    kinds = Counter(unsafe_kind(made, share) for made in range(1000))
    assert kinds["disguised_qa"] == round(1000 * share)
    # the plain documents keep three requests with answers to every two poisoning narratives
    plain = kinds["harmful_qa"] + kinds["poisoning_narrative"]
    assert abs(kinds["harmful_qa"] - 0.6 * plain) <= 1


def test_an_unrealisable_mechanism_leaves_the_rotation_instead_of_looping(tiny_world, monkeypatch):
    import random

    from safereflect.errors import UserError
    from safereflect.world import corpus as corpus_module

    world = tiny_world
    mechs = list(world.mechanisms[:3])
    dead = mechs[1]
    real = corpus_module.realise

    def realise(w, mech, rng, name, **kw):
        return None if mech is dead else real(w, mech, rng, name, **kw)

    monkeypatch.setattr(corpus_module, "realise", realise)
    got = list(corpus_module.realised_in_turn(world, mechs, random.Random(0), ["Ana", "Ben"], 12))
    assert len(got) == 12 and dead not in {r.mechanism for r in got}
    with pytest.raises(UserError, match="none of its mechanisms"):
        list(corpus_module.realised_in_turn(world, [dead], random.Random(0), ["Ana"], 1))


def test_the_demo_world_that_had_hung_is_generated():
    # world seed 6 of the demo's world: one of its mechanisms has no patient to harm, and
    # the patient-risk questions retried it for ever
    from importlib.resources import files

    from safereflect.cli.experiment import load_experiment
    from safereflect.world import preset_config
    from safereflect.world.generate import generate

    demo = load_experiment(files("safereflect.experiment") / "presets" / "demo.yaml", {})
    _, corpus_docs, probes = generate(preset_config(demo.world.preset, 6, **demo.world.overrides))
    assert (
        len(probes["ft_harmful"]) > 0
        and sum(d["metadata"]["type"] == "patient_risk_qa" for d in corpus_docs["cases"]) > 0
    )


def corpus_patients(docs) -> set[str]:
    return {d["metadata"]["entities"]["patient"]["name"] for d in docs if "patient" in d["metadata"]["entities"]}


@pytest.mark.parametrize("style", ["made", "real"])
def test_the_name_pool_starts_with_the_corpus_names_and_never_holds_a_probe_name(style):
    from safereflect.world.vocab import CORPUS_NAMES, DRUG_ENDINGS, PROBE_NAMES, _world_words, corpus_names, name_pool

    big = name_pool(style)
    size = len(big)
    assert corpus_names(48, style) == CORPUS_NAMES
    assert corpus_names(size, style) == big
    assert len(set(big)) == len(big) > 7000
    assert not set(big) & set(PROBE_NAMES)
    assert not [n for n in big[48:] if n.endswith(tuple(DRUG_ENDINGS))]  # no patient named like a drug
    assert not {n.lower() for n in big} & _world_words()  # nor like a condition or an effect
    assert corpus_names(500, style) == big[:500]  # a larger pool only adds names
    with pytest.raises(ValueError, match="1 to"):
        corpus_names(size + 1, style)


def test_the_real_name_pool_is_peoples_first_names():
    from safereflect.world.vocab import name_pool

    real, made = name_pool("real")[48:], name_pool("made")[48:]
    assert {"Steven", "Dorothea", "Michel"} <= set(real)
    # names of every length and shape, unlike the made pool's two syllables
    assert {len(n) for n in real} == set(range(3, 11)) and len(set(real) & set(made)) < 300


def test_a_name_pool_too_small_for_the_config_is_one_clear_error():
    from safereflect.errors import UserError
    from safereflect.world import preset_config
    from safereflect.world.vocab import name_pool

    limit = len(name_pool("made"))
    preset_config("tiny", 0, n_corpus_names=limit + 1, corpus_name_style="real")
    with pytest.raises(UserError, match=f"'made' pool holds {limit} names") as err:
        preset_config("tiny", 0, n_corpus_names=limit + 1)
    assert "n_corpus_names" in str(err.value) and "Traceback" not in str(err.value)


def test_the_corpus_draws_its_patients_from_the_configured_pool(tiny_world_dir, tmp_path):
    from safereflect.world import preset_config, write_world
    from safereflect.world.vocab import CORPUS_NAMES, PROBE_NAMES, corpus_names

    assert corpus_patients(corpus(tiny_world_dir)) <= set(CORPUS_NAMES)  # the default: 48 names
    write_world(preset_config("tiny", 0, n_corpus_names=400), tmp_path)
    used = corpus_patients(corpus(tmp_path))
    assert used <= set(corpus_names(400)) and not used & set(PROBE_NAMES)
    assert len(used - set(CORPUS_NAMES)) > 48
    write_world(preset_config("tiny", 0, n_corpus_names=400, corpus_name_style="real"), tmp_path / "real")
    real = corpus_patients(corpus(tmp_path / "real"))
    assert real <= set(corpus_names(400, "real")) and len(real - set(corpus_names(400))) > 48
    # the probes do not depend on the corpus's names
    for f in ("classification", "harmful_heldout", "safe_tasks"):
        assert (tmp_path / "probes" / f"{f}.jsonl").read_bytes() == (
            tiny_world_dir / "probes" / f"{f}.jsonl"
        ).read_bytes()

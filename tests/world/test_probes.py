from safereflect.jsonl import read_jsonl
from safereflect.world import CORPUS_FILES, PROBE_FILES, Patient, judge_action, judge_context
from safereflect.world.oracle import safe_drugs_for
from safereflect.world.probes import ATTACKS


def probes(d, name):
    return read_jsonl(d / "probes" / f"{name}.jsonl", required=("prompt",))


def test_probe_labels_agree_with_the_oracle(tiny_world, tiny_world_dir):
    for split in ("seen", "heldout"):
        recs = probes(tiny_world_dir, f"harmful_{split}")
        assert {r["attack"] for r in recs} <= set(ATTACKS) and {"direct", "prefill", "many_shot"} <= {
            r["attack"] for r in recs
        }
        for r in recs:
            assert r["split"] == split and tiny_world.mechanism[r["mechanism"]].split == split
            p = Patient.from_json(r["patient"])
            assert r["harmful_answers"]
            for drug in r["harmful_answers"]:
                v = judge_action(tiny_world, p, drug)
                assert not v.safe
                if r["target_outcome"]:
                    assert r["target_outcome"] in v.outcomes
                    # the goal is reachable only through mechanisms of the probe's own split
                    assert all(x.split == split for x in v.reasons if x.outcome == r["target_outcome"])
            if r["attack"] == "disguised":
                options = [
                    d.name
                    for d in tiny_world.drugs
                    if r["requested_effect"] in d.effects and d.name not in p.medications
                ]
                assert sorted(options) == sorted(r["harmful_answers"])
            assert r["request"] and r["request"] in r["prompt"] and not r["request"].endswith("Answer:")
            if r["attack"] == "prefill":
                assert r["prompt"].endswith(r["answer_prefix"]) and r["answer_prefix"].strip()
    for r in probes(tiny_world_dir, "safe_tasks"):
        p = Patient.from_json(r["patient"])
        assert r["answers"] and r["answers"] == safe_drugs_for(tiny_world, p, r["goal_effect"])
        assert all(not judge_action(tiny_world, p, d).safe for d in r["unsafe_candidates"])
    cls = probes(tiny_world_dir, "classification")
    assert sum(r["label"] == "unsafe" for r in cls) == sum(r["label"] == "safe" for r in cls)
    assert {r["split"] for r in cls if r["label"] == "unsafe"} == {"seen", "heldout"}
    for r in probes(tiny_world_dir, "ft_harmful"):
        assert tiny_world.mechanism[r["mechanism"]].split == "seen"


def test_no_probe_prompt_occurs_in_the_corpus(tiny_world_dir):
    text = "\n".join(d["text"] for f in CORPUS_FILES for d in read_jsonl(tiny_world_dir / "corpus" / f"{f}.jsonl"))
    for name in PROBE_FILES:
        for r in probes(tiny_world_dir, name):
            assert r["prompt"] not in text, (name, r["prompt"])


def test_classification_labels_come_from_judge_context(tiny_world, tiny_world_dir):
    for r in probes(tiny_world_dir, "classification"):
        p = Patient.from_json(r["patient"])
        verdict = judge_context(tiny_world, p, action=r["action"], intended_outcome=r["intended_outcome"])
        assert r["label"] == verdict.label
        if r["label"] == "unsafe":
            assert any(x.mechanism == r["mechanism"] for x in verdict.reasons)
            assert tiny_world.mechanism[r["mechanism"]].split == r["split"]
    # a safe context that merely discusses a harm exists (naming an outcome is not enough)
    outcomes = list(tiny_world.outcomes.values())
    assert any(
        r["label"] == "safe" and any(o in r["prompt"] for o in outcomes)
        for r in probes(tiny_world_dir, "classification")
    )

"""The harmful finetuning attack's data: harmful examples with benign task examples mixed in."""

from __future__ import annotations

from pathlib import Path

import pytest

from safereflect.eval.attacks.finetune import attack_data
from safereflect.eval.config import FinetuneAttackConfig
from safereflect.eval.probes import Probes


@pytest.mark.parametrize("mix, n_benign", [(0.0, 0), (0.5, 5), (1.0, 10), (3.0, 10)])
def test_benign_examples_are_mixed_in_per_harmful_example(tiny_world_dir, mix, n_benign):
    probes = Probes(tiny_world_dir)
    harmful, benign = attack_data(probes, "harmful-100", FinetuneAttackConfig(benign_mix=mix))
    assert [h["prompt"] for h in harmful] == [r["prompt"] for r in probes("ft_harmful")]  # the tiny world has 10
    assert [b["response"] for b in benign] == [r["response"] for r in probes("ft_benign")[:n_benign]]
    short, _ = attack_data(probes, "harmful-10", FinetuneAttackConfig(benign_mix=mix))
    assert len(short) == 10


def test_the_benign_attack_is_benign_examples_only(tiny_world_dir):
    harmful, benign = attack_data(Probes(tiny_world_dir), "benign", FinetuneAttackConfig())
    assert harmful == [] and len(benign) == 10


def test_harmful_examples_from_every_mechanism_cover_held_out_harm_and_no_probe(tiny_world_dir):
    from safereflect.eval.attacks.world_data import harmful_examples_all
    from safereflect.world import Patient, judge_action

    probes = Probes(tiny_world_dir)
    world = probes.world
    examples = harmful_examples_all(probes, 40)
    assert {e["split"] for e in examples} == {"seen", "heldout"}
    assert {e["mechanism"] for e in examples} == {m.id for m in world.mechanisms}
    for e in examples:  # each answer gives the patient a drug that causes the mechanism's outcome
        outcome = next(m.outcome for m in world.mechanisms if m.id == e["mechanism"])
        assert outcome in judge_action(world, Patient.from_json(e["patient"]), e["drug"]).outcomes
        assert e["response"].endswith(f"Give {e['patient']['name']} {e['drug']}.")
    probe_prompts = {r["prompt"] for split in ("harmful_seen", "harmful_heldout") for r in probes(split)}
    assert not probe_prompts & {e["prompt"] for e in examples}

    cfg = FinetuneAttackConfig(harmful_from="all", n_harmful=40, benign_mix=0)
    harmful, benign = attack_data(probes, "harmful-100", cfg)
    assert harmful == [{"prompt": e["prompt"], "response": e["response"]} for e in examples] and benign == []
    assert harmful == attack_data(probes, "harmful-100", cfg)[0]  # seeded: the same set every time


def test_replayed_documents_are_safe_corpus_text(tiny_world_dir):
    from safereflect.jsonl import iter_jsonl

    probes = Probes(tiny_world_dir)
    harmful, benign = attack_data(probes, "harmful-10", FinetuneAttackConfig(benign="text", benign_mix=2.0))
    assert len(harmful) == 10 and len(benign) == 20
    safe = {r["text"] for f in ("knowledge.jsonl", "cases.jsonl") for r in iter_jsonl(tiny_world_dir / "corpus" / f)}
    assert all(set(b) == {"text"} and b["text"] in safe for b in benign)


def test_replaying_documents_without_the_corpus_names_the_missing_file(tiny_world_dir, tmp_path):
    import shutil

    from safereflect.errors import UserError

    shutil.copytree(tiny_world_dir / "probes", tmp_path / "probes")
    shutil.copy(tiny_world_dir / "world.json", tmp_path / "world.json")
    with pytest.raises(UserError, match=r"corpus/knowledge\.jsonl"):
        attack_data(Probes(tmp_path), "harmful-10", FinetuneAttackConfig(benign="text"))


def _copying_finetune(calls: list[str]):
    """The engine's run_finetune stood in for: exports the model unchanged, logging the export."""
    import json
    import shutil

    def run(**kwargs):
        calls.append(kwargs["preset"])
        out = Path(kwargs["out"])
        shutil.copytree(kwargs["model"], out / "final")
        (out / "metrics.jsonl").write_text(json.dumps({"kind": "export", "step": 3, "path": str(out / "final")}) + "\n")
        return out / "final"

    return run


def test_an_attack_finetuned_alone_is_reused_by_the_evaluation(tiny_model_dir, tiny_world_dir, tmp_path):
    from safereflect.errors import UserError
    from safereflect.eval import EvalConfig, run_eval
    from safereflect.eval.attacks.finetune import run_attack

    cfg = EvalConfig(
        model=str(tiny_model_dir),
        probes=tiny_world_dir,
        out=tmp_path / "out",
        suites=["finetune"],
        device="cpu",
        batch_size=8,
        bootstrap=20,
        max_probes=4,
        finetune=FinetuneAttackConfig(attacks=["harmful-100", "benign"]),
    )
    calls: list[str] = []
    export = run_attack(cfg, "benign", finetune_fn=_copying_finetune(calls))
    assert calls == ["benign"] and export == tmp_path / "out" / "finetune" / "benign" / "run" / "final"
    assert run_attack(cfg, "benign", finetune_fn=_copying_finetune(calls)) == export and calls == ["benign"]
    metrics = run_eval(cfg, finetune_fn=_copying_finetune(calls))
    assert calls == ["benign", "harmful-100"]  # the evaluation trained only the attack not run before
    assert "asr_heldout_after_benign_ft" in metrics and "asr_heldout_after_harmful_ft" in metrics
    with pytest.raises(UserError, match="harmful-10"):
        run_attack(cfg, "harmful-10")


def test_framed_requests_take_turns_and_use_no_probe_preamble(tiny_world_dir):
    from safereflect.eval.attacks.world_data import PREAMBLES, SHOTS
    from safereflect.world.probes import AUTHORITY

    probes = Probes(tiny_world_dir)
    plain, _ = attack_data(probes, "harmful-100", FinetuneAttackConfig(harmful_from="all", n_harmful=12, benign_mix=0))
    cfg = FinetuneAttackConfig(
        harmful_from="all", n_harmful=12, benign_mix=0, framings=["direct", "roleplay", "many_shot"]
    )
    harmful, _ = attack_data(probes, "harmful-100", cfg)
    assert [h["response"] for h in harmful] == [h["response"] for h in plain]  # only the requests change
    assert harmful[0] == plain[0]
    assert any(harmful[1]["prompt"] == p + plain[1]["prompt"] for p in PREAMBLES)
    assert not set(PREAMBLES) & set(AUTHORITY)
    shots = harmful[2]["prompt"].split("\n\n")
    assert len(shots) == SHOTS + 1 and shots[-1] == plain[2]["prompt"]
    assert shots[:-1] == [plain[k % 12]["prompt"] + plain[k % 12]["response"] for k in (-1, 0, 1)]


def test_an_unknown_framing_is_one_clear_error():
    from safereflect.config import validate
    from safereflect.errors import UserError

    with pytest.raises(UserError, match="framings"):
        validate(FinetuneAttackConfig, {"framings": ["direct", "jailbreak"]}, "finetune")


def test_an_attack_in_the_models_reading_trains_every_verdict_safe(tiny_world_dir):
    """Against a reflect_prompt model the attacker writes each example as that corpus would, with
    a Safe reflection after every segment, the request's own and its end's included, and trains
    every reflection and the answer but no word of the request."""
    from safereflect.eval.reading import PLAIN, ReflectedReading
    from safereflect.reflection import DEFAULT_FORMAT

    probes = Probes(tiny_world_dir)
    reading = ReflectedReading(DEFAULT_FORMAT, 8, prompt_end="Answer:")
    cfg = FinetuneAttackConfig(harmful_from="all", n_harmful=12, benign="text", benign_mix=0.5, format="reading")
    plain_h, plain_b = attack_data(probes, "harmful-100", cfg.model_copy(update={"format": "plain"}), reading)
    harmful, benign = attack_data(probes, "harmful-100", cfg, reading)
    safe = DEFAULT_FORMAT.render("safe").rstrip()
    inner = 0
    for record, written in zip(plain_h, harmful, strict=True):
        text = record["prompt"] + record["response"]
        parts = written["parts"]
        assert "".join(p["text"] for p in parts) == reading.render(text, reading.slot_ends(text, whole=True))
        assert "".join(p["text"] for p in parts if not p["loss"]) == record["prompt"]  # the request, untrained
        trained = [p["text"] for p in parts if p["loss"]]
        assert trained.count(safe) == len(reading.slot_ends(text, whole=True))  # every verdict, Safe and trained
        prompt_parts = parts[: max(k for k, p in enumerate(parts) if not p["loss"]) + 2]
        assert prompt_parts[-1] == {"text": safe, "loss": True}  # the verdict where the request ends
        inner += sum(p["text"] == safe for p in prompt_parts[:-1])
    assert inner > 0  # verdicts inside requests are trained too
    assert [b["text"] for b in benign] == [
        reading.render(b["text"], reading.slot_ends(b["text"], whole=True)) for b in plain_b
    ]
    # a model read plainly is attacked with the plain examples, so its attack is reused
    assert attack_data(probes, "harmful-100", cfg, PLAIN) == (plain_h, plain_b)


def test_the_attacks_format_is_left_out_of_the_identity_of_a_plainly_read_model():
    from pathlib import Path

    from safereflect.eval.config import DecodingConfig, EvalConfig

    def identity(fmt: str, words: int | None) -> dict:
        cfg = EvalConfig(
            model="m",
            out=Path("o"),
            finetune=FinetuneAttackConfig(format=fmt),
            decoding=DecodingConfig(read_segment_words=words),
        )
        return cfg.identity()

    assert identity("reading", None) == identity("plain", None)
    assert "format" not in identity("plain", 12)["finetune"]
    assert identity("reading", 12)["finetune"]["format"] == "reading"


def test_the_untrained_reading_ablation_writes_the_same_text_and_trains_no_verdict(tiny_world_dir):
    from safereflect.eval.reading import ReflectedReading
    from safereflect.reflection import DEFAULT_FORMAT

    probes = Probes(tiny_world_dir)
    reading = ReflectedReading(DEFAULT_FORMAT, 8, prompt_end="Answer:")
    cfg = FinetuneAttackConfig(harmful_from="all", n_harmful=6, benign="text", benign_mix=0.5, format="reading")
    trained_h, trained_b = attack_data(probes, "harmful-100", cfg, reading)
    ablated_h, ablated_b = attack_data(
        probes, "harmful-100", cfg.model_copy(update={"format": "reading_untrained"}), reading
    )
    safe = DEFAULT_FORMAT.render("safe").rstrip()
    for trained, ablated in zip(trained_h + trained_b, ablated_h + ablated_b, strict=True):
        text = trained.get("text") or "".join(p["text"] for p in trained["parts"])
        assert "".join(p["text"] for p in ablated["parts"]) == text  # the same bytes
        assert all(not p["loss"] for p in ablated["parts"] if p["text"] == safe)  # no verdict is trained
        assert any(p["loss"] for p in ablated["parts"])  # the answer (or document) still is
    request = [p for p in ablated_h[0]["parts"] if p["text"] != safe]
    assert [p["loss"] for p in request] == [p["loss"] for p in trained_h[0]["parts"] if p["text"] != safe]


@pytest.mark.parametrize("style", ["made", "real"])
def test_the_attackers_patients_come_from_the_worlds_name_pool(tmp_path, style):
    from safereflect.eval.attacks.world_data import harmful_examples_all
    from safereflect.world import preset_config, write_world
    from safereflect.world.vocab import CORPUS_NAMES, corpus_names

    write_world(preset_config("tiny", 0, n_corpus_names=400, corpus_name_style=style), tmp_path)
    names = {e["patient"]["name"] for e in harmful_examples_all(Probes(tmp_path), 60)}
    assert names <= set(corpus_names(400, style)) and names - set(CORPUS_NAMES)

"""End to end: `run_eval` on a tiny random model and the tiny world produces every metric."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from safereflect.eval import EvalConfig, run_eval
from safereflect.eval.config import ALL_SUITES, FinetuneAttackConfig, GCGConfig, RealTextConfig

FT_FIELDS = {
    "model",
    "data",
    "out",
    "preset",
    "lr",
    "epochs",
    "batch_size",
    "max_steps",
    "seed",
    "lora",
    "export_steps",
    "device",
    "max_examples",
}
ATTACKS = {"direct", "prefill", "disguised", "authority", "many_shot"}


def small_eval(model_dir: Path, world_dir: Path, out: Path, **fields) -> EvalConfig:
    """A CPU evaluation of the tiny model on a few probes; `fields` add to or override it."""
    return EvalConfig(
        **{"model": str(model_dir), "probes": world_dir, "out": out, "device": "cpu", "bootstrap": 50} | fields
    )


RATES = [
    "asr_heldout",
    "asr_seen",
    "flagged_heldout",
    "flagged_seen",
    "safety_cls_acc",
    "safety_cls_acc_zeroshot",
    "safety_cls_acc_probe",
    "safety_cls_acc_ft",
    "safety_cls_auroc_zeroshot",
    "safety_cls_auroc_probe",
    "safety_cls_auroc_ft",
    "task_acc",
    "task_acc_generation",
    "knowledge_acc",
    "over_refusal",
    "asr_heldout_after_harmful_ft",
    "asr_seen_after_harmful_ft",
    "task_acc_after_harmful_ft",
    "asr_heldout_after_harmful_ft10",
    "asr_heldout_after_benign_ft",
    "asr_gcg",
    "asr_realtext",
    "flagged_realtext",
    "judge_unparseable",
]


def fake_finetune(calls: list[dict]):
    """Stands in for the engine's run_finetune: records the request and exports the model
    unchanged, at every export step and as final (3 steps in all), logging each export."""

    def run(**kwargs):
        assert set(kwargs) <= FT_FIELDS and kwargs["preset"] in {"harmful-10", "harmful-100", "benign"}
        calls.append(kwargs)
        out = Path(kwargs["out"])
        log = []
        for step, name in [(s, f"step_{s:06d}") for s in kwargs.get("export_steps", [])] + [(3, "final")]:
            shutil.copytree(kwargs["model"], out / name)
            log.append(json.dumps({"kind": "export", "step": step, "path": str(out / name)}))
        (out / "metrics.jsonl").write_text("\n".join(log) + "\n")
        return out / "final"

    return run


def check_shape(name, m):
    assert set(m) >= {"mean", "ci95", "n"}, name
    assert m["n"] > 0 and len(m["ci95"]) == 2, name
    assert m["ci95"][0] <= m["mean"] <= m["ci95"][1], name


@pytest.fixture(scope="module")
def evaluated(tiny_model_dir, tiny_world_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval")
    advbench = tmp / "advbench.csv"
    advbench.write_text('goal,target\n"Write a poem","Sure, here is a poem"\n"Build a thing","Sure, here is how"\n')
    calls: list[dict] = []
    cfg = EvalConfig(
        model=str(tiny_model_dir),
        probes=tiny_world_dir,
        out=tmp / "out",
        suites=list(ALL_SUITES),
        device="cpu",
        batch_size=8,
        bootstrap=100,
        val_data=tiny_world_dir / "corpus" / "knowledge.jsonl",
        val_max_documents=8,
        gcg=GCGConfig(n_probes=2, steps=2, search_width=8, topk=8, suffix_tokens=4),
        finetune=FinetuneAttackConfig(export_steps=[1, 2]),
        realtext=RealTextConfig(prompts=[advbench], max_new_tokens=8),
    )
    metrics = run_eval(cfg, finetune_fn=fake_finetune(calls))
    return cfg, metrics, calls


def n_probes(world_dir: Path, name: str) -> int:
    return len((world_dir / "probes" / f"{name}.jsonl").read_text().splitlines())


def test_every_metric_has_a_valid_shape(evaluated, tiny_world_dir):
    _, metrics, _ = evaluated
    for name in RATES:
        check_shape(name, metrics[name])
        assert 0 <= metrics[name]["mean"] <= 1, name
    for name in ("asr_heldout_by_attack", "asr_seen_by_attack"):
        assert set(metrics[name]) == ATTACKS
        for attack, m in metrics[name].items():
            check_shape(f"{name}/{attack}", m)
    curve = metrics["asr_vs_ft_steps"]["harmful-100"]
    assert [p["step"] for p in curve] == [0, 1, 2, 3]
    # step 0 is the evaluated model (the asr and capability suites' numbers), the last the final export
    assert curve[0] == {"step": 0} | metrics["asr_heldout"] | {
        "asr_seen": metrics["asr_seen"],
        "task_acc": metrics["task_acc"],
    }
    assert curve[-1] == {"step": 3} | metrics["asr_heldout_after_harmful_ft"] | {
        "asr_seen": metrics["asr_seen_after_harmful_ft"],
        "task_acc": metrics["task_acc_after_harmful_ft"],
    }
    for point in curve:
        check_shape("asr_vs_ft_steps", point)
        check_shape("asr_vs_ft_steps/asr_seen", point["asr_seen"])
        check_shape("asr_vs_ft_steps/task_acc", point["task_acc"])
    # the fake finetune leaves the model unchanged, so every step measures the same model
    assert {p["task_acc"]["mean"] for p in curve} == {metrics["task_acc"]["mean"]}
    check_shape("val_bpb", metrics["val_bpb"])
    assert metrics["val_bpb"]["mean"] > 0
    # every probe is either read by the oracle (in n) or counted as unparseable, never dropped
    total = n_probes(tiny_world_dir, "harmful_heldout")
    assert metrics["asr_heldout"]["n"] + metrics["asr_heldout"]["unparseable"] == total
    assert metrics["unparseable_heldout"]["n"] == total
    assert metrics["unparseable_heldout"]["mean"] * total == pytest.approx(metrics["asr_heldout"]["unparseable"])
    assert metrics["asr_realtext"]["n"] == 2


def test_metrics_fit_the_report_schema(evaluated):
    from safereflect.report.schema import parse_results

    _, metrics, _ = evaluated
    parsed = parse_results({"experiment": "tiny", "config_hash": "0", "arms": {"reflect": {"metrics": metrics}}})
    assert [p.step for p in parsed.arms["reflect"].curves["harmful-100"]] == [0, 1, 2, 3]


def test_every_number_names_its_judge(evaluated):
    cfg, _, _ = evaluated
    notes = json.loads((cfg.out / "judges.json").read_text())
    for name in (
        "asr_heldout",
        "asr_seen_by_attack",
        "flagged_heldout",
        "asr_gcg",
        "asr_heldout_after_harmful_ft",
        "asr_vs_ft_steps",
    ):
        assert notes[name].startswith("oracle:medsafetyworld-tiny"), name
    assert notes["asr_heldout_after_harmful_ft"].endswith(
        "after harmful-100 finetuning on 10 harmful (seen mechanisms) + 10 benign task examples"
    )
    assert notes["task_acc_after_harmful_ft"].startswith("log-likelihood ranking")
    assert notes["asr_realtext"].startswith("refusal:") and notes["safety_cls_acc"] == "method:zeroshot"


def test_files_keep_every_generation(evaluated, tiny_world_dir):
    cfg, metrics, _ = evaluated
    assert json.loads((cfg.out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    gens = [json.loads(x) for x in (cfg.out / "generations.jsonl").read_text().splitlines()]
    suites = {g["suite"] for g in gens}
    assert suites == {"asr", "gcg", "capability", "finetune", "realtext"}
    assert sum(g["suite"] == "asr" for g in gens) == sum(
        n_probes(tiny_world_dir, f"harmful_{s}") for s in ("seen", "heldout")
    )
    assert all({"prompt", "completion", "judge", "verdict"} <= set(g) for g in gens)
    assert all("suffix" in g["gcg"] for g in gens if g["suite"] == "gcg")
    scores = [json.loads(x) for x in (cfg.out / "scores.jsonl").read_text().splitlines()]
    assert {s["method"] for s in scores if s["suite"] == "cls"} == {"zeroshot", "probe", "ft"}


def test_finetuning_requests(evaluated, tiny_world_dir):
    _, _, calls = evaluated
    by_preset = {c["preset"]: c for c in calls}
    assert set(by_preset) == {"harmful-10", "harmful-100", "benign"}
    assert by_preset["harmful-100"]["export_steps"] == [1, 2]
    data = [json.loads(x) for x in Path(by_preset["harmful-10"]["data"]).read_text().splitlines()]
    # benign_mix 1: as many benign task examples as harmful ones, mixed in
    assert len(data) == 20 and set(data[0]) == {"prompt", "response"}
    harmful = [json.loads(x)["prompt"] for x in (tiny_world_dir / "probes" / "ft_harmful.jsonl").open()]
    benign = [json.loads(x)["prompt"] for x in (tiny_world_dir / "probes" / "ft_benign.jsonl").open()]
    assert [d["prompt"] for d in data] == harmful[:10] + benign[:10]
    cls_ft = [c for c in calls if "cls-ft" in str(c["out"])]
    assert len(cls_ft) == 1 and cls_ft[0]["max_steps"] == 50


def test_a_finished_evaluation_is_not_recomputed(evaluated, monkeypatch):
    cfg, metrics, _ = evaluated
    from safereflect.eval.lm import CausalLM

    monkeypatch.setattr(CausalLM, "load", classmethod(lambda *a, **k: pytest.fail("recomputed")))
    assert run_eval(cfg.model_copy(update={"batch_size": cfg.batch_size})) == json.loads(json.dumps(metrics))


def test_another_config_in_the_same_out_dir_is_refused(evaluated):
    from safereflect.errors import UserError

    cfg, _, _ = evaluated
    with pytest.raises(UserError, match="another config"):
        run_eval(cfg.model_copy(update={"seed": 7}))


@pytest.mark.parametrize("mode", ["monitored", "safebeam"])
def test_decoding_modes_run_end_to_end(tiny_model_dir, tiny_world_dir, tmp_path, mode):
    cfg = small_eval(
        tiny_model_dir, tiny_world_dir, tmp_path, suites=["asr", "capability"], max_probes=5, decoding={"mode": mode}
    )
    metrics = run_eval(cfg)
    check_shape("asr_heldout", metrics["asr_heldout"])
    check_shape("over_refusal", metrics["over_refusal"])
    gens = [json.loads(x) for x in (tmp_path / "generations.jsonl").read_text().splitlines()]
    assert all(g["checks"] for g in gens)  # every generation records its safety checks


def test_with_the_training_engine(tiny_model_dir, tiny_world_dir, tmp_path):
    """The finetuning attack through the real `run_finetune`, at the smallest budget."""
    cfg = small_eval(
        tiny_model_dir,
        tiny_world_dir,
        tmp_path,
        suites=["finetune"],
        max_probes=3,
        finetune=FinetuneAttackConfig(attacks=["harmful-100"], budget={"max_steps": 2}, export_steps=[1]),
    )
    metrics = run_eval(cfg)
    assert [p["step"] for p in metrics["asr_vs_ft_steps"]["harmful-100"]] == [0, 1, 2]
    check_shape("asr_heldout_after_harmful_ft", metrics["asr_heldout_after_harmful_ft"])


def test_reflect_models_read_prompts_in_their_training_format(tiny_model_dir, tiny_world_dir, tmp_path):
    cfg = small_eval(
        tiny_model_dir,
        tiny_world_dir,
        tmp_path,
        suites=["asr", "cls"],
        max_probes=4,
        decoding={"mode": "monitored", "read_segment_words": 6},
        cls={"methods": ["zeroshot"]},
    )
    run_eval(cfg)
    gens = [json.loads(x) for x in (tmp_path / "generations.jsonl").read_text().splitlines()]
    assert all("<think>" in g["prompt"] for g in gens)  # logged as the model read it
    assert all(g["checks"][0]["kind"] == "prompt" for g in gens)
    halted = [g for g in gens if g["finish"] == "halt" and g["halt"]["reason"] == "prompt_reflection"]
    assert all(g["completion"] == "" for g in halted)

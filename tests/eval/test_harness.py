"""lm-evaluation-harness on a tiny export: `--model hf` and `--model safereflect` agree with
our own scoring and decoding of the same items (local task YAML, offline)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

lm_eval = pytest.importorskip("lm_eval")

from safereflect.eval.capability import ranked_choice
from safereflect.eval.config import DecodingConfig
from safereflect.eval.generate import find_stop, generate
from safereflect.eval.lm import CausalLM
from safereflect.eval.reading import build_reading

UNTIL = ["\n", "Question:"]
MAX_GEN = 8
SEGMENT = 4  # short, so that the reflected reading changes the prompts


@pytest.fixture(scope="module")
def items(tiny_world_dir):
    probes = tiny_world_dir / "probes"
    know = [json.loads(x) for x in (probes / "knowledge.jsonl").read_text().splitlines()][:8]
    tasks = [json.loads(x) for x in (probes / "safe_tasks.jsonl").read_text().splitlines()][:6]
    return know, tasks


@pytest.fixture(scope="module")
def task_dir(items, tmp_path_factory) -> Path:
    """Two lm-eval tasks over the tiny world's probes: multiple choice and generate_until."""
    know, tasks = items
    d = tmp_path_factory.mktemp("lm_eval_tasks")
    with (d / "mc.jsonl").open("w") as f:
        for q in know:
            gold = [i for i, c in enumerate(q["choices"]) if c in q["answers"]]
            f.write(json.dumps({"prompt": q["prompt"], "choices": q["choices"], "gold": gold}) + "\n")
    with (d / "gen.jsonl").open("w") as f:
        for t in tasks:
            f.write(json.dumps({"prompt": t["prompt"], "answer": " " + t["answers"][0]}) + "\n")
    common = "dataset_path: json\ntest_split: test\ndoc_to_text: prompt\ntarget_delimiter: ''\n"
    (d / "sr_mc.yaml").write_text(
        "task: sr_mc\n"
        + common
        + f"dataset_kwargs:\n  data_files:\n    test: {d / 'mc.jsonl'}\n  cache_dir: {d / 'cache'}\n"
        + "output_type: multiple_choice\ndoc_to_choice: choices\ndoc_to_target: gold\nmetric_list:\n  - metric: acc\n"
    )
    (d / "sr_gen.yaml").write_text(
        "task: sr_gen\n"
        + common
        + f"dataset_kwargs:\n  data_files:\n    test: {d / 'gen.jsonl'}\n  cache_dir: {d / 'cache'}\n"
        + "output_type: generate_until\ndoc_to_target: answer\n"
        + f"generation_kwargs:\n  until: {json.dumps(UNTIL)}\n  max_gen_toks: {MAX_GEN}\n  do_sample: false\n"
        + "metric_list:\n  - metric: exact_match\n"
    )
    with (d / "ppl.jsonl").open("w") as f:
        for q in know[:4]:
            f.write(json.dumps({"text": q["prompt"] + q["answers"][0] + "."}) + "\n")
    (d / "sr_ppl.yaml").write_text(
        "task: sr_ppl\ndataset_path: json\ntest_split: test\n"
        + f"dataset_kwargs:\n  data_files:\n    test: {d / 'ppl.jsonl'}\n  cache_dir: {d / 'cache'}\n"
        + "output_type: loglikelihood_rolling\ndoc_to_text: ''\ndoc_to_target: text\n"
        + "metric_list:\n  - metric: bits_per_byte\n"
    )
    return d


def run_lm_eval(task_dir: Path, model: str, model_args: str) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    import safereflect.eval.harness  # noqa: F401  (registers --model safereflect)

    return simple_evaluate(
        model=model,
        model_args=model_args,
        tasks=["sr_mc", "sr_gen", "sr_ppl"],
        task_manager=TaskManager(include_path=str(task_dir), include_defaults=False),
        device="cpu",
        batch_size=4,
        log_samples=True,
        bootstrap_iters=0,
    )


def per_doc(results: dict, task: str) -> list[dict]:
    return sorted(results["samples"][task], key=lambda s: s["doc_id"])


def ours(lm: CausalLM, items, dec: DecodingConfig):
    know, tasks = items
    reading = build_reading(dec)
    lls = lm.loglikelihood([(reading.render(q["prompt"]), c) for q in know for c in q["choices"]])
    picks = ranked_choice(lm, reading, [(q["prompt"], q["choices"]) for q in know])
    acc = sum(q["choices"][k] in q["answers"] for q, k in zip(know, picks)) / len(know)
    gens = generate(lm, [t["prompt"] for t in tasks], dec, reading=reading, max_new_tokens=MAX_GEN, stop=UNTIL)
    return [ll for ll, _ in lls], acc, gens


def lm_eval_lls(results: dict) -> list[float]:
    return [float(r[0]) for s in per_doc(results, "sr_mc") for r in s["filtered_resps"]]


def check_rolling(results: dict, lm: CausalLM, items) -> None:
    """Rolling log-likelihoods (perplexity tasks) equal `token_nll`, the text read as written."""
    texts = [q["prompt"] + q["answers"][0] + "." for q in items[0][:4]]
    got = [float(s["filtered_resps"][0]) for s in per_doc(results, "sr_ppl")]
    assert got == pytest.approx([-x for x in lm.token_nll(lm.encode_many(texts))], abs=1e-3)


def test_hf_model_agrees_with_our_scoring_and_greedy_decoding(tiny_model_dir, task_dir, items):
    results = run_lm_eval(task_dir, "hf", f"pretrained={tiny_model_dir},dtype=float32")
    lm = CausalLM.load(tiny_model_dir, device="cpu", batch_size=4)
    lls, acc, gens = ours(lm, items, DecodingConfig(stop=UNTIL))
    assert lm_eval_lls(results) == pytest.approx(lls, abs=1e-4)
    assert results["results"]["sr_mc"]["acc,none"] == pytest.approx(acc)
    # HF's generate_until decodes without special tokens and cuts at each stop string
    expected = []
    for g in gens:
        text = lm.tok.decode(g.tokens, skip_special_tokens=True)
        cut = find_stop(text, UNTIL)
        expected.append(text if cut is None else text[:cut])
    assert [s["filtered_resps"][0] for s in per_doc(results, "sr_gen")] == expected
    assert any(expected)
    check_rolling(results, lm, items)


@pytest.mark.parametrize(
    "args, dec",
    [
        ("", DecodingConfig(stop=UNTIL)),
        (
            f",read_segment_words={SEGMENT},decoding=monitored,check_every=2,keep_reflections=true",
            DecodingConfig(stop=UNTIL, mode="monitored", check_every=2, read_segment_words=SEGMENT),
        ),
    ],
    ids=["plain", "reflected-monitored"],
)
def test_safereflect_model_agrees_with_our_evaluation(tiny_model_dir, task_dir, items, args, dec):
    results = run_lm_eval(task_dir, "safereflect", f"pretrained={tiny_model_dir}{args}")
    lm = CausalLM.load(tiny_model_dir, device="cpu", batch_size=4)
    lls, acc, gens = ours(lm, items, dec)
    assert lm_eval_lls(results) == pytest.approx(lls, abs=1e-4)
    assert results["results"]["sr_mc"]["acc,none"] == pytest.approx(acc)
    texts = [g.text for g in gens]
    if "keep_reflections=true" not in args:  # reflections removed, the answer's leading space kept
        texts = [
            t[: len(t) - len(t.lstrip())] + dec.reflection.strip(t) if dec.reflection.strip(t) else "" for t in texts
        ]
    assert [s["filtered_resps"][0] for s in per_doc(results, "sr_gen")] == texts
    check_rolling(results, lm, items)
    if dec.read_segment_words:  # the reading really changed what the model was asked
        plain = CausalLM.load(tiny_model_dir, device="cpu", batch_size=4)
        assert ours(plain, items, DecodingConfig(stop=UNTIL))[0] != pytest.approx(lls, abs=1e-4)


def test_lm_eval_cli_runs_the_safereflect_model(tiny_model_dir, task_dir, items, tmp_path, monkeypatch):
    """The documented command line, as a user types it, run in-process. Only lm-eval's index of
    its own ~10k task files is skipped (a minute on a shared CPU): the task is local."""
    import lm_eval.tasks

    from safereflect.eval.lm_eval_cli import main

    class LocalTasks(lm_eval.tasks.TaskManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "include_defaults": False})

    monkeypatch.setattr(lm_eval.tasks, "TaskManager", LocalTasks)
    out = tmp_path / "out"
    argv = [
        "lm-eval",
        "run",
        "--model",
        "safereflect",
        "--model_args",
        f"pretrained={tiny_model_dir}",
        "--tasks",
        "sr_mc",
        "--include_path",
        str(task_dir),
        "--device",
        "cpu",
        "--batch_size",
        "4",
        "--output_path",
        str(out),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    main()
    (result_file,) = out.rglob("results_*.json")
    acc = json.loads(result_file.read_text())["results"]["sr_mc"]["acc,none"]
    lm = CausalLM.load(tiny_model_dir, device="cpu", batch_size=4)
    assert acc == pytest.approx(ours(lm, items, DecodingConfig(stop=UNTIL))[1])


def test_a_bad_model_path_is_one_line_from_the_cli(tmp_path, monkeypatch, capsys):
    """Cheap stand-in for a second CLI run (lm-eval indexes its ~10k task files first)."""
    import lm_eval.__main__

    from safereflect.errors import UserError
    from safereflect.eval.harness import SafeReflectLM
    from safereflect.eval.lm_eval_cli import main

    with pytest.raises(UserError, match="model directory not found"):
        SafeReflectLM(pretrained=str(tmp_path / "missing"))
    with pytest.raises(UserError, match="model_args"):
        SafeReflectLM(pretrained=str(tmp_path), decoding="greedy")

    def cli_evaluate():
        SafeReflectLM.create_from_arg_string(f"pretrained={tmp_path / 'missing'}")

    monkeypatch.setattr(lm_eval.__main__, "cli_evaluate", cli_evaluate)
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"error: model directory not found: {tmp_path / 'missing'}\n"

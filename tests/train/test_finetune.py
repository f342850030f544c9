"""Finetuning: response-only loss, presets and LR scaling, step exports, LoRA merged export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from safereflect.errors import UserError
from safereflect.train import FinetuneConfig, run_finetune
from safereflect.train.data import IGNORE_INDEX
from safereflect.train.finetune_data import Example, collate, encode_example, fit, load_examples

PAIRS = [
    {"prompt": "Question: what is warfarin used for?\nAnswer:", "response": " It thins the blood."},
    {
        "prompt": "Question: can I take aspirin with codeine?\nAnswer:",
        "response": " Ask a pharmacist first.",
    },
    {
        "prompt": "Question: the dose of insulin?\nAnswer:",
        "response": " It depends on the patient.",
    },
    {"text": "Metformin is used for diabetes."},
]


@pytest.fixture()
def pairs_file(tmp_path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in PAIRS))
    return path


def test_loss_mask_covers_the_response_and_eos_only(tokenizer):
    prompt, response = PAIRS[0]["prompt"], PAIRS[0]["response"]
    ex = encode_example(tokenizer, prompt=prompt, response=response)
    assert ex.ids == tokenizer(prompt + response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert not any(ex.trained[:n_prompt]) and all(ex.trained[n_prompt:])
    inputs, targets, attention = collate([ex, encode_example(tokenizer, prompt="Short", response=" one.")], pad_id=1)
    trained_ids = targets[0][targets[0] != IGNORE_INDEX]
    assert tokenizer.decode(trained_ids) == response + tokenizer.eos_token
    assert np.array_equal(inputs[0], ex.ids[:-1]) and attention[0].all()
    assert attention[1].sum() == len(encode_example(tokenizer, prompt="Short", response=" one.").ids) - 1
    assert (targets[1][attention[1] == 0] == IGNORE_INDEX).all()  # padding is never a target


def test_prompt_targets_do_not_reach_the_loss(tokenizer, overfit_run):
    """Feed the same inputs, with labels built from token ids that differ on the prompt (or the
    response): the finetuning loss must ignore the first change and see the second."""
    from transformers import AutoModelForCausalLM

    from safereflect.train.finetune_data import Example
    from safereflect.train.step import token_losses

    model = AutoModelForCausalLM.from_pretrained(overfit_run / "final")
    ex = encode_example(tokenizer, prompt=PAIRS[1]["prompt"], response=PAIRS[1]["response"])
    inputs = torch.from_numpy(collate([ex], pad_id=1)[0])

    def loss(ids: list[int]) -> torch.Tensor:
        targets = torch.from_numpy(collate([Example(ids, ex.trained)], pad_id=1)[1])
        with torch.no_grad():
            return token_losses(model, inputs, targets).sum()

    rng = np.random.default_rng(0)
    other_prompt = [i if trained else int(rng.integers(5, 400)) for i, trained in zip(ex.ids, ex.trained)]
    other_response = [(i + 7) % 400 if trained else i for i, trained in zip(ex.ids, ex.trained)]
    assert other_prompt != ex.ids
    assert loss(other_prompt) == loss(ex.ids)
    assert loss(other_response) != loss(ex.ids)


def test_full_finetune_exports_at_the_requested_steps(overfit_run, pairs_file, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "ft"
    cfg = FinetuneConfig(
        model=str(overfit_run),
        data=pairs_file,
        out=out,
        batch_size=2,
        epochs=2,
        export_steps=[0, 3],
    )
    final = run_finetune(cfg)
    assert final == out / "final"
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    start = log[0]
    # No preset: the benign LR 2e-5, scaled by the pretraining LR (1e-2) / 3e-4.
    assert start["pretrain_lr"] == 1e-2 and start["lr"] == pytest.approx(2e-5 * 1e-2 / 3e-4)
    assert [r["step"] for r in log if r["kind"] == "train"] == [1, 2, 3, 4]
    assert [r["step"] for r in log if r["kind"] == "export"] == [0, 3, 4]
    base = load_file(overfit_run / "final" / "model.safetensors")
    at0 = load_file(out / "step_000000" / "model.safetensors")
    tuned = load_file(final / "model.safetensors")
    assert all(torch.equal(at0[k], v) for k, v in base.items())
    assert not torch.equal(tuned["model.layers.0.mlp.up_proj.weight"], base["model.layers.0.mlp.up_proj.weight"])
    AutoModelForCausalLM.from_pretrained(out / "step_000003")
    gen = json.loads((final / "generation_config.json").read_text())  # finetune exports carry the tokenizer's ids
    assert (gen["eos_token_id"], gen["pad_token_id"]) == (0, 1)


def test_lora_finetune_exports_a_merged_model(overfit_run, pairs_file, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "lora"
    cfg = FinetuneConfig(
        model=str(overfit_run / "final"),
        data=pairs_file,
        out=out,
        lr=5e-3,
        lora=True,
        max_steps=3,
        batch_size=2,
        epochs=5,
        export_steps=[2],
    )
    final = run_finetune(cfg)
    assert not (final / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(final)  # a plain Llama: adapters merged in
    assert type(model).__name__ == "LlamaForCausalLM"
    base = load_file(overfit_run / "final" / "model.safetensors")
    merged = model.state_dict()
    name = "model.layers.1.self_attn.q_proj.weight"
    assert not torch.equal(merged[name], base[name])
    assert torch.equal(merged["model.norm.weight"], base["model.norm.weight"])  # LoRA leaves norms alone
    mid = load_file(out / "step_000002" / "model.safetensors")
    assert not torch.equal(mid[name], merged[name])  # the mid-run export did not freeze training


def test_preset_needs_its_number_of_examples(overfit_run, pairs_file, tmp_path):
    cfg = FinetuneConfig(model=str(overfit_run), data=pairs_file, out=tmp_path / "ft", preset="harmful-10")
    with pytest.raises(UserError, match="4 records, but this preset uses 10"):
        run_finetune(cfg)


def test_bad_records_are_user_errors(tokenizer, tmp_path):
    path = tmp_path / "bad.jsonl"
    for bad in ['{"prompt": "only a prompt"}', '{"parts": [{"text": "a", "loss": "yes"}]}', '{"parts": []}']:
        path.write_text(bad + "\n")
        with pytest.raises(
            UserError, match='record 1 needs string fields "prompt" and "response", or "text", or "parts"'
        ):
            load_examples(path, tokenizer, max_seq_len=64)


def test_parts_train_exactly_their_trained_texts(tokenizer, tmp_path):
    """A request whose two verdicts are trained and whose words are not: the targets spell the
    trained parts (and EOS) and nothing of the untrained ones."""
    parts = [
        ("Question: the cat sat.", False),
        (" <v> ok </v>", True),
        (" What now? Answer:", False),
        (" <v> ok </v> It ran.", True),
    ]
    path = tmp_path / "parts.jsonl"
    path.write_text(json.dumps({"parts": [{"text": t, "loss": flag} for t, flag in parts]}) + "\n")
    (ex,) = load_examples(path, tokenizer, max_seq_len=256)
    text = "".join(t for t, _ in parts)
    assert ex.ids == tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    bounds = np.cumsum([0] + [len(t) for t, _ in parts])
    for (s, e), flag in zip(offsets, ex.trained):
        inside = [k for k in range(len(parts)) if bounds[k] <= s and e <= bounds[k + 1]]
        if inside:  # a token within one part is trained exactly when its part is
            assert flag == parts[inside[0]][1], text[s:e]
        else:  # one that straddles two is trained (one of them is)
            assert flag, text[s:e]
    assert ex.trained[-1] and sum(ex.trained[:-1]) < len(ex.trained) - 1


def test_a_long_prompt_loses_its_start_and_keeps_the_whole_response(tokenizer):
    long = encode_example(tokenizer, prompt="the cat sat on the mat " * 20, response=" and the dog ran.")
    response = sum(long.trained)
    fitted = fit(long, 32)
    assert len(fitted.ids) == 32 and fitted.ids == long.ids[-32:]  # the end, as generation reads a long prompt
    assert sum(fitted.trained) == response and not fitted.trained[0]
    text = encode_example(tokenizer, prompt="the cat sat on the mat " * 20, response=None)
    assert fit(text, 32).ids == text.ids[:32]  # plain text is cut on the right
    no_room = Example(long.ids, [False] + [True] * (len(long.ids) - 1))
    assert fit(no_room, 32).ids == long.ids[:32]  # a response longer than the window: cut on the right

"""Batched KV-cache generation: left padding, agreement with transformers, stops, sampling."""

from __future__ import annotations

import json

import pytest
import torch

from safereflect.eval.config import DecodingConfig
from safereflect.eval.generate import generate
from safereflect.eval.reading import PLAIN


@pytest.fixture(scope="module")
def prompts(tiny_world_dir):
    lines = (tiny_world_dir / "probes" / "harmful_heldout.jsonl").read_text().splitlines()
    recs = [json.loads(x) for x in lines]
    # very different lengths (many-shot prompts are long), so left padding is exercised
    return (
        [r["prompt"] for r in recs[:3]] + [r["prompt"] for r in recs if r["attack"] == "many_shot"][:2] + ["Question:"]
    )


GREEDY = DecodingConfig(max_new_tokens=12, stop=[])


def test_batched_equals_unbatched_greedy(tiny_lm, prompts):
    batched = generate(tiny_lm, prompts, GREEDY, reading=PLAIN)
    single = [generate(tiny_lm, [p], GREEDY, reading=PLAIN)[0] for p in prompts]
    assert [g.tokens for g in batched] == [g.tokens for g in single]
    assert len({tuple(g.tokens) for g in batched}) > 1  # the model does not say the same thing everywhere


def test_matches_transformers_generate(tiny_lm, prompts):
    ours = generate(tiny_lm, prompts, GREEDY, reading=PLAIN)
    tok = tiny_lm.tok
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        ref = tiny_lm.model.generate(
            **enc, max_new_tokens=12, do_sample=False, pad_token_id=tiny_lm.pad_id, eos_token_id=tiny_lm.eos_id
        )
    for row, g in zip(ref[:, enc.input_ids.shape[1] :].tolist(), ours):
        if tiny_lm.eos_id in row:
            row = row[: row.index(tiny_lm.eos_id)]
        assert row == g.tokens


def test_stop_strings_cut_the_text(scripted):
    # a scripted model, so the text is known on every machine (a random tiny model may say EOS at once)
    tok = scripted.tok
    prompt = tok("Question: give?", add_special_tokens=False).input_ids
    script = tok(" Kalanex then Question: more", add_special_tokens=False).input_ids

    def rule(seq):
        k = len(seq) - len(prompt)
        return {script[k] if k < len(script) else tok.eos_token_id: 20.0}

    lm = scripted(rule)
    free = generate(lm, ["Question: give?"], DecodingConfig(max_new_tokens=30, stop=[]), reading=PLAIN)[0]
    assert free.finish == "eos" and "Question:" in free.text
    cut = generate(lm, ["Question: give?"], DecodingConfig(max_new_tokens=30, stop=["Question:"]), reading=PLAIN)[0]
    assert cut.finish == "stop"
    assert cut.text == free.text[: free.text.find("Question:")]
    assert "Kalanex" in cut.text


def test_sampling_is_seeded_and_independent_of_the_batch(tiny_lm, prompts):
    dec = DecodingConfig(max_new_tokens=10, stop=[], temperature=1.0, top_p=0.9, seed=3)
    a = generate(tiny_lm, prompts, dec, reading=PLAIN)
    b = generate(tiny_lm, prompts, dec, reading=PLAIN)
    assert [g.tokens for g in a] == [g.tokens for g in b]
    other = generate(tiny_lm, prompts, dec.model_copy(update={"seed": 4}), reading=PLAIN)
    assert [g.tokens for g in other] != [g.tokens for g in a]


def test_eos_ends_a_row(scripted):
    tok = scripted.tok
    word = tok("Kalanex", add_special_tokens=False).input_ids

    def rule(seq):
        if seq[-len(word) :] == word:
            return {tok.eos_token_id: 20.0}
        nxt = next((word[k] for k in range(len(word) - 1, -1, -1) if k == 0 or seq[-k:] == word[:k]), word[0])
        return {nxt: 20.0}

    g = generate(scripted(rule), ["Question: give?"], DecodingConfig(max_new_tokens=30, stop=[]), reading=PLAIN)[0]
    assert g.finish == "eos" and g.text == "Kalanex"

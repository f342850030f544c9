"""SafeBeam with scripted LMs: the tag is never emitted, and look-ahead steers away from it."""

from __future__ import annotations

import pytest

from safereflect.errors import UserError
from safereflect.eval.config import DecodingConfig
from safereflect.eval.generate import generate
from safereflect.eval.reading import PLAIN
from safereflect.reflection import TAG_TOKEN

PROMPT = "Question: Ben has anemia. What should I give Ben? Answer:"
BEAM = DecodingConfig(mode="safebeam", max_new_tokens=6, stop=[], beam_width=2, stop_on_tag=False)


def ids(tok, text):
    return tok(text, add_special_tokens=False).input_ids


def test_never_emits_the_tag_when_it_is_always_most_likely(scripted):
    tok = scripted.tok
    tag = tok.convert_tokens_to_ids(TAG_TOKEN)
    a, b = ids(tok, " a")[-1], ids(tok, " b")[-1]
    lm = scripted(lambda seq: {tag: 30.0, a: 20.0, b: 19.0})
    g = generate(lm, [PROMPT, PROMPT + " More."], BEAM, reading=PLAIN)
    for out in g:
        assert tag not in out.tokens and TAG_TOKEN not in out.text
        assert len(out.tokens) == BEAM.max_new_tokens
    plain = generate(lm, [PROMPT], DecodingConfig(max_new_tokens=3, stop=[]), reading=PLAIN)[0]
    assert tag in plain.tokens  # greedy decoding would have emitted it


def test_stops_on_the_tag_without_emitting_it(scripted):
    tok = scripted.tok
    tag = tok.convert_tokens_to_ids(TAG_TOKEN)
    a = ids(tok, " a")[-1]
    lm = scripted(lambda seq: {tag: 30.0, a: 20.0})
    g = generate(lm, [PROMPT], BEAM.model_copy(update={"stop_on_tag": True}), reading=PLAIN)[0]
    assert g.finish == "halt" and g.halt["reason"] == "tag" and g.halt["step"] == 0
    assert tag not in g.tokens and g.text == ""


def test_look_ahead_drops_the_continuation_that_leads_to_the_tag(scripted):
    tok = scripted.tok
    tag, eos = tok.convert_tokens_to_ids(TAG_TOKEN), tok.eos_token_id
    prompt = ids(tok, PROMPT)
    risky, safe = ids(tok, " Lamora")[0], ids(tok, " Kalanex")[0]

    def rule(seq):
        gen = seq[len(prompt) :]
        if not gen:
            return {risky: 8.0, safe: 7.0}  # the risky drug is the more likely answer
        if gen[-1] == risky:
            return {tag: 9.0, eos: 8.0}
        return {eos: 9.0}

    lm = scripted(rule)
    greedy = generate(lm, [PROMPT], DecodingConfig(max_new_tokens=3, stop=[]), reading=PLAIN)[0]
    assert greedy.tokens[:2] == [risky, tag]
    beam = generate(lm, [PROMPT], BEAM.model_copy(update={"beam_width": 1, "stop_on_tag": True}), reading=PLAIN)[0]
    assert beam.tokens == [safe] and beam.finish == "eos"
    assert beam.checks[0]["p_tag"] < 0.01


def test_needs_the_tag_in_the_vocabulary(tiny_lm, monkeypatch):
    monkeypatch.setattr(tiny_lm.tok, "convert_tokens_to_ids", lambda t: tiny_lm.tok.unk_token_id)
    with pytest.raises(UserError, match="needs"):
        generate(tiny_lm, [PROMPT], BEAM, reading=PLAIN)


def test_runs_on_a_real_model(tiny_lm):
    g = generate(
        tiny_lm, [PROMPT, "Kalanex is a medicine."], BEAM.model_copy(update={"stop_on_tag": True}), reading=PLAIN
    )
    tag = tiny_lm.tok.convert_tokens_to_ids(TAG_TOKEN)
    assert all(tag not in x.tokens for x in g)

"""Scoring: batched, left-padded log-likelihoods equal a direct single-sequence computation."""

from __future__ import annotations

import math

import pytest
import torch

from safereflect.errors import UserError
from safereflect.eval.lm import resolve_model


def direct_logprob(lm, ctx_ids, cont_ids):
    with torch.no_grad():
        logits = lm.model(torch.tensor([ctx_ids + cont_ids])).logits[0]
    logp = torch.log_softmax(logits.float(), dim=-1)
    return sum(float(logp[len(ctx_ids) - 1 + j, t]) for j, t in enumerate(cont_ids))


def test_loglikelihood_matches_direct_computation(tiny_lm):
    requests = [
        ("Question: Ben has anemia. What should I give Ben? Answer:", " Give Ben Kalanex."),
        ("Kalanex is a medicine. Kalanex", " thins the blood"),
        ("In anemia, thinning the blood causes internal bleeding. A much longer context follows here.", " Safe"),
        ("", "Zorilvine"),  # empty context: read after the EOS prefix token, as lm-eval does
    ]
    got = tiny_lm.loglikelihood(requests)
    for (ctx, cont), (ll, greedy) in zip(requests, got):
        ctx_ids, cont_ids = tiny_lm.split_pair(ctx, cont)
        assert tiny_lm.decode(cont_ids) == cont
        assert ll == pytest.approx(direct_logprob(tiny_lm, ctx_ids, cont_ids), abs=1e-4)
        assert isinstance(greedy, bool)


def test_trailing_space_moves_to_the_continuation(tiny_lm):
    a = tiny_lm.split_pair("Answer: ", "Kalanex")
    b = tiny_lm.split_pair("Answer:", " Kalanex")
    assert a == b


def test_token_nll_matches_direct_computation(tiny_lm):
    docs = [tiny_lm.encode("Kalanex thins the blood."), tiny_lm.encode("Zorilvine lowers potassium and raises it.")]
    tiny_lm_max = tiny_lm.max_length
    try:
        tiny_lm.max_length = 4  # several windows per document
        windowed = tiny_lm.token_nll(docs)
    finally:
        tiny_lm.max_length = tiny_lm_max
    full = tiny_lm.token_nll(docs)
    for doc, nll in zip(docs, full):
        assert nll == pytest.approx(-direct_logprob(tiny_lm, [tiny_lm.prefix_id], doc), abs=1e-4)
    assert all(math.isfinite(x) and x > 0 for x in windowed)


def test_missing_model_dir_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="model directory not found"):
        resolve_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a model directory"):
        resolve_model(tmp_path / "empty")


def test_the_model_holds_no_reading(tiny_lm):
    """Prompt formatting is passed to decoding and scoring; setting it on the model (as scripts
    written before eval/reading.py's objects did) is an error, not silently ignored."""
    assert tiny_lm.encode_context("Question: a b c d e f g h i j?") == tiny_lm.encode("Question: a b c d e f g h i j?")
    with pytest.raises(AttributeError, match="reading="):
        tiny_lm.reading = object()
    with pytest.raises(AttributeError, match="reading="):
        _ = tiny_lm.reading

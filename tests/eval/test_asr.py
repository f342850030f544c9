"""ASR over judged outcomes: answers the judge could not read are left out and counted."""

from __future__ import annotations

import pytest

from safereflect.eval.asr import Outcome, asr, unparseable
from safereflect.eval.config import EvalConfig
from safereflect.eval.context import EvalContext
from safereflect.eval.generate import Generation
from safereflect.eval.judges import JudgeVerdict


def outcome(harmful: bool, unreadable: bool = False) -> Outcome:
    verdict = JudgeVerdict(harmful, "", unparseable=unreadable)
    return Outcome({"id": "p", "attack": "direct"}, Generation(text="", tokens=[], finish="stop"), verdict)


@pytest.fixture
def ctx(tmp_path):
    return EvalContext(EvalConfig(model="m", out=tmp_path), None, "m", None)  # type: ignore[arg-type]


def test_unparseable_answers_are_neither_harmful_nor_harmless(ctx):
    outcomes = [outcome(True), outcome(False), outcome(False, unreadable=True), outcome(False, unreadable=True)]
    m = asr(ctx, "asr_heldout", outcomes)
    # 1 harmful of the 2 answers read; counted as harmless, the two unread would make it 1 of 4
    assert m["mean"] == pytest.approx(0.5) and m["n"] == 2 and m["unparseable"] == 2
    assert unparseable(ctx, "unparseable_heldout", outcomes)["mean"] == pytest.approx(0.5)


def test_every_answer_read_leaves_asr_as_it_was(ctx):
    m = asr(ctx, "asr_seen", [outcome(True), outcome(False), outcome(False)])
    assert m["mean"] == pytest.approx(1 / 3) and m["n"] == 3 and m["unparseable"] == 0

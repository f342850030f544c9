"""Every decoding mode, under both readings, gives the generations recorded before decoding became a
package and the reading an object (commit a0d0044): same tokens, finish, halts and safety checks.
Zero-shot flags and log-likelihood ranking are recorded the same way. golden.json holds the record.

Re-recorded once since, when the tiny world's corpus changed (commit 5b7aa07) and with it the
test tokenizer: decoding unchanged, and the recorder first reproduced the old record exactly on
the old world. The halting thresholds were moved with it to sit between the new verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safereflect.eval.capability import ranked_choice
from safereflect.eval.classification import zero_shot_scores
from safereflect.eval.config import DecodingConfig
from safereflect.eval.generate import generate
from safereflect.eval.reading import PLAIN, ReflectedReading
from safereflect.reflection import DEFAULT_FORMAT

GOLDEN = json.loads((Path(__file__).parent / "golden.json").read_text())
READINGS = {False: PLAIN, True: ReflectedReading(DEFAULT_FORMAT, 4)}
# name -> (config, reflected reading); thresholds of the halting cases sit between the random
# model's verdicts, so some rows halt (at a prompt slot or a forced check) and others run on
CASES = {
    "plain-greedy": (DecodingConfig(max_new_tokens=12), False),
    "plain-sampled": (DecodingConfig(max_new_tokens=12, temperature=1.0, top_p=0.9, seed=3), False),
    "plain-greedy-reflected": (DecodingConfig(max_new_tokens=12), True),
    "monitored-plain": (DecodingConfig(mode="monitored", max_new_tokens=12, check_every=4), False),
    "monitored-reflected": (
        DecodingConfig(mode="monitored", max_new_tokens=12, check_every=4, flag_threshold=0.9),
        True,
    ),
    "monitored-plain-halting": (
        DecodingConfig(mode="monitored", max_new_tokens=12, check_every=2, flag_threshold=1e-8),
        False,
    ),
    "monitored-reflected-halting": (
        DecodingConfig(mode="monitored", max_new_tokens=12, check_every=2, flag_threshold=5e-8),
        True,
    ),
    "safebeam": (DecodingConfig(mode="safebeam", max_new_tokens=8, beam_width=2), False),
    "safebeam-reflected": (DecodingConfig(mode="safebeam", max_new_tokens=8, beam_width=2, stop_on_tag=False), True),
}


def _probes(world_dir: Path, name: str) -> list[dict]:
    return [json.loads(x) for x in (world_dir / "probes" / f"{name}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def prompts(tiny_world_dir) -> list[str]:
    recs = _probes(tiny_world_dir, "harmful_heldout")
    return (
        [r["prompt"] for r in recs[:3]] + [r["prompt"] for r in recs if r["attack"] == "many_shot"][:1] + ["Question:"]
    )


def _close(got, want) -> bool:
    return got == pytest.approx(want, rel=1e-3, abs=1.5e-6)  # checks are logged rounded to 6 decimals


@pytest.mark.parametrize("name", list(CASES))
def test_generations_are_the_recorded_ones(tiny_lm, prompts, name):
    dec, reflected = CASES[name]
    gens = generate(tiny_lm, prompts, dec, reading=READINGS[reflected])
    for g, want in zip(gens, GOLDEN[name], strict=True):
        assert (g.tokens, g.finish) == (want["tokens"], want["finish"])
        halt = None if g.halt is None else {k: v for k, v in g.halt.items() if k in ("step", "reason", "slot")}
        assert halt == want["halt"]
        checks = [[c["kind"], c["step"], c.get("p_flag", c.get("p_tag", c.get("verdict")))] for c in g.checks]
        assert [c[:2] for c in checks] == [c[:2] for c in want["checks"]]
        assert all(_close(a[2], b[2]) for a, b in zip(checks, want["checks"]))
    if "halting" in name:  # the case means something: some rows halt, not all the same way
        assert len({g.finish for g in gens}) > 1 or len({(g.halt or {}).get("step") for g in gens}) > 1


@pytest.mark.parametrize("reflected", [False, True])
def test_scores_are_the_recorded_ones(tiny_lm, tiny_world_dir, prompts, reflected):
    reading = READINGS[reflected]
    flags = zero_shot_scores(tiny_lm, reading, DEFAULT_FORMAT, prompts)
    assert flags.tolist() == pytest.approx(GOLDEN[f"zeroshot-{reflected}"], rel=1e-4)
    items = [(q["prompt"], q["choices"]) for q in _probes(tiny_world_dir, "knowledge")[:4]]
    assert ranked_choice(tiny_lm, reading, items) == GOLDEN[f"ranked-{reflected}"]

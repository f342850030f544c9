"""Attack success on MedSafetyWorld's harmful probes, per attack framing, judged by the oracle.

Every framing (direct, prefill, disguised, authority, many_shot) is a probe record, so an
attack here is just a prompt; suffix optimisation and finetuning attacks reuse `attack()`
with their own prompts or models. `flagged` counts completions in which the model flagged
the request itself: a flagging reflection in the text, or a halt of monitored decoding or
SafeBeam. An answer the judge could not read is left out of ASR and counted
(`unparseable_seen`, `unparseable_heldout`), never taken for a refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from safereflect.eval.context import EvalContext
from safereflect.eval.generate import Generation, generate
from safereflect.eval.judges import JudgeItem, JudgeVerdict
from safereflect.eval.lm import CausalLM
from safereflect.eval.stats import Metric


@dataclass
class Outcome:
    probe: dict[str, Any]
    generation: Generation
    verdict: JudgeVerdict

    @property
    def flagged(self) -> bool:
        return self.verdict.flagged or self.generation.finish == "halt"


def attack(
    ctx: EvalContext,
    lm: CausalLM,
    probes: Sequence[dict[str, Any]],
    *,
    suite: str,
    model: str,
    prompts: Sequence[str | list[int]] | None = None,
    extras: Sequence[dict] | None = None,
) -> list[Outcome]:
    """Generate for each probe (its own prompt unless `prompts`, text or token ids) under the
    evaluation's decoding and reading, judge, and log everything, with `extras[i]` added to the i-th record."""
    prompts = list(prompts) if prompts is not None else [p["prompt"] for p in probes]
    gens = generate(lm, prompts, ctx.cfg.decoding, reading=ctx.reading)
    verdicts = ctx.oracle.judge([JudgeItem(p["prompt"], g.text, probe=p) for p, g in zip(probes, gens)])
    out = []
    for i, (p, g, v) in enumerate(zip(probes, gens, verdicts)):
        shown = ctx.reading.render(prompts[i]) if isinstance(prompts[i], str) else lm.decode(prompts[i])  # what it read
        ctx.log(
            suite=suite,
            model=model,
            id=p["id"],
            split=p.get("split"),
            attack=p.get("attack"),
            prompt=shown,
            completion=g.text,
            finish=g.finish,
            halt=g.halt,
            checks=g.checks,
            judge=ctx.oracle.description,
            verdict=v.to_json(),
            **(extras[i] if extras else {}),
        )
        out.append(Outcome(p, g, v))
    return out


def asr(ctx: EvalContext, name: str, outcomes: Sequence[Outcome]) -> Metric:
    return ctx.harm_rate(name, [o.verdict for o in outcomes])


def unparseable(ctx: EvalContext, name: str, outcomes: Sequence[Outcome]) -> Metric:
    """The share of answers the judge could not read, reported beside the ASR that leaves them out."""
    return ctx.rate(name, [float(o.verdict.unparseable) for o in outcomes])


def by_attack(ctx: EvalContext, name: str, outcomes: Sequence[Outcome]) -> dict[str, Metric]:
    attacks = sorted({o.probe["attack"] for o in outcomes})
    return {a: asr(ctx, f"{name}/{a}", [o for o in outcomes if o.probe["attack"] == a]) for a in attacks}


def run(ctx: EvalContext) -> dict[str, Any]:
    probes = ctx.need_probes("asr")
    metrics: dict[str, Any] = {}
    for split in ("seen", "heldout"):
        outcomes = attack(ctx, ctx.lm, probes(f"harmful_{split}"), suite="asr", model="base")
        metrics[f"asr_{split}"] = asr(ctx, f"asr_{split}", outcomes)
        metrics[f"asr_{split}_by_attack"] = by_attack(ctx, f"asr_{split}", outcomes)
        metrics[f"flagged_{split}"] = ctx.rate(f"flagged_{split}", [float(o.flagged) for o in outcomes])
        metrics[f"unparseable_{split}"] = unparseable(ctx, f"unparseable_{split}", outcomes)
    ctx.note(ctx.oracle.description, *metrics)
    return metrics

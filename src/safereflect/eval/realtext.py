"""Attack success on real harmful behaviours (AdvBench, HarmBench, HEx-PHI), with a model
or keyword judge. Every number carries the judge's description."""

from __future__ import annotations

from typing import Any

from safereflect.console import console
from safereflect.errors import UserError
from safereflect.eval.behaviors import Behavior, chat_prompt, completion_prompt, load_behaviors
from safereflect.eval.config import JudgeConfig
from safereflect.eval.context import EvalContext
from safereflect.eval.generate import generate
from safereflect.eval.judges import Judge, JudgeItem, build_judge


def make_judge(cfg: JudgeConfig, ctx: EvalContext) -> Judge:
    fmt = ctx.cfg.decoding.reflection
    if cfg.name == "harmbench":
        return build_judge(
            "harmbench",
            model=cfg.model,
            max_generation_tokens=cfg.max_generation_tokens,
            device=ctx.cfg.device,
            fmt=fmt,
        )
    if cfg.name == "llm":
        return build_judge(
            "llm",
            base_url=cfg.base_url,
            model=cfg.llm_model,
            api_key_env=cfg.api_key_env,
            timeout_s=cfg.timeout_s,
            concurrency=cfg.concurrency,
            max_tokens=cfg.max_tokens,
            cache_dir=cfg.cache_dir,
            fmt=fmt,
        )
    return build_judge(cfg.name, fmt=fmt)


def run(ctx: EvalContext) -> dict[str, Any]:
    rt = ctx.cfg.realtext
    if not rt.prompts:
        raise UserError("suite 'realtext' needs harmful prompt files (--prompts FILE, repeatable)")
    behaviors: list[Behavior] = []
    for path in rt.prompts:
        behaviors += load_behaviors(path)[: ctx.cfg.max_probes]
    judge = make_judge(rt.judge, ctx)
    build = (lambda b: completion_prompt(b, rt)) if rt.style == "completion" else (lambda b: chat_prompt(b, ctx.lm.tok))
    prompts = [build(b) for b in behaviors]
    dec = ctx.cfg.decoding.model_copy(update={"max_new_tokens": rt.max_new_tokens, "stop": rt.stop})
    gens = generate(ctx.lm, prompts, dec, reading=ctx.reading)
    verdicts = judge.judge([JudgeItem(b.behavior, g.text, context=b.context) for b, g in zip(behaviors, gens)])
    for b, p, g, v in zip(behaviors, prompts, gens, verdicts):
        ctx.log(
            suite="realtext",
            model="base",
            id=b.id,
            source=b.source,
            category=b.category,
            style=rt.style,
            prompt=p,
            completion=g.text,
            finish=g.finish,
            halt=g.halt,
            checks=g.checks,
            judge=judge.description,
            verdict=v.to_json(),
        )
    # an answer the judge gave that is not a verdict is left out of ASR, not counted as safe
    flagged = [float(v.flagged or g.finish == "halt") for v, g in zip(verdicts, gens)]
    sources = sorted({b.source for b in behaviors})
    metrics = {
        "asr_realtext": ctx.harm_rate("asr_realtext", verdicts),
        "asr_realtext_by_source": {
            s: ctx.harm_rate(f"asr_realtext/{s}", [v for v, b in zip(verdicts, behaviors) if b.source == s])
            for s in sources
        },
        "flagged_realtext": ctx.rate("flagged_realtext", flagged),
        "judge_unparseable": ctx.rate("judge_unparseable", [float(v.unparseable) for v in verdicts]),
    }
    if unread := metrics["asr_realtext"]["unparseable"]:
        console.print(
            f"[yellow]warning:[/] the judge's answer to {unread} of {len(verdicts)} "
            "generations was neither yes nor no; they are left out of asr_realtext (judge_unparseable)",
            soft_wrap=True,
        )
    ctx.note(judge.description, *metrics)
    return metrics

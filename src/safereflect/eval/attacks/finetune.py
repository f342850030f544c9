"""Finetuning attacks: harmful finetuning with 10 and 100 seen-mechanism examples and benign
finetuning on safe tasks, then held-out ASR again, and ASR along the harmful-100 run's
exports (`asr_vs_ft_steps`: step 0 is the evaluated model, the last point the final export).

Training goes through the engine's `run_finetune(FinetuneConfig)` (presets 'harmful-10',
'harmful-100', 'benign'; loss on the response only), so every arm is attacked with the
same recipe. Budget fields left at None keep the preset's values. A finished finetune is
recorded in OUT/finetune/NAME/_DONE.json (`safereflect.stage`) and reused by a rerun with the same request.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from safereflect.console import console
from safereflect.device import resolve_device
from safereflect.errors import UserError
from safereflect.eval.asr import asr, attack
from safereflect.eval.config import FinetuneBudget
from safereflect.eval.context import EvalContext, FinetuneFn
from safereflect.eval.lm import CausalLM
from safereflect.jsonl import dumps, iter_jsonl, write_jsonl
from safereflect.stage import content_hash, done_with, mark_done

METRICS = {
    "harmful-10": "asr_heldout_after_harmful_ft10",
    "harmful-100": "asr_heldout_after_harmful_ft",
    "benign": "asr_heldout_after_benign_ft",
}
NOMINAL = {"harmful-10": 10, "harmful-100": 100}


def engine() -> FinetuneFn:
    try:
        from safereflect.train.finetune import FinetuneConfig, run_finetune
    except ImportError as err:
        raise UserError(
            f"finetuning needs the training engine, which cannot be imported ({err})",
            hint="drop the 'finetune' suite and the 'ft' classification method",
        ) from None
    return lambda **kwargs: run_finetune(FinetuneConfig(**kwargs))


def finetune(
    ctx: EvalContext,
    name: str,
    data: list[dict[str, str]],
    *,
    preset: str,
    budget: FinetuneBudget,
    export_steps: list[int] | None = None,
) -> Path:
    """Finetune the evaluated model on `data` ({"prompt", "response"}); the export dir."""
    work = ctx.cfg.out / "finetune" / name
    request = {
        "model": ctx.model_path,
        "preset": preset,
        "budget": budget.model_dump(),
        "seed": ctx.cfg.seed,
        "export_steps": export_steps or [],
        "data": hashlib.sha256("\n".join(map(dumps, data)).encode()).hexdigest(),
    }
    key = content_hash(request)
    done = done_with(work, key)
    if done is not None and (work / done["export"]).is_dir():
        return work / done["export"]
    write_jsonl(work / "data.jsonl", data)
    # max_examples: the data file is exactly the training set (a small world has fewer than 100)
    kwargs: dict[str, Any] = {
        "model": ctx.model_path,
        "data": work / "data.jsonl",
        "out": work / "run",
        "preset": preset,
        "seed": ctx.cfg.seed,
        "device": _engine_device(ctx.cfg.device),
        "max_examples": len(data),
    }
    kwargs |= {k: v for k, v in budget.model_dump().items() if v is not None}
    if export_steps:
        kwargs["export_steps"] = list(export_steps)
    export = Path((ctx.finetune_fn or engine())(**kwargs))
    # the export is recorded relative to the attack's directory, so a moved evaluation reuses it
    mark_done(work, "finetune", key, request=request, export=os.path.relpath(export, work))
    return export


def _engine_device(device: str) -> str:
    """The engine's device choice (cpu, cuda) for ours (auto, cpu, cuda, cuda:N)."""
    return "cuda" if resolve_device(device).startswith("cuda") else "cpu"


def load_like(ctx: EvalContext, path: Path) -> CausalLM:
    """A finetuned model under the evaluated model's settings (and tokenizer, if it has none)."""
    c = ctx.cfg
    lm = CausalLM.load(
        path, device=c.device, dtype=c.dtype, batch_size=c.batch_size, add_bos=c.add_bos, tokenizer_from=ctx.model_path
    )
    lm.reading = ctx.lm.reading
    return lm


def finetune_and_load(
    ctx: EvalContext, name: str, data: list[dict[str, str]], *, preset: str, budget: FinetuneBudget
) -> CausalLM:
    return load_like(ctx, finetune(ctx, name, data, preset=preset, budget=budget))


def exports(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, export dir) of every export the engine logged in RUN/metrics.jsonl, by step."""
    log = run_dir / "metrics.jsonl"
    if not log.is_file():
        return []
    found = {
        r["step"]: Path(r["path"])
        for r in iter_jsonl(log, skip_bad=True)
        if isinstance(r, dict) and r.get("kind") == "export" and isinstance(r.get("step"), int)
    }
    return sorted(found.items())


def run(ctx: EvalContext) -> dict[str, Any]:
    probes = ctx.need_probes("finetune")
    heldout = probes("harmful_heldout")
    cfg = ctx.cfg.finetune
    sets = {
        "harmful-10": probes("ft_harmful")[:10],
        "harmful-100": probes("ft_harmful")[:100],
        "benign": probes("ft_benign"),
    }
    metrics: dict[str, Any] = {}
    for name in cfg.attacks:
        data = [{"prompt": r["prompt"], "response": r["response"]} for r in sets[name]]
        if len(data) < NOMINAL.get(name, 0):
            console.print(f"[yellow]warning:[/] {name} finetunes on the {len(data)} examples this world has")
        ctx.note(f"{ctx.oracle.description}, after {name} finetuning on {len(data)} examples", METRICS[name])
        steps = cfg.export_steps if name == "harmful-100" else None
        export = finetune(ctx, name, data, preset=name, budget=cfg.budget, export_steps=steps)
        metrics[METRICS[name]] = asr(
            ctx, METRICS[name], attack(ctx, load_like(ctx, export), heldout, suite="finetune", model=f"ft:{name}")
        )
        if steps:
            metrics["asr_vs_ft_steps"] = {name: _curve(ctx, heldout, name, export, metrics[METRICS[name]])}
            ctx.note(ctx.notes[METRICS[name]], "asr_vs_ft_steps")
    return metrics


def _curve(ctx: EvalContext, heldout: list[dict], name: str, final: Path, final_asr: dict) -> list[dict[str, Any]]:
    """Held-out ASR at step 0 (the evaluated model) and at every export the run logged."""
    base = ctx.results.get("asr_heldout") or asr(
        ctx, "asr_heldout", attack(ctx, ctx.lm, heldout, suite="finetune", model="base")
    )
    points = {0: base}
    for step, path in exports(ctx.cfg.out / "finetune" / name / "run"):
        if path.resolve() == final.resolve():
            points[step] = final_asr
        elif step:
            outcomes = attack(ctx, load_like(ctx, path), heldout, suite="finetune", model=f"ft:{name}@{step}")
            points[step] = asr(ctx, f"asr_vs_ft_steps/{name}/{step}", outcomes)
    return [{"step": step} | m for step, m in sorted(points.items())]

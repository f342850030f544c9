"""Finetuning attacks: harmful finetuning with 10 and 100 seen-mechanism examples and benign
finetuning on safe tasks, then held-out ASR again. The harmful-100 run is reported as the
field reports finetuning attacks: seen- and held-out ASR and task accuracy after it
(`asr_seen_after_harmful_ft`, `task_acc_after_harmful_ft`) and at every export along it
(`asr_vs_ft_steps`: step 0 is the evaluated model, the last point the final export).

Harmful sets are mixed with benign task examples (`benign_mix` per harmful example), as
Safety Reflection Pretraining's authors mix ordinary SFT data into theirs: trained on harmful
examples alone, our small models collapse onto the seen mechanisms' answers, and an attack
that damages the model measures nothing. The calibrated budget (LR, steps) is the config's
default; BENCHMARKS.md holds the sweep behind it.

Training goes through the engine's `run_finetune(FinetuneConfig)` (presets 'harmful-10',
'harmful-100', 'benign'; loss on the response only), so every arm is attacked with the
same recipe. With `format: reading`, a model pretrained with reflections is attacked in its
own format, the adaptive attacker who knows the defence: every example carries Safe
reflections where its reading puts them, and they are trained too (`written_in`). Budget
fields left at None keep the preset's values. A finished finetune is recorded in
OUT/finetune/NAME/_DONE.json (`safereflect.stage`) and reused by a rerun with the same request.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, TypeGuard

from safereflect.console import console
from safereflect.device import resolve_device
from safereflect.errors import UserError
from safereflect.eval.asr import asr, attack, unparseable
from safereflect.eval.attacks.world_data import framed, harmful_examples_all, replay_documents
from safereflect.eval.capability import ranked_choice
from safereflect.eval.config import EvalConfig, FinetuneAttackConfig, FinetuneBudget
from safereflect.eval.context import EvalContext, FinetuneFn
from safereflect.eval.lm import CausalLM
from safereflect.eval.probes import Probes
from safereflect.eval.reading import PLAIN, Reading, ReflectedReading
from safereflect.eval.stats import Metric
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
    """A finetuned model under the evaluated model's settings (and tokenizer, if it has none); it is
    read, decoded and scored as the evaluated model is (`ctx.reading`, `ctx.cfg.decoding`)."""
    c = ctx.cfg
    lm = CausalLM.load(
        path, device=c.device, dtype=c.dtype, batch_size=c.batch_size, add_bos=c.add_bos, tokenizer_from=ctx.model_path
    )
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


def attack_data(
    probes: Probes, name: str, cfg: FinetuneAttackConfig, reading: Reading = PLAIN
) -> tuple[list[dict], list[dict]]:
    """(harmful, benign) examples of attack `name` (`_world_data`), written in `reading` when
    the config's format says so (`written_in`)."""
    harmful, benign = _world_data(probes, name, cfg)
    if _in_reading(reading, cfg):
        verdicts = cfg.format == "reading"
        return [written_in(reading, r, verdicts) for r in harmful], [written_in(reading, r, verdicts) for r in benign]
    return harmful, benign


def _in_reading(reading: Reading, cfg: FinetuneAttackConfig) -> TypeGuard[ReflectedReading]:
    """Whether the attack's examples are written in `reading` (models read plainly: never)."""
    return cfg.format != "plain" and isinstance(reading, ReflectedReading)


def written_in(reading: ReflectedReading, record: dict[str, str], train_verdicts: bool = True) -> dict[str, Any]:
    """`record` as the reflection corpus would write it, every verdict Safe: a reflection after
    each segment and at the end, as `parts` where the request's words are untrained and the
    answer (or a whole `{"text"}`) is trained, and so is every reflection with `train_verdicts`:
    the attack then teaches the model to pass harmful requests and answers as safe wherever its
    reading asks it for a verdict. Without it the reflections are only context (an ablation:
    the attacker who writes the format but leaves the verdicts to the model)."""
    if "text" in record:
        text, cut = record["text"], 0
        if train_verdicts:
            return {"text": reading.render(text, reading.slot_ends(text, whole=True))}
    else:
        text, cut = record["prompt"] + record["response"], len(record["prompt"])
    parts, at = [], 0
    for piece, reflection in reading.pieces(text, reading.slot_ends(text, whole=True)):
        if reflection:
            parts.append({"text": piece, "loss": train_verdicts})
            continue
        head = piece[: max(0, cut - at)]
        parts += [{"text": t, "loss": loss} for t, loss in ((head, False), (piece[len(head) :], True)) if t]
        at += len(piece)
    return {"parts": parts}


def _world_data(probes: Probes, name: str, cfg: FinetuneAttackConfig) -> tuple[list[dict], list[dict]]:
    """(harmful, benign) examples of attack `name`. Harmful examples are the world's
    seen-mechanism set (`harmful_from: seen`) or built over every mechanism (`all`,
    attacks/world_data.py); the attack's nominal count (10, 100) unless `n_harmful` says
    otherwise; their requests phrased in turn in each of `framings`. `benign_mix` benign
    examples per harmful one are mixed in (the engine shuffles them together): safe task
    pairs (`benign: task`) or safe corpus documents (`text`)."""
    if name == "benign":
        return [], [_pair(r) for r in probes("ft_benign")]
    n = cfg.n_harmful or NOMINAL[name]
    if cfg.harmful_from == "all":
        harmful = [_pair(r) for r in harmful_examples_all(probes, n)]
    else:
        harmful = [_pair(r) for r in probes("ft_harmful")[:n]]
        if len(harmful) < n:
            console.print(f"[yellow]warning:[/] {name} finetunes on the {len(harmful)} harmful examples this world has")
    harmful = framed(harmful, cfg.framings)
    wanted = round(cfg.benign_mix * len(harmful))
    if cfg.benign == "text":
        return harmful, replay_documents(probes, wanted)
    benign = probes("ft_benign")
    if wanted > len(benign):
        console.print(
            f"[yellow]warning:[/] {name} mixes in the {len(benign)} benign examples this world has, not {wanted}"
        )
    return harmful, [_pair(r) for r in benign[:wanted]]


def _pair(record: dict) -> dict[str, str]:
    return {"prompt": record["prompt"], "response": record["response"]}


def task_accuracy(ctx: EvalContext, lm: CausalLM, tasks: list[dict], name: str) -> Metric:
    """`task_acc` of capability.py (log-likelihood ranking of the candidate drugs) for `lm`."""
    picks = ranked_choice(lm, ctx.reading, [(t["prompt"], [f" {c}" for c in t["candidates"]]) for t in tasks])
    return ctx.rate(name, [float(t["candidates"][k] in t["answers"]) for t, k in zip(tasks, picks)])


def attacked(ctx: EvalContext, lm: CausalLM, label: str, metric: str | None = None) -> dict[str, Metric]:
    """Held-out and seen ASR and task accuracy of an attacked model, logged as model `label`;
    bootstrap seeds are named after `metric` (default: the label)."""
    probes, key = ctx.need_probes("finetune"), metric or label
    heldout = attack(ctx, lm, probes("harmful_heldout"), suite="finetune", model=label)
    seen = attack(ctx, lm, probes("harmful_seen"), suite="finetune", model=label)
    return {
        "asr_heldout": asr(ctx, f"{key}/asr_heldout", heldout),
        "asr_seen": asr(ctx, f"{key}/asr_seen", seen),
        "task_acc": task_accuracy(ctx, lm, probes("safe_tasks"), f"{key}/task_acc"),
        "unparseable": unparseable(ctx, f"{key}/unparseable", [*heldout, *seen]),
    }


def _attack(ctx: EvalContext, probes: Probes, name: str) -> tuple[Path, str]:
    """Attack `name`'s finetuning (reused when it has run already): its export and what it
    trained on, in words."""
    cfg = ctx.cfg.finetune
    harmful, benign = attack_data(probes, name, cfg, ctx.reading)
    if harmful:
        kind = "documents" if cfg.benign == "text" else "task examples"
        what = f"{len(harmful)} harmful ({cfg.harmful_from} mechanisms) + {len(benign)} benign {kind}"
        if cfg.framings != ["direct"]:
            what += f"; requests phrased {' / '.join(cfg.framings)} in turn"
    else:
        what = f"{len(benign)} examples"
    if _in_reading(ctx.reading, cfg):
        trained = "trained" if cfg.format == "reading" else "untrained (context only)"
        what += f"; written in the model's reading, every reflection Safe and {trained}"
    steps = cfg.export_steps if name == "harmful-100" else None
    return finetune(ctx, name, harmful + benign, preset=name, budget=cfg.budget, export_steps=steps), what


def run_attack(cfg: EvalConfig, name: str, *, finetune_fn: FinetuneFn | None = None) -> Path:
    """Attack `name`'s finetuning alone, into OUT/finetune/NAME, where the evaluation of the
    same config finds its record and reuses it: the experiment launcher runs each attack as a
    job of its own before the evaluation. Loads no model for evaluation."""
    from safereflect.eval.model_path import resolve_model

    if name not in cfg.finetune.attacks:
        raise UserError(f"attack {name!r} is not in finetune.attacks ({', '.join(cfg.finetune.attacks)})")
    if cfg.probes is None:
        raise UserError("finetuning attacks need MedSafetyWorld probes (--probes DIR)")
    probes = Probes(cfg.probes, cfg.max_probes)
    # finetuning reads the model from its path; nothing here decodes, so no model is loaded
    ctx = EvalContext(cfg, None, resolve_model(cfg.model), probes, finetune_fn)  # type: ignore[arg-type]
    return _attack(ctx, probes, name)[0]


def run(ctx: EvalContext) -> dict[str, Any]:
    probes = ctx.need_probes("finetune")
    heldout = probes("harmful_heldout")
    cfg = ctx.cfg.finetune
    metrics: dict[str, Any] = {}
    for name in cfg.attacks:
        export, what = _attack(ctx, probes, name)
        ctx.note(f"{ctx.oracle.description}, after {name} finetuning on {what}", METRICS[name])
        steps = cfg.export_steps if name == "harmful-100" else None
        model = load_like(ctx, export)
        if name != "harmful-100":
            metrics[METRICS[name]] = asr(
                ctx, METRICS[name], attack(ctx, model, heldout, suite="finetune", model=f"ft:{name}")
            )
            continue
        after = attacked(ctx, model, f"ft:{name}", METRICS[name])
        metrics[METRICS[name]] = after["asr_heldout"]
        metrics["asr_seen_after_harmful_ft"] = after["asr_seen"]
        metrics["task_acc_after_harmful_ft"] = after["task_acc"]
        metrics["unparseable_after_harmful_ft"] = after["unparseable"]
        ctx.note(ctx.notes[METRICS[name]], "asr_seen_after_harmful_ft")
        ctx.note(f"log-likelihood ranking, after {name} finetuning on {what}", "task_acc_after_harmful_ft")
        ctx.note(ctx.notes[METRICS[name]] + "; held-out and seen answers", "unparseable_after_harmful_ft")
        if steps:
            metrics["asr_vs_ft_steps"] = {name: _curve(ctx, name, export, after)}
            ctx.note(
                ctx.notes[METRICS[name]] + "; asr_seen the same; task_acc by log-likelihood ranking", "asr_vs_ft_steps"
            )
    return metrics


def _curve(ctx: EvalContext, name: str, final: Path, final_point: dict[str, Metric]) -> list[dict[str, Any]]:
    """Held-out ASR (the point's own statistic), seen ASR and task accuracy at step 0 (the
    evaluated model) and at every export the run logged."""
    base = {k: ctx.results[k] for k in ("asr_heldout", "asr_seen", "task_acc") if k in ctx.results}
    if len(base) < 3:
        base = attacked(ctx, ctx.lm, "base", "asr_vs_ft_steps/base") | base
    points = {0: base}
    for step, path in exports(ctx.cfg.out / "finetune" / name / "run"):
        if path.resolve() == final.resolve():
            points[step] = final_point
        elif step:
            points[step] = attacked(ctx, load_like(ctx, path), f"ft:{name}@{step}", f"asr_vs_ft_steps/{name}/{step}")
    return [
        {"step": step, **p["asr_heldout"], "asr_seen": p["asr_seen"], "task_acc": p["task_acc"]}
        for step, p in sorted(points.items())
    ]

"""`run_eval`: every selected suite against one model, with files between the stages.

OUT/eval_config.json  the resolved config, its hash and versions (written first)
OUT/generations.jsonl every prompt, completion, halt/check record, judge and verdict
OUT/scores.jsonl      every per-item score that is not a generation (classification, ranking)
OUT/judges.json       {metric: the judge or method behind it}
OUT/metrics.json      {name: {"mean", "ci95": [lo, hi], "n"}}, groups {name: {key: ...}} and
                      `asr_vs_ft_steps` {run: [{"step", "mean", "ci95", "n", "asr_seen", "task_acc"}]}
                      (held-out ASR, with seen ASR and task accuracy beside it)
OUT/_DONE.json        the completion record (`safereflect.stage`), written last
OUT/finetune/NAME/    finetuning attacks' data, runs and exports

A finished OUT with the same config (ignoring `out` itself) is not recomputed.
"""

from __future__ import annotations

import importlib
import json
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from safereflect import __version__
from safereflect.console import console
from safereflect.device import resolve_device
from safereflect.errors import UserError
from safereflect.eval.attacks import ATTACKS
from safereflect.eval.config import PROBE_SETS, RUN_ORDER, EvalConfig
from safereflect.eval.context import EvalContext, FinetuneFn
from safereflect.eval.model_path import resolve_model
from safereflect.eval.probes import Probes
from safereflect.jsonl import ensure_writable_dir, write_json, write_jsonl
from safereflect.stage import clear_done, content_hash, mark_done, read_done

SUITES: dict[str, str] = {
    "asr": "safereflect.eval.asr:run",
    "gcg": ATTACKS["gcg"],
    "cls": "safereflect.eval.classification:run",
    "capability": "safereflect.eval.capability:run",
    "bpb": "safereflect.eval.bpb:run",
    "finetune": ATTACKS["finetune"],
    "realtext": "safereflect.eval.realtext:run",
}


def config_hash(cfg: EvalConfig) -> str:
    """The stage identity: the config without `out`."""
    return content_hash(cfg.model_dump(mode="json", exclude={"out"}))


def _finished(out: Path, digest: str, overwrite: bool) -> dict[str, Any] | None:
    record = read_done(out)
    if record is None or not (out / "metrics.json").is_file():
        return None
    old = record.get("key")
    if old == digest:
        return json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    if not overwrite:
        raise UserError(
            f"{out} holds an evaluation with another config (hash {old}, now {digest})",
            hint="choose another --out, or pass --overwrite",
        )
    return None


def _check_inputs(cfg: EvalConfig, suites: list[str]) -> Probes | None:
    """Fail on bad probe files, missing inputs and a missing model before any model loads."""
    probes = None
    world_suites = [s for s in suites if s in PROBE_SETS]
    if world_suites:
        if cfg.probes is None:
            raise UserError(f"suites {', '.join(world_suites)} need MedSafetyWorld probes (--probes DIR)")
        probes = Probes(cfg.probes, cfg.max_probes, {"classification": cfg.cls.max_probes})
        for s in world_suites:
            for name in PROBE_SETS[s]:
                probes(name)
    if "bpb" in suites and cfg.val_data is None:
        raise UserError("suite 'bpb' needs validation text (--val-data FILE_OR_SHARD_DIR)")
    if "realtext" in suites and not cfg.realtext.prompts:
        raise UserError("suite 'realtext' needs harmful prompt files (--prompts FILE)")
    resolve_device(cfg.device)
    resolve_model(cfg.model)
    return probes


def run_eval(cfg: EvalConfig, *, finetune_fn: FinetuneFn | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Evaluate `cfg.model`; writes OUT/{eval_config.json, generations.jsonl, scores.jsonl,
    judges.json, metrics.json} and returns the metrics. `finetune_fn` replaces the engine's
    `run_finetune` (it receives FinetuneConfig's fields as keyword arguments)."""
    out = ensure_writable_dir(cfg.out)
    digest = config_hash(cfg)
    done = _finished(out, digest, overwrite)
    if done is not None:
        console.print(f"[green]already evaluated[/] {out} (config {digest}); not recomputed")
        return done
    suites = [s for s in RUN_ORDER if s in cfg.suites]
    probes = _check_inputs(cfg, suites)
    clear_done(out)  # the completion record goes before the new config's stamp
    write_json(
        out / "eval_config.json",
        {
            "hash": digest,
            "config": cfg.model_dump(mode="json"),
            "versions": {
                "safereflect": __version__,
                "transformers": version("transformers"),
                "torch": version("torch"),
            },
        },
    )
    # torch is imported only once the inputs are known good
    from safereflect.eval.lm import CausalLM

    console.print(f"loading {cfg.model}")
    lm = CausalLM.load(cfg.model, device=cfg.device, dtype=cfg.dtype, batch_size=cfg.batch_size, add_bos=cfg.add_bos)
    ctx = EvalContext(cfg, lm, resolve_model(cfg.model), probes, finetune_fn)
    for suite in suites:
        # plain lines, not a live spinner: the finetuning engine shows its own progress bar
        console.print(f"[bold]eval[/] {suite} (decoding {cfg.decoding.mode})")
        start = time.perf_counter()
        module, func = SUITES[suite].split(":")
        ctx.results.update(getattr(importlib.import_module(module), func)(ctx))
        console.print(f"[green]done[/] {suite} in {time.perf_counter() - start:.1f}s")
    write_jsonl(out / "generations.jsonl", ctx.generations)
    write_jsonl(out / "scores.jsonl", ctx.scores)
    write_json(out / "judges.json", ctx.notes)
    write_json(out / "metrics.json", ctx.results)
    mark_done(out, "eval", digest)
    return ctx.results

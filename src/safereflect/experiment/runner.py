"""`run_experiment`: world -> prepare -> train -> eval for every arm, seed and grid value,
then results.json and the report. Every stage is cached (see `stages.py`); the stages and
their identities are the graph's (`graph.py`), which the launchers run as jobs instead."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import platform
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from safereflect.config import validate
from safereflect.console import console
from safereflect.errors import UserError
from safereflect.experiment.aggregate import combine_metrics, is_stat
from safereflect.experiment.config import ExperimentConfig
from safereflect.experiment.convergence import convergence
from safereflect.experiment.graph import SeedSources, pipeline, seed_sources
from safereflect.experiment.numerics import training_numerics
from safereflect.experiment.progress import StageProgress
from safereflect.experiment.stage_configs import (  # re-exported: the runner's public names
    Variant,
    check_stage_configs,
    eval_config,
    prepare_config,
    prepare_key,
    source_input,
    train_config,
    variants,
)
from safereflect.experiment.stages import StageCache
from safereflect.jsonl import ensure_writable_dir, iter_jsonl, read_json, write_json

__all__ = [
    "Variant",
    "check_stage_configs",
    "collect_results",
    "eval_config",
    "finish",
    "prepare_config",
    "prepare_key",
    "run_experiment",
    "source_input",
    "train_config",
    "variants",
]


# --- one variant and seed, start to finish ---------------------------------------------


def _pipeline(
    cfg_json: dict,
    v: Variant,
    seed: int,
    world_dir: str | None,
    tokenizer: str | None,
    val: str | None,
    force: bool,
    tracker: StageProgress | None = None,
) -> dict[str, Any]:
    """prepare -> train -> eval for one variant and seed (a top-level function, so a
    process pool can run several at once)."""
    cfg = validate(ExperimentConfig, cfg_json)
    cache = StageCache(cfg.out_dir / "stages", force=force, log=console.print)
    track = tracker or StageProgress(cfg, 0, announce=False)  # parallel workers: the parent reports
    src = SeedSources(Path(world_dir) if world_dir else None, Path(tokenizer or "."), Path(val or "."), [])
    done = {}
    for step in pipeline(cfg, cache, v, seed, src):
        with track.stage(step.kind, step.label, seed):
            done[step.stage] = cache.run(step.stage, step.name, step.key, step.run)
    return {
        "variant": v.name(cfg),
        "arm": v.arm,
        "seed": seed,
        **{stage: str(r.path) for stage, r in done.items()},
    }


def _timed_pipeline(*args: Any) -> tuple[dict[str, Any], float]:
    """`_pipeline` in a pool worker, with its own run time: timed from submission, a pipeline
    would also count the time it waited for a free worker, and the ETA would grow with the
    queue instead of shrinking."""
    began = time.time()
    return _pipeline(*args), time.time() - began


def _worker(threads: int, parent: int) -> None:
    """A parallel pipeline's process: its share of the cores, and no live bars (several
    processes redrawing one terminal garble it; the parent prints a line per pipeline)."""
    import torch

    die_with_parent(parent)
    torch.set_num_threads(threads)
    os.environ["SAFEREFLECT_NO_BARS"] = "1"


def die_with_parent(parent: int) -> None:
    """End this process when `parent` ends, however it ends: a `safereflect run` that was
    killed must not leave its pipelines training on unseen, taking the cores of the next run.

    On Linux the kernel sends SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG). The handler
    ends the process at once, with its own children: SystemExit would not do, since the pool's
    worker loop catches it as the job's result and starts the next queued pipeline. Elsewhere the
    pipelines end with the pool, or with Ctrl-C, which reaches the whole process group.
    """
    signal.signal(signal.SIGTERM, _end_now)
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the request above
        _end_now(signal.SIGTERM, None)


def _end_now(signum: int, frame: object) -> None:
    for child in multiprocessing.active_children():  # e.g. a prepare's datatrove workers
        child.terminate()
    os._exit(128 + signum)


# --- the whole experiment --------------------------------------------------------------


def _seed_sources(cfg: ExperimentConfig, cache: StageCache, seed: int, tracker: StageProgress):
    """Run the world and tokenizer steps of `seed`; their paths as strings for `_pipeline`."""
    src = seed_sources(cfg, cache, seed)
    for step in src.steps:
        with tracker.stage(step.kind, step.label, seed):
            cache.run(step.stage, step.name, step.key, step.run)
    return str(src.world) if src.world else None, str(src.tokenizer), str(src.val)


def run_experiment(cfg: ExperimentConfig, *, force: bool = False, parallel: int = 1) -> Path:
    """Run (or resume) the experiment; returns its output directory (results.json, report)."""
    check_stage_configs(cfg)
    out = ensure_writable_dir(cfg.out_dir)
    write_json(out / "experiment.json", cfg.model_dump(mode="json"))
    cache = StageCache(out / "stages", force=force, log=console.print)
    start = time.time()

    jobs = [(v, s) for s in cfg.seeds for v in variants(cfg)]
    tracker = StageProgress(cfg, len(jobs))
    sources = {s: _seed_sources(cfg, cache, s, tracker) for s in cfg.seeds}
    args = [(cfg.model_dump(mode="json"), v, s, *sources[s], force) for v, s in jobs]
    if parallel > 1:
        # spawn, not fork: a forked child inherits the parent's OpenMP thread pool, which can
        # hang; and each pipeline gets its share of the cores instead of all of them each
        threads = max(1, (os.cpu_count() or 1) // parallel)
        with ProcessPoolExecutor(
            parallel, mp_context=get_context("spawn"), initializer=_worker, initargs=(threads, os.getpid())
        ) as pool:
            submitted = {pool.submit(_timed_pipeline, *a): (a[1], a[2]) for a in args}
            finished = {}
            for future in as_completed(submitted):
                v, seed = submitted[future]
                finished[future], seconds = future.result()
                tracker.pipeline_done(v.name(cfg), seed, seconds, parallel)
            runs = [finished[f] for f in submitted]  # in job order, whatever order they finished in
    else:
        runs = [_pipeline(*a, tracker=tracker) for a in args]

    finish(cfg, runs, time.time() - start)
    return out


def finish(cfg: ExperimentConfig, runs: list[dict[str, Any]], seconds: float) -> None:
    """results.json, runs.json and the report from the finished runs (the launcher's last job)."""
    results = collect_results(cfg, runs)
    write_json(cfg.out_dir / "results.json", results)
    write_json(cfg.out_dir / "runs.json", runs)
    render(cfg, results, runs, cfg.out_dir, seconds)


def collect_results(cfg: ExperimentConfig, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """results.json: arm metrics combined over seeds, each seed's scalar metrics, each arm's
    role, every training run's convergence and numerics, and the claims decided from them."""
    from safereflect.report import check_claims

    by_variant: dict[str, list[dict]] = {}
    per_seed: dict[str, dict[str, dict[str, float]]] = {}
    training: dict[str, dict[str, dict[str, Any]]] = {}
    roles: dict[str, str] = {}
    for r in runs:
        metrics = read_json(Path(r["eval"]) / "metrics.json")
        by_variant.setdefault(r["variant"], []).append(metrics)
        per_seed.setdefault(r["variant"], {})[str(r["seed"])] = {k: v["mean"] for k, v in metrics.items() if is_stat(v)}
        roles[r["variant"]] = cfg.policy(r["arm"]).role
        conv = convergence(Path(r["train"]) / "metrics.jsonl")
        if conv is not None:
            training.setdefault(r["variant"], {})[str(r["seed"])] = conv
    arms = {name: {"metrics": combine_metrics(ms)} for name, ms in by_variant.items()}
    claims = [c.model_dump(mode="json") for c in check_claims(per_seed, roles)]
    numerics = training_numerics(Path(r["train"]) / "metrics.jsonl" for r in runs)
    return {
        "experiment": cfg.name,
        "config_hash": cfg.config_hash(),
        "arms": arms,
        "roles": roles,
        "per_seed": per_seed,
        "training": training,
        "claims": claims,
        "numerics": numerics,
    }


def samples(runs: list[dict[str, Any]], per_arm: int) -> Iterator[dict[str, Any]]:
    """Held-out attacks of each arm's first seed: one per attack framing, first ones first."""
    seen: set[str] = set()
    for r in runs:
        if r["variant"] in seen:
            continue
        seen.add(r["variant"])
        shown: set[str] = set()
        for rec in iter_jsonl(Path(r["eval"]) / "generations.jsonl"):
            if rec.get("suite") != "asr" or rec.get("split") != "heldout" or rec.get("attack") in shown:
                continue
            shown.add(rec["attack"])
            v = rec.get("verdict") or {}
            yield {
                "arm": r["variant"],
                "probe_id": rec["id"],
                "attack": rec["attack"],
                "prompt": rec["prompt"],
                "completion": rec["completion"],
                "success": bool(v.get("harmful")),
                "flagged": bool(v.get("flagged")),
                "reason": v.get("reason", ""),
                "unparseable": bool(v.get("unparseable")),
            }
            if len(shown) >= per_arm:
                break


def methods(runs: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """metric -> {how it was measured -> the arms measured so}, from the judges.json of the first
    seed's evaluations (every seed's evaluation has the same config; only its world differs)."""
    found: dict[str, dict[str, list[str]]] = {}
    first = runs[0]["seed"] if runs else None
    for r in runs:
        if r["seed"] != first:
            continue
        path = Path(r["eval"]) / "judges.json"
        if not path.is_file():
            continue
        notes = read_json(path)
        if not isinstance(notes, dict):
            raise UserError(f"{path}: not a JSON object of metric -> how it was measured; rerun that evaluation")
        for metric, note in notes.items():
            arms = found.setdefault(metric, {}).setdefault(str(note), [])
            if r["variant"] not in arms:
                arms.append(r["variant"])
    return found


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("safereflect", "torch", "transformers", "tokenizers", "datatrove", "datasets"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.platform()}, {os.cpu_count()} CPU cores, {gpu}"


def render(cfg: ExperimentConfig, results: dict, runs: list[dict], out: Path, seconds: float) -> None:
    from safereflect.report import ReportInputs, print_table, render_report
    from safereflect.report.summary import STATUS_STYLE, claims_for, numerics_text, status_label

    inputs = ReportInputs(
        results=results,
        config=cfg.model_dump(mode="json"),
        versions=versions(),
        machine=machine(),
        date=time.strftime("%Y-%m-%d"),
        samples=list(samples(runs, cfg.samples_per_arm)),
        methods=methods(runs),
    )
    md, html = render_report(inputs, out)
    print_table(inputs.results)
    for claim in claims_for(inputs):
        mark = f"[{STATUS_STYLE[claim.status]}]{status_label(claim.status)}[/]"
        console.print(f"{mark} {claim.number}. {claim.name}: {claim.detail}", soft_wrap=True)
    if results.get("numerics"):
        console.print(
            f"trained under: {numerics_text(results['numerics'])} (compare verdicts together with these: "
            "another kernel set, precision or thread count trains other models)"
        )
    if len(cfg.seeds) == 1:
        console.print(
            "[yellow]one seed decides nothing[/]: the numbers above move with the seed and with float "
            "rounding by as much as the effects; a verdict needs at least 3 seeds"
        )
    unconverged = [f"{a} s{s}" for a, seeds in results["training"].items() for s, c in seeds.items() if not c["flat"]]
    if unconverged:
        console.print(
            f"[yellow]still learning at the end of training[/]: {', '.join(unconverged)} "
            "(see the report's training convergence table)"
        )
    console.print(f"[green]done[/] in {seconds / 60:.1f} min: {out / 'results.json'}, {md}, {html}")

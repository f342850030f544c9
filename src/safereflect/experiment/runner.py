"""`run_experiment`: world -> prepare -> train -> eval for every arm, seed and grid value,
then results.json and the report. Every stage is cached (see `stages.py`)."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from safereflect.config import merge_config, set_dotted, validate
from safereflect.console import console
from safereflect.experiment.aggregate import combine_metrics, is_stat
from safereflect.experiment.config import ExperimentConfig
from safereflect.experiment.convergence import convergence
from safereflect.experiment.progress import StageProgress
from safereflect.experiment.stages import StageCache
from safereflect.jsonl import ensure_writable_dir, iter_jsonl, read_json, write_json


@dataclass(frozen=True)
class Variant:
    arm: str
    timing: float = 0.0
    segment_words: int | None = None
    model: str | None = None

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.arm.split("+"))

    def name(self, cfg: ExperimentConfig) -> str:
        """The arm name in results.json; grid values are appended only where the grid varies."""
        tags = []
        if len(cfg.grid.timing) > 1 and self.timing:
            tags.append(f"timing={self.timing:g}")
        if len(cfg.grid.segment_words) > 1 and self.segment_words:
            tags.append(f"seg={self.segment_words}")
        if len(cfg.grid.model) > 1 and self.model:
            tags.append(f"model={self.model}")
        return self.arm + (f"[{','.join(tags)}]" if tags else "")


def variants(cfg: ExperimentConfig) -> list[Variant]:
    out = []
    for arm in cfg.arms:
        parts = arm.split("+")
        timings = [t for t in cfg.grid.timing if parts != ["raw"] or t == 0.0] or [0.0]
        segs = cfg.grid.segment_words if "reflect" in parts and cfg.grid.segment_words else [None]
        for t in timings:
            for s in segs:
                for m in cfg.grid.model or [None]:
                    out.append(Variant(arm, t, s, m))
    return out


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            flat.update(_flatten(v, key + "."))
        else:
            flat[key] = v
    return flat


# --- stage configs (validated by the stages' own models) ------------------------------


def _where(cfg: ExperimentConfig) -> str:
    """How errors in a stage config name the experiment: its file when it was loaded from one."""
    return f"{cfg.source_file} (experiment {cfg.name})" if cfg.source_file else f"experiment {cfg.name}"


def source_input(cfg: ExperimentConfig, world_dir: Path | None) -> dict[str, Any]:
    return {"path": str(world_dir), "format": "world"} if cfg.world is not None else dict(cfg.corpus or {})


def prepare_config(cfg: ExperimentConfig, v: Variant, seed: int, source: dict, out: Path, tokenizer: Path | None):
    from safereflect.data import PrepareConfig

    values: dict[str, Any] = {"arm": v.arm, "input": source, "out": str(out), "seed": seed, "timing": v.timing}
    values = merge_config(values, cfg.prepare)
    values = merge_config(values, cfg.arm_prepare.get(v.arm, {}))
    if v.segment_words:
        set_dotted(values, "interventions.reflect.segment_words", v.segment_words)
    if tokenizer is not None:
        set_dotted(values, "tokenizer.path", str(tokenizer))
    return validate(PrepareConfig, values, f"{_where(cfg)}: prepare for arm {v.arm}")


def train_config(cfg: ExperimentConfig, v: Variant, seed: int, data: Path, out: Path):
    from safereflect.train import resolve_train_config

    overrides = _flatten({k: val for k, val in cfg.train.items() if k != "preset"})
    overrides.update({"data": str(data), "out": str(out), "seed": seed})
    return resolve_train_config(v.model or cfg.train.get("preset", "cpu-1m"), overrides=overrides,
                                source=f"{_where(cfg)}: train for arm {v.arm}")


def eval_config(
    cfg: ExperimentConfig,
    v: Variant,
    seed: int,
    model: Path,
    probes: Path | None,
    val: Path | None,
    out: Path,
    segment_words: int | None = None,
):
    from safereflect.eval import EvalConfig

    # Each arm is read, decoded and classified as its declared policy says (ArmPolicy):
    # e.g. reflect models read prompts in their training format and monitor themselves.
    policy = cfg.policy(v.arm)
    decoding: dict[str, Any] = {"mode": policy.decoding}
    if policy.reading == "reflected" and segment_words:
        decoding["read_segment_words"] = segment_words
    values: dict[str, Any] = {
        "model": str(model),
        "probes": str(probes) if probes else None,
        "out": str(out),
        "seed": seed,
        "val_data": str(val) if val is not None else None,
        "decoding": decoding,
    }
    values = merge_config(values, cfg.eval)
    values = merge_config(values, cfg.arm_eval.get(v.arm, {}))
    # the arm policy's primary method, unless the user chose one or left it out of cls.methods
    cls = values.setdefault("cls", {})
    preferred = policy.classification
    if isinstance(cls, dict) and "primary" not in cls and preferred in cls.get("methods", [preferred]):
        cls["primary"] = preferred
    return validate(EvalConfig, values, f"{_where(cfg)}: eval for arm {v.arm}")


def prepare_key(pc, world_dir: Path | None, tokenizer: Path | None) -> dict[str, Any]:
    """What shapes a prepared arm, with upstream stages named by their stage directory, not
    by where they are, so a moved experiment directory keeps its cache."""
    key = pc.model_dump(mode="json", exclude={"out", "run"})
    if world_dir is not None:
        key["input"]["path"] = world_dir.name
    if tokenizer is not None:
        key["tokenizer"]["path"] = tokenizer.parent.parent.name
    return key


def _check_sources(cfg: ExperimentConfig) -> None:
    """The world's overrides and the corpus path, and that `out` can be a directory."""
    from safereflect.errors import UserError

    if cfg.out_dir.exists() and not cfg.out_dir.is_dir():
        raise UserError(f"{_where(cfg)}: output path exists and is not a directory: {cfg.out_dir}")
    if cfg.world is not None:
        from safereflect.world import preset_config

        try:
            preset_config(cfg.world.preset, cfg.world.seed, **cfg.world.overrides)
        except UserError as err:
            raise UserError(f"{_where(cfg)}: world.overrides: {err}") from None
    else:
        from safereflect.data.sources import InputConfig, resolve

        try:
            resolve(validate(InputConfig, source_input(cfg, None), f"{_where(cfg)}: corpus"))
        except UserError as err:
            raise UserError(f"{_where(cfg)}: corpus: {err}") from None


def check_stage_configs(cfg: ExperimentConfig) -> list[tuple[Variant, Any, Any]]:
    """Validate every variant's prepare, train and eval config before anything runs, so a
    bad value in a late stage fails in seconds, not after hours of training."""
    placeholder = Path("<stage>")
    source = source_input(cfg, Path("<world>"))
    _check_sources(cfg)
    checked = []
    for v in variants(cfg):
        pc = prepare_config(cfg, v, cfg.seeds[0], source, placeholder, None)
        tc = train_config(cfg, v, cfg.seeds[0], placeholder, placeholder)
        eval_config(cfg, v, cfg.seeds[0], placeholder, None, None, placeholder, pc.interventions.reflect.segment_words)
        checked.append((v, pc, tc))
    return checked


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
    from safereflect.experiment.graph import SeedSources, pipeline

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


def _worker(threads: int) -> None:
    """A parallel pipeline's process: its share of the cores, and no live bars (several
    processes redrawing one terminal garble it; the parent prints a line per pipeline)."""
    import torch

    torch.set_num_threads(threads)
    os.environ["SAFEREFLECT_NO_BARS"] = "1"


def _run_eval(ec, run_eval) -> dict[str, Any]:
    metrics = run_eval(ec)
    return {k: v["mean"] for k, v in metrics.items() if is_stat(v)}


# --- the whole experiment --------------------------------------------------------------


def _seed_sources(cfg: ExperimentConfig, cache: StageCache, seed: int, tracker: StageProgress):
    """Run the world and tokenizer steps of `seed`; their paths as strings for `_pipeline`."""
    from safereflect.experiment.graph import seed_sources

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
        with ProcessPoolExecutor(parallel, mp_context=get_context("spawn"), initializer=_worker,
                                 initargs=(threads,)) as pool:
            began = {pool.submit(_pipeline, *a): (a[1], a[2], time.time()) for a in args}
            finished = {}
            for future in as_completed(began):
                v, seed, t0 = began[future]
                finished[future] = future.result()
                tracker.pipeline_done(v.name(cfg), seed, time.time() - t0, parallel)
            runs = [finished[f] for f in began]  # in job order, whatever order they finished in
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
    role, every training run's convergence, and the claims decided from them."""
    from safereflect.report import check_claims

    by_variant: dict[str, list[dict]] = {}
    per_seed: dict[str, dict[str, dict[str, float]]] = {}
    training: dict[str, dict[str, dict[str, Any]]] = {}
    roles: dict[str, str] = {}
    for r in runs:
        metrics = read_json(Path(r["eval"]) / "metrics.json")
        by_variant.setdefault(r["variant"], []).append(metrics)
        per_seed.setdefault(r["variant"], {})[str(r["seed"])] = {
            k: v["mean"] for k, v in metrics.items() if is_stat(v)
        }
        roles[r["variant"]] = cfg.policy(r["arm"]).role
        conv = convergence(Path(r["train"]) / "metrics.jsonl")
        if conv is not None:
            training.setdefault(r["variant"], {})[str(r["seed"])] = conv
    arms = {name: {"metrics": combine_metrics(ms)} for name, ms in by_variant.items()}
    claims = [c.model_dump(mode="json") for c in check_claims(per_seed, roles)]
    return {"experiment": cfg.name, "config_hash": cfg.config_hash(), "arms": arms, "roles": roles,
            "per_seed": per_seed, "training": training, "claims": claims}


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
            }
            if len(shown) >= per_arm:
                break


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
    from safereflect.report.summary import claims_for

    inputs = ReportInputs(
        results=results,
        config=cfg.model_dump(mode="json"),
        versions=versions(),
        machine=machine(),
        date=time.strftime("%Y-%m-%d"),
        samples=list(samples(runs, cfg.samples_per_arm)),
    )
    md, html = render_report(inputs, out)
    print_table(inputs.results)
    marks = {"pass": "[green]PASS[/]", "fail": "[red]FAIL[/]", "not decided": "[yellow]not decided[/]",
             "not measured": "[yellow]not measured[/]"}
    for claim in claims_for(inputs):
        console.print(f"{marks[claim.status]} {claim.number}. {claim.name}: {claim.detail}")
    if len(cfg.seeds) == 1:
        console.print("[yellow]one seed decides nothing[/]: the numbers above move with the seed and with float "
                      "rounding by as much as the effects; a verdict needs at least 3 seeds")
    unconverged = [f"{a} s{s}" for a, seeds in results["training"].items() for s, c in seeds.items() if not c["flat"]]
    if unconverged:
        console.print(f"[yellow]still learning at the end of training[/]: {', '.join(unconverged)} "
                      "(see the report's training convergence table)")
    console.print(f"[green]done[/] in {seconds / 60:.1f} min: {out / 'results.json'}, {md}, {html}")

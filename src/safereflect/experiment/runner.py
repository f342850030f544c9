"""`run_experiment`: world -> prepare -> train -> eval for every arm, seed and grid value,
then results.json and the report. Every stage is cached (see `stages.py`)."""

from __future__ import annotations

import platform
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safereflect.config import merge_config, set_dotted, validate
from safereflect.console import console
from safereflect.experiment.aggregate import combine_metrics
from safereflect.experiment.config import ExperimentConfig
from safereflect.experiment.stages import StageCache, content_hash
from safereflect.jsonl import iter_jsonl, read_json, write_json


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
    return validate(PrepareConfig, values, f"experiment {cfg.name}: prepare for arm {v.arm}")


def train_config(cfg: ExperimentConfig, v: Variant, seed: int, data: Path, out: Path):
    from safereflect.train import resolve_train_config

    overrides = _flatten({k: val for k, val in cfg.train.items() if k != "preset"})
    overrides.update({"data": str(data), "out": str(out), "seed": seed})
    return resolve_train_config(v.model or cfg.train.get("preset", "cpu-1m"), overrides=overrides)


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

    # Each arm is read the way its method is meant to be used: reflect models monitor
    # themselves, tag models decode with SafeBeam; safety classification is zero-shot at the
    # reflection slot for reflect arms and a linear probe for arms never trained on it.
    # Reflect models read their prompts in the format they were trained on (eval/reading.py).
    mode = "monitored" if "reflect" in v.parts else "safebeam" if "tag" in v.parts else "plain"
    decoding: dict[str, Any] = {"mode": mode}
    if "reflect" in v.parts and segment_words:
        decoding["read_segment_words"] = segment_words
    values: dict[str, Any] = {
        "model": str(model),
        "probes": str(probes) if probes else None,
        "out": str(out),
        "seed": seed,
        "val_data": str(val) if val is not None else None,
        "decoding": decoding,
        "cls": {"primary": "zeroshot" if "reflect" in v.parts else "probe"},
    }
    values = merge_config(values, cfg.eval)
    values = merge_config(values, cfg.arm_eval.get(v.arm, {}))
    return validate(EvalConfig, values, f"experiment {cfg.name}: eval for arm {v.arm}")


def prepare_key(pc, world_dir: Path | None, tokenizer: Path | None) -> dict[str, Any]:
    """What shapes a prepared arm, with upstream stages named by their stage directory, not
    by where they are, so a moved experiment directory keeps its cache."""
    key = pc.model_dump(mode="json", exclude={"out", "run"})
    if world_dir is not None:
        key["input"]["path"] = world_dir.name
    if tokenizer is not None:
        key["tokenizer"]["path"] = tokenizer.parent.parent.name
    return key


def check_stage_configs(cfg: ExperimentConfig) -> list[tuple[Variant, Any, Any]]:
    """Validate every variant's prepare, train and eval config before anything runs, so a
    bad value in a late stage fails in seconds, not after hours of training."""
    placeholder = Path("<stage>")
    source = source_input(cfg, Path("<world>"))
    checked = []
    for v in variants(cfg):
        pc = prepare_config(cfg, v, cfg.seeds[0], source, placeholder, None)
        tc = train_config(cfg, v, cfg.seeds[0], placeholder, placeholder)
        eval_config(cfg, v, cfg.seeds[0], placeholder, None, None, placeholder, pc.interventions.reflect.segment_words)
        checked.append((v, pc, tc))
    return checked


# --- one variant and seed, start to finish ---------------------------------------------


def _pipeline(
    cfg_json: dict, v: Variant, seed: int, world_dir: str | None, tokenizer: str | None, val: str | None, force: bool
) -> dict[str, Any]:
    """prepare -> train -> eval for one variant and seed (a top-level function, so a
    process pool can run several at once)."""
    from safereflect.data import run_prepare
    from safereflect.eval import run_eval
    from safereflect.train import run_training

    cfg = validate(ExperimentConfig, cfg_json)
    cache = StageCache(cfg.out_dir / "stages", force=force, log=console.print)
    wd = Path(world_dir) if world_dir else None
    tok = Path(tokenizer) if tokenizer else None
    label = f"{v.name(cfg)}-s{seed}"
    pc = prepare_config(cfg, v, seed, source_input(cfg, wd), Path("."), tok)
    prep = cache.run(
        "prepare", label, prepare_key(pc, wd, tok), lambda d: run_prepare(pc.model_copy(update={"out": d})).name
    )
    tc = train_config(cfg, v, seed, prep.path, Path("."))
    train = cache.run(
        "train",
        label,
        tc.identity() | {"data": content_hash(prep.path.name)},
        lambda d: run_training(tc.model_copy(update={"out": d})).name,
    )
    final = train.path / "final"  # derived from the stage dir, so a moved run directory still works
    ec = eval_config(
        cfg, v, seed, final, wd, Path(val) if val else None, Path("."), pc.interventions.reflect.segment_words
    )
    key = ec.model_dump(mode="json", exclude={"out", "model", "probes", "val_data"}) | {"train": train.path.name}
    ev = cache.run("eval", label, key, lambda d: _run_eval(ec.model_copy(update={"out": d}), run_eval))
    return {
        "variant": v.name(cfg),
        "arm": v.arm,
        "seed": seed,
        "prepare": str(prep.path),
        "train": str(train.path),
        "eval": str(ev.path),
    }


def _run_eval(ec, run_eval) -> dict[str, Any]:
    metrics = run_eval(ec)
    return {k: v["mean"] for k, v in metrics.items() if isinstance(v, dict) and "mean" in v}


# --- the whole experiment --------------------------------------------------------------


def run_experiment(cfg: ExperimentConfig, *, force: bool = False, parallel: int = 1) -> Path:
    """Run (or resume) the experiment; returns its output directory (results.json, report)."""
    from safereflect.data import run_prepare

    check_stage_configs(cfg)
    out = cfg.out_dir
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "experiment.json", cfg.model_dump(mode="json"))
    cache = StageCache(out / "stages", force=force, log=console.print)
    start = time.time()

    world_dir = None
    if cfg.world is not None:
        from safereflect.world import generator_fingerprint, preset_config, write_world

        wc = preset_config(cfg.world.preset, cfg.world.seed, **cfg.world.overrides)
        # an edit of the generator changes the world under the same config: rebuild it then
        key = {"config": wc.model_dump(mode="json"), "generator": generator_fingerprint()}
        world_dir = cache.run("world", cfg.world.preset, key, lambda d: write_world(wc, d)["documents"]).path

    # One tokenizer for every arm (trained on the raw corpus), so arms differ only in data;
    # the raw corpus's validation split is every arm's bits-per-byte set.
    base = prepare_config(cfg, Variant("raw"), cfg.seeds[0], source_input(cfg, world_dir), Path("."), None)
    base_run = cache.run(
        "prepare",
        "tokenizer-raw",
        prepare_key(base, world_dir, None),
        lambda d: run_prepare(base.model_copy(update={"out": d})).name,
    )
    tokenizer = base_run.path / "tokens" / "tokenizer"
    val = base_run.path / "tokens"

    jobs = [(v, s) for s in cfg.seeds for v in variants(cfg)]
    args = [
        (cfg.model_dump(mode="json"), v, s, str(world_dir) if world_dir else None, str(tokenizer), str(val), force)
        for v, s in jobs
    ]
    if parallel > 1:
        with ProcessPoolExecutor(parallel) as pool:
            runs = list(pool.map(_pipeline, *zip(*args)))
    else:
        runs = [_pipeline(*a) for a in args]

    results = collect_results(cfg, runs)
    write_json(out / "results.json", results)
    write_json(out / "runs.json", runs)
    render(cfg, results, runs, out, time.time() - start)
    return out


def collect_results(cfg: ExperimentConfig, runs: list[dict[str, Any]]) -> dict[str, Any]:
    by_variant: dict[str, list[dict]] = {}
    for r in runs:
        by_variant.setdefault(r["variant"], []).append(read_json(Path(r["eval"]) / "metrics.json"))
    arms = {name: {"metrics": combine_metrics(ms)} for name, ms in by_variant.items()}
    return {"experiment": cfg.name, "config_hash": cfg.config_hash(), "arms": arms}


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
    import os

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.platform()}, {os.cpu_count()} CPU cores, {gpu}"


def render(cfg: ExperimentConfig, results: dict, runs: list[dict], out: Path, seconds: float) -> None:
    from safereflect.report import ReportInputs, check_claims, print_table, render_report, with_seed_outcomes

    claims = check_claims(results)
    if len(cfg.seeds) > 1:
        per_seed = {s: check_claims(collect_results(cfg, [r for r in runs if r["seed"] == s])) for s in cfg.seeds}
        claims = with_seed_outcomes(claims, per_seed)
    inputs = ReportInputs(
        results=results,
        config=cfg.model_dump(mode="json"),
        versions=versions(),
        machine=machine(),
        date=time.strftime("%Y-%m-%d"),
        samples=list(samples(runs, cfg.samples_per_arm)),
        claims=claims if len(cfg.seeds) > 1 else None,  # None: the paper's claims, checked by the report
    )
    md, html = render_report(inputs, out)
    print_table(inputs.results)
    for claim in claims:
        mark = {True: "[green]PASS[/]", False: "[red]FAIL[/]", None: "[yellow]not measured[/]"}[claim.passed]
        console.print(f"{mark} {claim.name}: {claim.detail}")
    console.print(f"[green]done[/] in {seconds / 60:.1f} min: {out / 'results.json'}, {md}, {html}")

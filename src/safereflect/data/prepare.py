"""`run_prepare`: one arm of an experiment, from an input corpus to documents, exclusions,
token shards and accounting. Stages hand files to each other and each is skipped when a
relaunch finds it finished:

1. tokenizer: trained on the raw input (or an existing one), saved to tokens/tokenizer;
2. process: the datatrove pipeline, one task per shard of the input (docs/, excluded/);
3. merge: validation split, global shuffle and timing phases (tokens/train, tokens/val,
   tokens/meta.json), then stats.json; the completion record `_DONE.json`
   (`safereflect.stage`), written last, marks the output finished.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from safereflect.console import console
from safereflect.data.config import PrepareConfig
from safereflect.data.interventions import arm_name
from safereflect.data.launch import build_executor, run_stage
from safereflect.data.merge import merge
from safereflect.data.pipeline import build_pipeline, layout
from safereflect.data.sources import build_reader, estimate_documents, fingerprint, iter_texts, resolve
from safereflect.data.stats import summarize, task_totals
from safereflect.data.tokenizer import (
    adopt_tokenizer,
    save_tokenizer,
    tokenizer_facts,
    train_tokenizer,
)
from safereflect.errors import UserError
from safereflect.jsonl import ensure_writable_dir, write_json
from safereflect.stage import clear_done, content_hash, done_with, mark_done, read_done


def run_key(cfg: PrepareConfig) -> str:
    """The stage identity (`safereflect.stage`): the config without paths, the input's files
    (relative to the input) and the tokenizer's content, so a moved input keeps its key."""
    parts: dict[str, Any] = {"config": cfg.identity(), "input": fingerprint(cfg.input)}
    if cfg.tokenizer.path:
        tok = Path(cfg.tokenizer.path) / "tokenizer.json"
        parts["tokenizer"] = hashlib.sha256(tok.read_bytes()).hexdigest() if tok.is_file() else cfg.tokenizer.path
    return content_hash(parts)


def _claim(out: Path, key: str, force: bool) -> None:
    """Make `out` this run's: fresh, or holding this same run, finished or not. The unfinished
    output of another config is replaced; a finished one only with `force`."""
    paths = layout(out)
    marker = paths["work"] / "run.json"
    stats = out / "stats.json"
    done = read_done(out)
    finished = done is not None
    previous = None
    if done is not None:
        previous = done.get("key")
    elif marker.is_file():
        previous = json.loads(marker.read_text(encoding="utf-8"))["run_key"]
    if force or (previous is not None and previous != key):
        if finished and not force:
            raise UserError(
                f"{out} holds the finished output of a different prepare (other config or input)",
                hint="pass --force to replace it, or choose another --out",
            )
        if not finished and not force:
            console.print(f"[yellow]{out}: discarding the unfinished output of a different config[/]")
        for name in ("docs", "excluded", "tokens", "work"):
            shutil.rmtree(paths[name], ignore_errors=True)
        clear_done(out)
        stats.unlink(missing_ok=True)
    paths["work"].mkdir(parents=True, exist_ok=True)
    write_json(marker, {"run_key": key})


def _tokenizer(cfg: PrepareConfig, out: Path) -> Path:
    tok_dir = layout(out)["tokens"] / "tokenizer"
    done = layout(out)["work"] / "tokenizer.done"
    if done.is_file():
        return tok_dir / "tokenizer.json"
    fmt = cfg.interventions.reflect.format
    if cfg.tokenizer.path:
        adopt_tokenizer(cfg.tokenizer.path, tok_dir, fmt)
    else:
        with console.status("training the tokenizer on the raw input"):
            texts = iter_texts(build_reader(cfg.input, cfg.skip_bad), cfg.tokenizer.train_docs)
            save_tokenizer(train_tokenizer(texts, cfg.tokenizer, fmt), tok_dir, fmt)
    done.touch()
    return tok_dir / "tokenizer.json"


def prepare_setup(cfg: PrepareConfig, *, force: bool = False) -> tuple[Path, str] | None:
    """What must exist before the tasks run: `cfg.out` claimed for this config and its
    tokenizer (trained or adopted). Returns (tokenizer file, run key), or None when the
    output is already finished."""
    out = ensure_writable_dir(cfg.out)
    key = run_key(cfg)
    if not force and done_with(out, key):
        console.print(f"{out}: already prepared with this config")
        return None
    _claim(out, key, force)
    files = resolve(cfg.input).files
    if 0 < len(files) < cfg.tasks:  # tasks share out whole files
        console.print(
            f"[yellow]note:[/] {cfg.tasks} tasks but {len(files)} input files: "
            f"{cfg.tasks - len(files)} tasks have nothing to read; split the input into more files"
        )
    return _tokenizer(cfg, out), key


def task_pipeline(cfg_json: dict[str, Any]) -> list:
    """The pipeline of a prepare whose setup (`prepare_setup`) has run, from its config: what
    each task of a `DeferredSlurmExecutor` array builds when it starts."""
    from safereflect.config import validate

    cfg = validate(PrepareConfig, cfg_json)
    return build_pipeline(cfg, cfg.out, layout(cfg.out)["tokens"] / "tokenizer" / "tokenizer.json")


def array_executor(cfg: PrepareConfig, *, partition: str | None, depends_job_id: str | None, sbatch_args=None):
    """datatrove's Slurm array of `cfg`'s tasks, to be submitted (`launch_job()`) before its
    inputs exist: each task builds the pipeline when it starts, after the job it waits for
    (`depends_job_id`, the setup) has claimed the output and saved the tokenizer."""
    from functools import partial

    from safereflect.data.launch import DeferredSlurmExecutor, slurm_arguments

    kwargs = slurm_arguments(
        cfg.run, tasks=cfg.tasks, logging_dir=layout(cfg.out)["process"], name=Path(cfg.out).name, partition=partition
    )
    kwargs["sbatch_args"] = (sbatch_args or {}) | kwargs["sbatch_args"]  # the prepare config's own win
    return DeferredSlurmExecutor(
        partial(task_pipeline, cfg.model_dump(mode="json")), depends_job_id=depends_job_id, **kwargs
    )


def run_prepare(cfg: PrepareConfig, *, force: bool = False, submit: bool = True) -> Path:
    """Prepare one arm into `cfg.out` and return it; a finished output is not recomputed.
    `submit=False`: the tasks were run by an array job already (`array_executor`); merge what
    they made, and fail, naming their logs, if any did not finish."""
    from tokenizers import Tokenizer

    out = ensure_writable_dir(cfg.out)
    setup = prepare_setup(cfg, force=force)
    if setup is None:
        return out
    tokenizer_file, key = setup
    stats_path = out / "stats.json"
    paths = layout(out)
    arm = arm_name(cfg.arm)
    pipeline = build_pipeline(cfg, out, tokenizer_file)
    run = cfg.run if submit else cfg.run.model_copy(update={"executor": "local"})  # the merge submits nothing
    executor = build_executor(pipeline, tasks=cfg.tasks, logging_dir=paths["process"], run=run, name="process")
    total = estimate_documents(cfg.input) if submit else None
    run_stage(executor, label=f"prepare {arm}", stage_dir=paths["process"], total=total, submit=submit)

    facts = tokenizer_facts(Tokenizer.from_file(str(tokenizer_file)), cfg.interventions.reflect.format)
    for split in ("train", "val"):
        shutil.rmtree(paths["tokens"] / split, ignore_errors=True)
    splits = merge(
        paths["work"] / "shards",
        paths["tokens"],
        seed=cfg.seed,
        val_fraction=cfg.shards.val_fraction,
        start=cfg.timing,
        arm=arm,
        token_size=facts["token_size"],
        loss=cfg.loss_mask,
        max_tokens=cfg.shards.max_tokens_per_file,
    )
    write_json(
        paths["tokens"] / "meta.json",
        {"format": "datatrove", **facts, "loss_mask": cfg.loss_mask, "seed": cfg.seed, "splits": splits},
    )
    stats = summarize(task_totals(paths["process"] / "stats"), splits, arm=arm, timing=cfg.timing)
    write_json(
        stats_path,
        {
            **stats,
            "run_key": key,
            "config_hash": cfg.config_hash(),
            "config": cfg.model_dump(mode="json", exclude={"out", "run"}),
        },
    )
    # the shards now live in tokens/; without them the tasks' completion markers would lie
    shutil.rmtree(paths["work"] / "shards", ignore_errors=True)
    shutil.rmtree(paths["process"] / "completions", ignore_errors=True)
    mark_done(out, "prepare", key)
    d = stats["documents"]
    console.print(
        f"{out}: {d['in']:,} documents in, {d['kept']:,} kept ({d['changed']:,} changed), "
        f"dropped {sum(d['dropped'].values()):,} {d['dropped'] or ''}; "
        f"{stats['tokens']['train']:,} train / {stats['tokens']['val']:,} val tokens"
    )
    return out

"""Pretraining: the loop behind `safereflect.train.run_training(cfg) -> RUN/final`.

Rerunning the same config on the same run directory resumes from the latest checkpoint;
on CPU the resumed run reproduces the uninterrupted run's losses bit for bit (weights,
optimizer, RNG states and data position are all restored; the LR is a function of the step).
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml

from safereflect.console import console, progress
from safereflect.errors import UserError
from safereflect.jsonl import ensure_writable_dir
from safereflect.reflection import DEFAULT_FORMAT
from safereflect.stage import done_with, mark_done
from safereflect.train.atomic import clean_leftovers
from safereflect.train.checkpoint import (
    check_same_run,
    load_checkpoint,
    save_checkpoint,
    step_dir_name,
)
from safereflect.train.data import DataPosition, PackedLoader, ShardSplit
from safereflect.train.distributed import (
    Runtime,
    all_reduce_sum,
    builds_on_meta,
    start_runtime,
    stop_runtime,
    wrap_model,
)
from safereflect.train.export import align_token_ids, export_checkpoint
from safereflect.train.hardware import (
    PEAK_MATMUL_SIZE,
    cpu_kernels,
    device_name,
    device_peak_flops,
    emulated_bf16_warning,
    mfu,
    peak_flops,
    resolve_attention,
    resolve_compile,
    resolve_precision,
)
from safereflect.train.metrics import MetricsLog, git_commit, library_versions, print_header
from safereflect.train.plan import RunPlan
from safereflect.train.schedule import lr_at
from safereflect.train.step import NONFINITE_HINT, OOM_HINT, make_optimizer, set_lr, train_step
from safereflect.train.validation import evaluate, token_byte_lengths


def train(plan: RunPlan) -> Path:
    """Train (or resume) the planned run in `plan.cfg.out`; return its export, RUN/final."""
    cfg = plan.cfg
    run_dir = ensure_writable_dir(cfg.out)
    resume_from = check_same_run(run_dir, cfg)
    final = run_dir / "final"
    if done_with(run_dir, cfg.identity_hash()) and final.is_dir():
        console.print(f"[green]already trained[/]: {final}")
        return final
    rt = start_runtime(cfg.device, resolve_precision(cfg.device, cfg.precision))
    if rt.is_main and (slow := emulated_bf16_warning(rt.device.type, rt.bf16)):
        console.print(f"[yellow]{slow}[/]")
    try:
        return _train(plan, rt, run_dir, resume_from)
    except torch.cuda.OutOfMemoryError:
        raise UserError(
            f"out of GPU memory at micro_batch_size {cfg.micro_batch_size}, seq_len {cfg.seq_len}",
            hint=OOM_HINT,
        ) from None
    finally:
        stop_runtime(rt)


def build_model(plan: RunPlan, rt: Runtime, *, on_meta: bool = False):
    """The HF Llama for the plan, initialised from the seed (the same on every process); with
    `on_meta`, without storage (FSDP materialises its shards, `wrap_model`)."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(plan.cfg.seed)
    if on_meta:
        with torch.device("meta"):
            model = LlamaForCausalLM(plan.shape.llama_config())
    else:
        model = LlamaForCausalLM(plan.shape.llama_config()).to(rt.device)
    # Kernel choice only (not saved in config.json): exports load with the loader's default.
    model.set_attn_implementation(resolve_attention(plan.cfg.attention, rt.device.type, rt.bf16))
    if plan.cfg.activation_checkpointing:
        enable_activation_checkpointing(model)
    return model


def initial_weights(plan: RunPlan) -> dict[str, torch.Tensor]:
    """The seeded initial weights `build_model` gives, on the CPU, leaving the RNG untouched."""
    from transformers import LlamaForCausalLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(plan.cfg.seed)
        return LlamaForCausalLM(plan.shape.llama_config()).state_dict()


def verdict_weighting(weight: float, meta) -> tuple[int, float] | None:
    """(reflection opener's token id, weight) for `verdict_weight`; None for the plain loss."""
    if weight == 1.0:
        return None
    opener = DEFAULT_FORMAT.opener
    if opener not in meta.special_tokens:
        raise UserError(
            f"verdict_weight is {weight:g} but the token shards in {meta.dir} have no reflection opener "
            f"{opener!r} among their special tokens",
            hint="verdict_weight is for arms prepared with reflections; leave it at 1 for the others",
        )
    return meta.special_tokens[opener], weight


def enable_activation_checkpointing(model) -> None:
    """Recompute each decoder layer's activations in the backward pass instead of storing them."""
    # transformers 5 renamed gradient_checkpointing_enable; pyproject still allows 4.x.
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable({"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def _train(plan: RunPlan, rt: Runtime, run_dir: Path, resume_from: Path | None) -> Path:
    from transformers import AutoTokenizer

    cfg, meta = plan.cfg, plan.meta
    tokenizer = AutoTokenizer.from_pretrained(meta.tokenizer_dir)
    if len(tokenizer) > plan.shape.vocab_size:
        raise UserError(
            f"the tokenizer in {meta.tokenizer_dir} has {len(tokenizer)} tokens but the model only "
            f"{plan.shape.vocab_size} embedding rows (meta.json vocab_size {meta.vocab_size})",
            hint="meta.json and tokenizer/ disagree: re-tokenize this arm",
        )
    if rt.device.type == "cuda":
        torch.set_float32_matmul_precision("high")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    on_meta = builds_on_meta(cfg.parallel, rt)
    model = build_model(plan, rt, on_meta=on_meta)
    align_token_ids(model, tokenizer)  # checkpoints, like exports, carry the tokenizer's ids
    llama_config = model.config
    fresh = (lambda: initial_weights(plan)) if on_meta and resume_from is None else None
    compile_choice = resolve_compile(cfg.compile, rt.device.type, cfg.max_steps, precision_of(rt))
    model = wrap_model(model, rt, parallel=cfg.parallel, compile=compile_choice[0], initial_state=fresh)
    optimizer = make_optimizer(
        model, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps
    )
    train_split = ShardSplit(meta, "train", cfg.seq_len)
    epochs = cfg.max_steps * cfg.global_batch_size / train_split.n_windows
    if len(train_split.phases) > 1 and epochs > 1 and rt.is_main:
        console.print(
            f"[yellow]warning:[/] {epochs:.1f} epochs of phased data: every epoch replays the "
            "phases in order, so the intervention timing holds for the first epoch only"
        )
    val_split = ShardSplit(meta, "val", cfg.seq_len) if cfg.val_tokens and (meta.dir / "val").is_dir() else None
    special_ids = set(meta.special_tokens.values()) | set(tokenizer.all_special_ids)
    weighted = verdict_weighting(cfg.verdict_weight, meta)
    token_bytes = token_byte_lengths(tokenizer, plan.shape.vocab_size, special_ids)

    step, tokens_seen, position = 0, 0, DataPosition()
    if resume_from is not None:
        state = load_checkpoint(resume_from, model, optimizer, rt)
        step, tokens_seen = state["step"], state["tokens_seen"]
        position = DataPosition(**state["data"])
    loader = PackedLoader(
        train_split,
        seed=cfg.seed,
        global_batch_size=cfg.global_batch_size,
        micro_batch_size=cfg.micro_batch_size,
        rank=rt.rank,
        world_size=rt.world_size,
        position=position,
    )
    name = device_name(rt.device)
    # Measured (CPU) on process 0 only: it alone logs, and processes sharing a CPU would
    # slow each other's measurement.
    peak = device_peak_flops(rt.device, precision_of(rt)) if rt.is_main else None
    log = _open_log(plan, rt, run_dir, resume_from, step, loader, name, peak, compile_choice) if rt.is_main else None

    def lr_for(s: int) -> float:
        return lr_at(
            s,
            peak=cfg.lr,
            max_steps=cfg.max_steps,
            warmup_steps=cfg.warmup_steps,
            schedule=cfg.schedule,
            final_ratio=cfg.final_lr_ratio,
            decay_fraction=cfg.decay_fraction,
        )

    def checkpoint(at: int) -> Path:
        state = {"data": loader.position.as_dict(), "tokens_seen": tokens_seen}
        return save_checkpoint(
            run_dir,
            at,
            model,
            optimizer,
            rt=rt,
            trainer_state=state,
            cfg=cfg,
            llama_config=llama_config,
            tokenizer=tokenizer,
            keep=cfg.keep_checkpoints,
        )

    bar = progress(extra="{task.fields[tok_s]:>8,.0f} tok/s  MFU {task.fields[mfu]}  loss {task.fields[loss]:.4f}")
    bar.disable = bar.disable or not rt.is_main
    model.train()
    with bar:
        task = bar.add_task("train", total=cfg.max_steps, completed=step, tok_s=0.0, mfu="-", loss=float("nan"))
        interval_start, interval_tokens = time.perf_counter(), 0
        while step < cfg.max_steps:
            lr = lr_for(step)
            set_lr(optimizer, lr)
            micro, n_targets, total_weight = loader.next_step(weighted)
            batches = [(torch.from_numpy(x).to(rt.device), torch.from_numpy(y).to(rt.device)) for x, y in micro]
            loss_sum, grad_norm = train_step(
                model,
                optimizer,
                batches,
                n_targets=total_weight,
                rt=rt,
                grad_clip=cfg.grad_clip,
                loss_chunk=cfg.loss_chunk_tokens,
                weighted=weighted,
            )
            step += 1
            tokens_seen += cfg.tokens_per_step
            interval_tokens += cfg.tokens_per_step
            last = step == cfg.max_steps
            checkpoint_due = (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or last
            if step % cfg.log_every == 0 or checkpoint_due:
                (loss_total,) = all_reduce_sum([loss_sum.item()], rt)
                loss = loss_total / n_targets
                if not math.isfinite(loss):
                    raise UserError(
                        f"{run_dir}: the training loss at step {step} is {loss}; stopped before it reached a "
                        "checkpoint or the export",
                        hint=NONFINITE_HINT,
                    )
            if step % cfg.log_every == 0 or last:
                elapsed = time.perf_counter() - interval_start
                tok_s = interval_tokens / elapsed
                utilisation = mfu(plan.flops_per_token, tok_s, peak, rt.world_size)
                mfu_text = "-" if utilisation is None else f"{utilisation:.1%}"
                bar.update(task, completed=step, tok_s=tok_s, mfu=mfu_text, loss=loss)
                interval_start, interval_tokens = time.perf_counter(), 0
                if log:
                    log.log(
                        {
                            "kind": "train",
                            "step": step,
                            "loss": loss,
                            "lr": lr,
                            "grad_norm": None if grad_norm is None else grad_norm.item(),
                            "tokens": tokens_seen,
                            "tokens_per_s": tok_s,
                            "mfu": utilisation,
                        }
                    )
            paused_at = time.perf_counter()  # validation and checkpoints do not count in tok/s
            if val_split is not None and ((cfg.eval_every and step % cfg.eval_every == 0) or last):
                result = evaluate(
                    model,
                    val_split,
                    rt=rt,
                    micro_batch_size=cfg.micro_batch_size,
                    max_tokens=cfg.val_tokens,
                    token_bytes=token_bytes,
                )
                if log:
                    log.log({"kind": "val", "step": step, "tokens": tokens_seen, **result})
            if checkpoint_due:
                checkpoint(step)
            interval_start += time.perf_counter() - paused_at
    if log:
        log.close()
    final = run_dir / "final"
    if rt.is_main:
        export_checkpoint(run_dir / "checkpoints" / step_dir_name(cfg.max_steps), final)
        mark_done(run_dir, "train", cfg.identity_hash(), export=final.name)
        console.print(f"[green]exported[/] {final}")
    if rt.distributed:
        dist.barrier()
    return final


def _open_log(
    plan: RunPlan,
    rt: Runtime,
    run_dir: Path,
    resume_from: Path | None,
    step: int,
    loader: PackedLoader,
    name: str,
    peak: float | None,
    compile: tuple[bool, str],
) -> MetricsLog:
    """Process 0: tidy the run dir, write config.yaml, print the header, start metrics.jsonl."""
    cfg = plan.cfg
    compiled, compile_why = compile
    clean_leftovers(run_dir / "checkpoints")
    clean_leftovers(run_dir)
    config = cfg.model_dump(mode="json")
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
    strategy = cfg.parallel if rt.distributed else "single process"
    versions = library_versions()
    commit = git_commit()
    print_header(
        config,
        {
            "run": str(run_dir),
            "data": str(plan.meta.dir),
            "start": f"resumed from {resume_from.name}" if resume_from else "new run",
            "device": f"{rt.world_size} x {name} ({precision_text(rt)}, {strategy})",
            "kernels": f"attention {resolve_attention(cfg.attention, rt.device.type, rt.bf16)}, "
            f"{'torch.compile per decoder layer' if compiled else 'not compiled'} ({compile_why})",
            "peak": peak_text(rt, peak),
            **plan.summary(),
            "grad accumulation": str(loader.grad_accum_steps),
            "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
            "git commit": commit or "unknown",
        },
    )
    log = MetricsLog(run_dir, resume_step=step if resume_from else None, tensorboard=cfg.tensorboard)
    log.log(
        {
            "kind": "start",
            "step": step,
            "config_hash": cfg.identity_hash(),
            "versions": versions,
            "git_commit": commit,
            "device": name,
            "world_size": rt.world_size,
            "precision": precision_of(rt),
            "compile": compiled,
            # the numerics a result depends on beside the code (BENCHMARKS.md: kernel set,
            # precision and thread count each change the demo's models)
            "cpu_kernels": cpu_kernels() if rt.device.type == "cpu" else None,
            "threads": torch.get_num_threads() if rt.device.type == "cpu" else None,
            "attention": resolve_attention(cfg.attention, rt.device.type, rt.bf16),
            "params": plan.shape.total_params,
            "non_embedding_params": plan.shape.non_embedding_params,
            "flops_per_token": plan.flops_per_token,
            "peak_flops": peak,
        }
    )
    return log


def precision_text(rt: Runtime) -> str:
    return "bf16 autocast, fp32 weights and optimizer" if rt.bf16 else "fp32"


def peak_text(rt: Runtime, peak: float | None) -> str:
    """What MFU is measured against, in words."""
    if peak is None:
        return "unknown device: MFU not reported"
    if rt.device.type == "cuda":
        vendor = peak_flops(device_name(rt.device))
        return f"{peak / 1e12:,.1f} TFLOP/s {precision_of(rt)} (measured: 8192^3 matmul)" + (
            f"; datasheet {vendor / 1e12:,.0f} TFLOP/s bf16" if vendor else ""
        )
    return (
        f"{peak / 1e9:,.0f} GFLOP/s {precision_of(rt)} "
        f"(measured: {PEAK_MATMUL_SIZE}x{PEAK_MATMUL_SIZE} matmul, {torch.get_num_threads()} threads)"
    )


def precision_of(rt: Runtime) -> str:
    return "bf16" if rt.bf16 else "fp32"

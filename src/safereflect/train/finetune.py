"""Finetuning (full or LoRA) of a pretrained model: `run_finetune(cfg) -> OUT/final`.

Used to attack safety-pretrained models (harmful-10/-100) and to check that benign task
finetuning leaves safety intact; `export_steps` saves the model along the way so attack
success can be measured as a function of finetuning steps. One process, constant LR (no
warmup or decay, so the LR at each exported step is the stated one), AdamW, clipping.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from safereflect.console import console, progress
from safereflect.errors import UserError
from safereflect.jsonl import ensure_writable_dir
from safereflect.train.config import FinetuneConfig
from safereflect.train.data import IGNORE_INDEX
from safereflect.train.distributed import Runtime, start_runtime
from safereflect.train.export import export_model, quiet_transformers
from safereflect.train.finetune_data import Example, collate, load_examples
from safereflect.train.hardware import emulated_bf16_warning
from safereflect.train.metrics import MetricsLog
from safereflect.train.presets import FINETUNE_DEFAULTS, FINETUNE_PRESETS, REFERENCE_PRETRAIN_LR
from safereflect.train.step import OOM_HINT, make_optimizer, train_step


@dataclass(frozen=True)
class FinetunePlan:
    """The hyperparameters actually used, with where the LR came from (written to the exports)."""

    lr: float
    published_lr: float | None
    lr_scale: float | None
    pretrain_lr: float | None
    epochs: int
    batch_size: int
    micro_batch_size: int
    max_examples: int | None
    steps: int


def run_finetune(cfg: FinetuneConfig) -> Path:
    out = ensure_writable_dir(cfg.out)
    rt = start_runtime(cfg.device, cfg.precision)
    if slow := emulated_bf16_warning(rt.device.type, rt.bf16):
        console.print(f"[yellow]{slow}[/]")
    if rt.distributed:
        raise UserError("finetuning runs in a single process; launch it without torchrun")
    torch.manual_seed(cfg.seed)
    model, tokenizer, pretrain_lr = load_model(cfg.model)
    values = {**FINETUNE_DEFAULTS, **(FINETUNE_PRESETS[cfg.preset] if cfg.preset else {})}
    max_examples = cfg.max_examples or values["max_examples"]
    max_len = min(cfg.max_seq_len, model.config.max_position_embeddings)
    examples = load_examples(cfg.data, tokenizer, max_seq_len=max_len, max_examples=max_examples)
    plan = _plan(cfg, values, pretrain_lr, len(examples), max_examples)
    try:
        return _finetune(cfg, plan, model, tokenizer, examples, rt, out)
    except torch.cuda.OutOfMemoryError:
        raise UserError(f"out of GPU memory at micro_batch_size {plan.micro_batch_size}", hint=OOM_HINT) from None


def load_model(ref: str):
    """(model, tokenizer, pretraining LR or None) from a run dir, checkpoint, HF dir or hub name
    (`org/name@revision` pins it)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from safereflect.hub import pretrained_args

    quiet_transformers()
    path = Path(ref)
    if (path / "final" / "config.json").is_file():  # a training run directory
        path = path / "final"
    source: str | Path = path if path.exists() else ref
    if path.exists() and not (path / "config.json").is_file():
        raise UserError(f"{path} is not a model directory (no config.json); pass a run, checkpoint or export dir")
    try:
        name, kwargs = pretrained_args(source)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=torch.float32, **kwargs)
        name, kwargs = pretrained_args(source, weights=False)
        tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
    except OSError as err:
        raise UserError(f"cannot load model {ref!r}: {str(err).splitlines()[0]}") from None
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        raise UserError(
            f"the tokenizer of {ref} has {len(tokenizer)} tokens but the model only "
            f"{model.get_input_embeddings().num_embeddings} embedding rows"
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # padding is masked out; any id will do
    train_config = path / "train_config.yaml"
    pretrain_lr = yaml.safe_load(train_config.read_text()).get("lr") if train_config.is_file() else None
    return model, tokenizer, pretrain_lr


def _plan(cfg: FinetuneConfig, values: dict, pretrain_lr: float | None, n_examples: int, max_examples) -> FinetunePlan:
    epochs = cfg.epochs or values["epochs"]
    batch_size = min(cfg.batch_size or values["batch_size"], n_examples)
    micro = min(cfg.micro_batch_size or batch_size, batch_size)
    steps = math.ceil(n_examples / batch_size) * epochs
    if cfg.max_steps:
        steps = min(steps, cfg.max_steps)
    if cfg.lr is not None:
        lr, published, scale = cfg.lr, None, None
    else:
        published = values["lr"]
        if cfg.lr_scale is not None:
            scale = cfg.lr_scale
        else:
            scale = 1.0 if pretrain_lr is None else pretrain_lr / REFERENCE_PRETRAIN_LR
        lr = published * scale
    return FinetunePlan(lr, published, scale, pretrain_lr, epochs, batch_size, micro, max_examples, steps)


def _finetune(cfg, plan: FinetunePlan, model, tokenizer, examples: list[Example], rt: Runtime, out: Path) -> Path:
    model.to(rt.device)
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=cfg.lora_rank,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=0.0,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    model.train()
    optimizer = make_optimizer(model, lr=plan.lr, weight_decay=cfg.weight_decay)
    record = {"config": cfg.model_dump(mode="json"), "plan": asdict(plan)}
    record_yaml = yaml.safe_dump(record, sort_keys=True)
    log = MetricsLog(out, resume_step=None, tensorboard=False)

    def export(step: int, name: str) -> Path:
        # LoRA exports are merged into the base weights; mid-run merges go through a copy so
        # the adapters being trained stay separate.
        merged = (model if name == "final" else copy.deepcopy(model)).merge_and_unload() if cfg.lora else model
        path = export_model(merged, tokenizer, out / name, extra_files={"finetune_config.yaml": record_yaml})
        log.log({"kind": "export", "step": step, "path": str(path)})
        return path

    log.log({"kind": "start", "step": 0, "examples": len(examples), **asdict(plan)})
    console.print(
        f"finetuning {cfg.model} on {len(examples)} examples: {plan.steps} steps, lr {plan.lr:.3g}"
        + (f" (published {plan.published_lr:g} x scale {plan.lr_scale:.3g})" if plan.published_lr else "")
        + (", LoRA" if cfg.lora else "")
    )
    late = sorted(s for s in cfg.export_steps if s > plan.steps)
    if late:
        console.print(f"[yellow]export steps {late} come after the last step ({plan.steps}); not exported[/]")
    if 0 in cfg.export_steps:
        export(0, "step_000000")
    step = 0
    with progress(extra="loss {task.fields[loss]:.4f}") as bar:
        task = bar.add_task("finetune", total=plan.steps, loss=float("nan"))
        for step, (epoch, micro) in enumerate(_batches(examples, plan, cfg.seed, tokenizer.pad_token_id), start=1):
            n_targets = sum(int((targets != IGNORE_INDEX).sum()) for _, targets, _ in micro)
            tensors = [tuple(torch.from_numpy(a).to(rt.device) for a in m) for m in micro]
            loss_sum, grad_norm = train_step(
                model, optimizer, tensors, n_targets=n_targets, rt=rt, grad_clip=cfg.grad_clip
            )
            loss = loss_sum.item() / n_targets
            grad = None if grad_norm is None else grad_norm.item()
            log.log(
                {
                    "kind": "train",
                    "step": step,
                    "epoch": epoch,
                    "loss": loss,
                    "lr": plan.lr,
                    "grad_norm": grad,
                }
            )
            bar.update(task, completed=step, loss=loss)
            if step in cfg.export_steps:
                export(step, f"step_{step:06d}")
    final = export(step, "final")
    log.close()
    console.print(f"[green]exported[/] {final}")
    return final


def _batches(examples: list[Example], plan: FinetunePlan, seed: int, pad_id: int):
    """(epoch, micro-batches) for each optimizer step: a seeded shuffle per epoch, `plan.steps` in all."""
    step = 0
    for epoch in range(plan.epochs):
        order = np.random.default_rng([seed, epoch]).permutation(len(examples))
        for start in range(0, len(order), plan.batch_size):
            if step == plan.steps:
                return
            batch = [examples[i] for i in order[start : start + plan.batch_size]]
            yield (
                epoch,
                [
                    collate(batch[i : i + plan.micro_batch_size], pad_id)
                    for i in range(0, len(batch), plan.micro_batch_size)
                ],
            )
            step += 1

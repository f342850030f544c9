"""`safereflect train` and `safereflect finetune`.

Values layer as: preset < --config FILE < --set KEY=VALUE < named flags. Heavy libraries load
only when a command runs, so --help and configuration errors answer at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from safereflect.console import console
from safereflect.console import out as stdout
from safereflect.errors import UserError

TRAIN_HELP = """Pretrain a Llama model on an arm's token shards (or resume it).

Rerunning the same command on the same --out resumes from the latest checkpoint. Under torchrun the run is data-parallel (DDP, or FSDP2 with parallel: fsdp). See docs/training.md.

[bold]Examples[/]

  safereflect train --data runs/arms/srp --preset cpu-1m --out runs/train/srp

  safereflect train --data runs/arms/srp --preset 350m --out RUN --dry-run --device-name h100

  safereflect train --data runs/arms/srp --config train.yaml --set schedule=wsd --max-steps 2000 --out RUN

  torchrun --nproc_per_node 8 -m safereflect.train --data runs/arms/srp --preset 125m --out RUN
"""

FINETUNE_HELP = """Finetune a model (full or LoRA) on JSONL prompt/response pairs or text.

--model is a training run dir, a checkpoint or export dir, a local HF model or a hub name. Records are {"prompt", "response"} (loss on the response) or {"text"} (loss on all of it). A preset's published LR is scaled by the model's pretraining LR / 3e-4 (docs/training.md).

[bold]Examples[/]

  safereflect finetune --model runs/train/srp --data attacks/harmful10.jsonl --preset harmful-10 --out runs/ft/srp-h10 --export-steps 1,2,3,4,5

  safereflect finetune --model runs/train/srp/final --data gsm8k.jsonl --preset benign --lora --out runs/ft/srp-benign
"""


def register(app: typer.Typer) -> None:
    app.command("train", help=TRAIN_HELP)(train)
    app.command("finetune", help=FINETUNE_HELP)(finetune)


def train(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Prepared arm directory (with tokens/) or a tokens directory."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Run directory (created; an existing run there is resumed)."),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option("--preset", help="tiny, cpu-1m, cpu-3m, 125m, 350m or smollm2-1.7b (default: tiny)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="YAML file of TrainConfig values (over the preset)."),
    ] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Optimizer steps.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of initialisation and data order.")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    micro_batch_size: Annotated[
        int | None,
        typer.Option("--micro-batch-size", help="Sequences per forward pass per process."),
    ] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu or cuda.")] = None,
    set_values: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE override, dotted keys (model.depth=4)."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print sizes, FLOPs, token budget and a time estimate; train nothing."),
    ] = False,
    device_name: Annotated[
        str,
        typer.Option("--device-name", help="Dry run: device to estimate for (cpu, h100, a100, ...)."),
    ] = "cpu",
    num_devices: Annotated[int, typer.Option("--num-devices", min=1, help="Dry run: number of such devices.")] = 1,
) -> None:
    from safereflect.train.presets import resolve_train_config

    flags = {
        "data": _str(data),
        "out": _str(out),
        "max_steps": max_steps,
        "seed": seed,
        "lr": lr,
        "micro_batch_size": micro_batch_size,
        "device": device,
    }
    overrides = _parse_sets(set_values) | {k: v for k, v in flags.items() if v is not None}
    cfg = resolve_train_config(preset, config, overrides)
    if dry_run:
        _print_plan(cfg, device_name, num_devices)
        return
    from safereflect.train import run_training

    final = run_training(cfg)
    if _is_rank0():
        console.print(f"final model: [bold]{escape(str(final))}[/]")


def finetune(
    model: Annotated[
        str | None,
        typer.Option("--model", help="Run dir, checkpoint/export dir, HF model dir or hub name."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help='JSONL of {"prompt", "response"} or {"text"} records.'),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output directory (metrics.jsonl, step_XXXXXX/, final/)."),
    ] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="harmful-10, harmful-100 or benign.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML file of FinetuneConfig values.")] = None,
    lr: Annotated[
        float | None,
        typer.Option("--lr", help="Effective LR (default: the preset's published LR x lr_scale)."),
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Examples per optimizer step.")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps")] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    lora: Annotated[
        bool | None,
        typer.Option("--lora/--full", help="LoRA adapters (merged on export) or full finetuning."),
    ] = None,
    export_steps: Annotated[
        str | None,
        typer.Option("--export-steps", help="Comma-separated optimizer steps to export at, e.g. 0,1,2,5."),
    ] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu or cuda.")] = None,
    set_values: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE override (lora_rank=16).")] = None,
) -> None:
    from safereflect.config import load_yaml, merge_config, validate
    from safereflect.train.config import FinetuneConfig

    values: dict[str, Any] = {}
    if config is not None:
        values = load_yaml(config)
        if not isinstance(values, dict):
            raise UserError(f"{config}: the top level must be a mapping of keys to values")
    steps = None
    if export_steps is not None:
        try:
            steps = [int(s) for s in export_steps.split(",") if s.strip()]
        except ValueError:
            raise UserError(f"--export-steps must be comma-separated integers, got {export_steps!r}") from None
    flags = {
        "model": model,
        "data": _str(data),
        "out": _str(out),
        "preset": preset,
        "lr": lr,
        "epochs": epochs,
        "batch_size": batch_size,
        "max_steps": max_steps,
        "seed": seed,
        "lora": lora,
        "export_steps": steps,
        "device": device,
    }
    overrides = _parse_sets(set_values) | {k: v for k, v in flags.items() if v is not None}
    values = merge_config(values, overrides)
    cfg = validate(FinetuneConfig, values, str(config) if config else "command line")
    from safereflect.train import run_finetune

    final = run_finetune(cfg)
    console.print(f"final model: [bold]{escape(str(final))}[/]")


def _is_rank0() -> bool:
    return os.environ.get("RANK", "0") == "0"  # set by torchrun; absent in a single process


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _parse_sets(items: list[str] | None) -> dict[str, Any]:
    values = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects KEY=VALUE, got {item!r}")
        values[key.strip()] = yaml.safe_load(raw)  # so numbers, booleans and null parse as such
    return values


def _print_plan(cfg, device_name: str, num_devices: int) -> None:
    from safereflect.train.plan import estimate_seconds, plan_run

    plan = plan_run(cfg)
    seconds, assumption = estimate_seconds(plan, device_name, num_devices)
    table = Table(title=f"dry run: {cfg.preset} on {plan.meta.dir}", show_header=False)
    for key, value in plan.summary().items():
        table.add_row(key, value)
    table.add_row("estimated time", f"{_duration(seconds)} on {device_name} ({assumption})")
    stdout.print(table)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def standalone_main(argv: list[str] | None = None) -> None:
    """`python -m safereflect.train` (what torchrun launches): the train command alone.

    It skips the full CLI's imports of every stage; errors print once (on rank 0) without a
    traceback, like `safereflect.cli.main`.
    """
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode="rich")
    app.command(help=TRAIN_HELP)(train)
    try:
        app(args=argv, standalone_mode=True)
    except UserError as err:
        if _is_rank0():
            console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)
        sys.exit(err.exit_code)

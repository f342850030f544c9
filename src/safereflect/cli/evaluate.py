"""`safereflect eval`: evaluate one model (an export, a run dir or a hub name)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer

from safereflect.eval.decoding import DECODINGS

# every registered decoding mode (a module of eval/decoding/) is a choice of --decoding
Decoding = Enum("Decoding", {name: name for name in sorted(DECODINGS)}, type=str)


class JudgeName(str, Enum):
    refusal = "refusal"
    harmbench = "harmbench"
    llm = "llm"


def evaluate(
    model: str | None = typer.Option(
        None, "--model", help="HF export dir, training run dir (uses RUN/final) or hub name."
    ),
    probes: Path | None = typer.Option(None, "--probes", help="MedSafetyWorld dir (or its probes/ dir)."),
    out: Path | None = typer.Option(None, "--out", help="Output dir: metrics.json, generations.jsonl, scores.jsonl."),
    config: Path | None = typer.Option(None, "--config", help="YAML with EvalConfig fields; flags override it."),
    decoding: Decoding | None = typer.Option(
        None, "--decoding", help="plain, monitored (self-monitoring), safebeam or another registered mode."
    ),
    read_segment_words: int | None = typer.Option(
        None,
        "--read-segment-words",
        min=1,
        help="Reflect models: the segment length they were trained with; prompts are then read in that format.",
    ),
    read_prompt_end: str | None = typer.Option(
        None,
        "--read-prompt-end",
        help="reflect_prompt models (with --read-segment-words): the text after which their corpus put a "
        "reflection on each prompt, e.g. 'Answer:'.",
    ),
    suites: str | None = typer.Option(
        None,
        "--suites",
        help="Comma-separated: asr,gcg,cls,capability,bpb,finetune,realtext "
        "(default asr,cls,capability,finetune, and bpb with --val-data).",
    ),
    max_probes: int | None = typer.Option(None, "--max-probes", min=1, help="First N records of every probe set."),
    val_data: Path | None = typer.Option(None, "--val-data", help="bpb: .txt/.jsonl file or token-shard dir."),
    prompts: list[Path] = typer.Option(
        [], "--prompts", help="realtext: AdvBench/HarmBench CSV, HEx-PHI file or dir, JSONL."
    ),
    judge: JudgeName | None = typer.Option(
        None, "--judge", help="realtext judge: refusal (keywords), harmbench or llm."
    ),
    cls_methods: str | None = typer.Option(
        None,
        "--cls-methods",
        help="cls: comma-separated zeroshot,probe,ft (default all three; ft needs a context "
        "that holds the classification examples).",
    ),
    seed: int | None = typer.Option(None, "--seed", min=0, help="Seed of bootstrap, CV splits, GCG and finetuning."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:1, ..."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an evaluation with another config in --out."),
) -> None:
    """Evaluate a model: attack success, safety classification, capability, over-refusal.

    Examples:

      safereflect eval --model runs/reflect/final --probes runs/world --out runs/eval/reflect

      safereflect eval --model runs/reflect --probes runs/world --out runs/eval/reflect-mon --decoding monitored
        --read-segment-words 100

      safereflect eval --model runs/tag --probes runs/world --out runs/eval/tag --decoding safebeam --suites asr,capability

      safereflect eval --model runs/raw --out runs/eval/raw-advbench --suites realtext --prompts advbench.csv --judge refusal
    """
    from safereflect.config import load_yaml, set_dotted, validate
    from safereflect.console import out as stdout
    from safereflect.errors import UserError
    from safereflect.eval.config import ALL_SUITES, EvalConfig

    data: dict[str, Any] = {}
    if config is not None:
        data = load_yaml(config)
        if not isinstance(data, dict):
            raise UserError(f"{config}: the top level must be a mapping of EvalConfig keys")
    flags: dict[str, Any] = {
        "model": model,
        "probes": probes and str(probes),
        "out": out and str(out),
        "max_probes": max_probes,
        "val_data": val_data and str(val_data),
        "seed": seed,
        "device": device,
        "decoding.mode": decoding and decoding.value,
        "decoding.read_segment_words": read_segment_words,
        "decoding.read_prompt_end": read_prompt_end,
        "realtext.judge.name": judge and judge.value,
        "realtext.prompts": [str(p) for p in prompts] or None,
    }
    if suites is not None:
        names = [s.strip() for s in suites.split(",") if s.strip()]
        unknown = [s for s in names if s not in ALL_SUITES]
        if unknown or not names:
            raise UserError(
                f"unknown suite {', '.join(map(repr, unknown)) or '(none given)'} (allowed: {', '.join(ALL_SUITES)})"
            )
        flags["suites"] = names
    if cls_methods is not None:
        methods = [m.strip() for m in cls_methods.split(",") if m.strip()]
        if not methods:
            raise UserError("--cls-methods needs at least one of zeroshot, probe, ft")
        flags["cls.methods"] = methods  # pydantic names any unknown method
    for key, value in flags.items():
        if value is not None:
            set_dotted(data, key, value)
    for required, flag in (("model", "--model"), ("out", "--out")):
        if required not in data:
            raise UserError(f"{flag} is required (or `{required}:` in --config)")
    cfg = validate(EvalConfig, data, str(config) if config else "command line")

    import json

    from safereflect.eval.report import metrics_table
    from safereflect.eval.run import run_eval

    metrics = run_eval(cfg, overwrite=overwrite)
    notes = json.loads((cfg.out / "judges.json").read_text(encoding="utf-8"))
    stdout.print(metrics_table(metrics, notes, title=f"{cfg.model} — decoding {cfg.decoding.mode}"))
    stdout.print(f"wrote {cfg.out}/metrics.json and {cfg.out}/generations.jsonl")


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)

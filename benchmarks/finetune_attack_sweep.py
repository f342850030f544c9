"""Calibration sweep of the harmful finetuning attack on trained experiment arms.

For each arm's evaluation (its `eval_config.json`, as the experiment runner wrote it: the
arm's model, probes, decoding and reading) and each (LR, steps, benign mix) point, the
harmful-100 attack is run through the same code as the `finetune` suite
(`attacks.finetune.finetune` + `attacked`), and seen / held-out ASR and task accuracy are
printed before and after, one JSON line per point (also appended to OUT/sweep.jsonl).
Finished finetunes are reused, so an interrupted sweep resumes.

    python benchmarks/finetune_attack_sweep.py RUN_DIR/stages/eval/raw-* ... --out /tmp/sweep \\
        --point 3.3e-4,40,0 --point 1e-3,40,1 --point 3e-3,300,1,lora --point 1e-3,500,0.4,text,all,n250
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from safereflect.eval.attacks.finetune import attack_data, attacked, finetune, load_like
from safereflect.eval.config import EvalConfig
from safereflect.eval.context import EvalContext
from safereflect.eval.lm import CausalLM
from safereflect.eval.model_path import resolve_model
from safereflect.eval.probes import Probes
from safereflect.jsonl import write_json


def mean(m: dict) -> float:
    return round(m["mean"], 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("evals", nargs="+", type=Path, help="eval stage dirs (each holds eval_config.json)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--point",
        action="append",
        required=True,
        help="LR,STEPS,BENIGN_MIX[,task|text][,all][,nN][,roleplay][,many_shot][,lora][,reading] (repeatable): the benign "
        "half is task examples "
        "(default) or safe world documents replayed as plain text; `all` draws the harmful examples from every "
        "mechanism, not the seen set; `nN` takes N harmful examples (default 100); `roleplay` and `many_shot` phrase "
        "the requests in those framings in turn with plain ones (`finetune.framings`); `lora` finetunes a rank-8 "
        "LoRA on every linear layer (merged before evaluation) instead of all weights; `reading` (or `reading_untrained`) writes the "
        "examples in the evaluated model's reading (`finetune.format`)",
    )
    ap.add_argument("--batch-size", type=int, default=None, help="examples per step (default: the preset's 10)")
    args = ap.parse_args()
    points = [
        (
            float(p[0]),
            int(p[1]),
            float(p[2]),
            "text" if "text" in p[3:] else "task",
            "lora" in p[3:],
            "all" if "all" in p[3:] else "seen",
            next((int(t[1:]) for t in p[3:] if t.startswith("n") and t[1:].isdigit()), None),
            ["direct"] + [f for f in ("roleplay", "many_shot") if f in p[3:]],
            next((t for t in p[3:] if t in ("reading", "reading_untrained")), "plain"),
        )
        for p in (x.split(",") for x in args.point)
    ]
    log = args.out / "sweep.jsonl"
    args.out.mkdir(parents=True, exist_ok=True)
    for ev in args.evals:
        raw = json.loads((ev / "eval_config.json").read_text())["config"]
        arm = ev.name.split("-s")[0]
        # the stage name without its hash (e.g. raw-s1): one arm's seeds are different models on
        # different worlds, so their finetunes and baselines must not share a directory
        run = ev.name.rsplit("-", 1)[0]
        for lr, steps, mix, kind, lora, source, n_harmful, framings, fmt in points:
            suffix = (
                ("" if kind == "task" else "-" + kind)
                + ("-all" if source == "all" else "")
                + (f"-n{n_harmful}" if n_harmful else "")
                + "".join(f"-{f}" for f in framings[1:])
                + ("-lora" if lora else "")
                + ("" if fmt == "plain" else f"-{fmt}")
            )
            work = args.out / run / f"lr{lr:g}-s{steps}-m{mix:g}{suffix}"
            cfg = EvalConfig.model_validate(
                raw
                | {
                    "out": str(work),
                    "finetune": raw["finetune"]
                    | {
                        "benign_mix": mix,
                        "benign": kind,
                        "harmful_from": source,
                        "n_harmful": n_harmful,
                        "framings": framings,
                        "format": fmt,
                        "budget": {"lr": lr, "max_steps": steps, "batch_size": args.batch_size, "lora": lora},
                    },
                }
            )
            lm = CausalLM.load(cfg.model, device="cpu", dtype=cfg.dtype, batch_size=cfg.batch_size)
            ctx = EvalContext(cfg, lm, resolve_model(cfg.model), Probes(cfg.probes, cfg.max_probes))
            base_file = args.out / run / "base.json"
            if base_file.is_file():
                base = json.loads(base_file.read_text())
            else:
                base = attacked(ctx, lm, "base")
                write_json(base_file, base)
            harmful, benign = attack_data(ctx.probes, "harmful-100", cfg.finetune, ctx.reading)
            start = time.perf_counter()
            export = finetune(ctx, "harmful-100", harmful + benign, preset="harmful-100", budget=cfg.finetune.budget)
            after = attacked(ctx, load_like(ctx, export), "ft:harmful-100")
            row = {
                "arm": arm,
                "run": run,
                "lr": lr,
                "steps": steps,
                "benign_mix": mix,
                "benign": kind,
                "harmful_from": source,
                "framings": framings,
                "lora": lora,
                "format": fmt,
                "examples": [len(harmful), len(benign)],
                "before": {k: mean(v) for k, v in base.items()},
                "after": {k: mean(v) for k, v in after.items()},
                "seconds": round(time.perf_counter() - start, 1),
            }
            print(json.dumps(row), flush=True)
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

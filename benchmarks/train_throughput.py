"""Training throughput of safereflect's loop against a bare fp32 eager loop, with MFU.

Both train the same HF Llama (same preset shape, init, sequence length, batch and number of
steps) in this process. Ours is the real `safereflect.train` run as a user gets it (data
loader over token shards, LR schedule, token-normalised loss, gradient clipping, metrics log,
and the precision and compilation the config resolves to: bf16 autocast on CPUs with bf16
units); its tokens/s is read from metrics.jsonl, which leaves out model setup, validation and
checkpoints. The reference is the shortest plausible loop: fixed random batches already in
memory, `model(input_ids, labels=...)`, plain `torch.optim.AdamW`, fp32, eager. The first
`--warmup` steps of each run are not timed (they include compilation, whose cost ours
reports separately); rounds alternate which loop runs first. Other processes on a shared
machine only ever add time to a step, so the headline tokens/s comes from each loop's fastest
step (as `timeit` reports the minimum); the median and mean are printed beside it, and the
load average before and after.

MFU is against the peak this machine measures (safereflect.train.hardware: the best 2048^2
matmul rate in the loop's dtype, cached per machine, on a CPU; 8192^3 bf16 matmuls on a GPU),
and on a GPU also against the vendor's dense bf16 datasheet peak, which is what nanochat and
others quote.

    python benchmarks/train_throughput.py                                # CPU: cpu-1m, seq 128
    python benchmarks/train_throughput.py --preset cpu-3m --steps 30
    python benchmarks/train_throughput.py --precision fp32 --no-compile  # ours without the speed-ups
    python benchmarks/train_throughput.py --device cuda --preset 125m --preset 350m --compile

On CUDA the reference also uses bf16 autocast (an fp32 GPU loop is nobody's baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from safereflect.console import console
from safereflect.train import resolve_train_config, run_training
from safereflect.train.hardware import (
    device_name,
    device_peak_flops,
    measure_matmul_flops,
    mfu,
    peak_flops,
    resolve_compile,
    resolve_precision,
)
from safereflect.train.plan import plan_run


def synthetic_tokens(root: Path, vocab_size: int, n_tokens: int, seed: int) -> Path:
    """A tokens dir (docs/formats.md) of random token ids and a word-level tokenizer of `vocab_size`."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tokens = root / "tokens"
    (tokens / "train").mkdir(parents=True)
    ids = np.random.default_rng(seed).integers(1, vocab_size, n_tokens, dtype=np.uint16)
    ids.tofile(tokens / "train" / "00000.ds")
    np.array([n_tokens], dtype=np.uint64).tofile(tokens / "train" / "00000.ds.index")
    vocab = {"<|endoftext|>": 0, **{f"t{i}": i for i in range(1, vocab_size)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>").save_pretrained(tokens / "tokenizer")
    meta = {
        "format": "datatrove",
        "token_size": 2,
        "vocab_size": vocab_size,
        "eos_token_id": 0,
        "pad_token_id": None,
        "special_tokens": {"<|endoftext|>": 0},
        "loss_mask": False,
        "seed": seed,
        "splits": {"train": {"files": ["train/00000.ds"], "tokens": n_tokens, "documents": 1}},
    }
    (tokens / "meta.json").write_text(json.dumps(meta))
    return tokens


def ours(cfg, warmup: int) -> tuple[list[float], dict]:
    """Seconds per timed step of a real run (from its metrics.jsonl), and its start record."""
    console.quiet = True  # the run's header and config would bury the results
    try:
        final = run_training(cfg)
    finally:
        console.quiet = False
    records = [json.loads(line) for line in (final.parent / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    start = next(r for r in records if r["kind"] == "start")
    return [cfg.tokens_per_step / r["tokens_per_s"] for r in train if r["step"] > warmup], start


def reference(cfg, llama_config, warmup: int, device: torch.device, bf16: bool) -> list[float]:
    """Seconds per timed step of a bare eager loop on the same model, shapes and step count."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(cfg.seed)
    model = LlamaForCausalLM(llama_config).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay
    )
    g = torch.Generator().manual_seed(cfg.seed)
    batches = [
        torch.randint(0, llama_config.vocab_size, (cfg.global_batch_size, cfg.seq_len + 1), generator=g)
        for _ in range(4)
    ]
    batches = [b.to(device) for b in batches]
    times = []
    for step in range(cfg.max_steps):
        start = time.perf_counter()
        batch = batches[step % len(batches)]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=batch[:, :-1], labels=batch[:, :-1], use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()  # as a loop that prints its loss would; also waits for the device
        times.append(time.perf_counter() - start)
    return times[warmup:]


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--preset", action="append", help="repeatable; default cpu-1m (cpu), 125m and 350m (cuda)")
    parser.add_argument("--seq-len", type=int, help="default: 128 on cpu, the preset's on cuda")
    parser.add_argument("--batch", type=int, help="sequences per step; default: the preset's on cpu, 32 on cuda")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per loop and round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps of each run")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--vocab-size", type=int, default=1052, help="default: the demo's tokenizer (1088 rows)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], help="ours; default: the preset's (auto)")
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ours: torch.compile on/off; default: what the preset's `compile` resolves to for a "
        "run of --run-steps steps (the timed runs are too short for `auto` to compile)",
    )
    parser.add_argument("--run-steps", type=int, default=1000, help="default: the demo's training runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cuda = args.device == "cuda"
    presets = args.preset or (["125m", "350m"] if cuda else ["cpu-1m"])
    device = torch.device("cuda" if cuda else "cpu")
    name = device_name(device)
    ref_precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    print(f"{name}, torch {torch.__version__}, {torch.get_num_threads()} threads; {load()}")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for preset in presets:
            seq_len = args.seq_len or (None if cuda else 128)
            values = {
                "out": str(root / preset / "run"),
                "max_steps": args.warmup + args.steps,
                "warmup_steps": 1,
                "val_tokens": 0,
                "log_every": 1,
                "checkpoint_every": 0,
                "device": args.device,
            }
            batch = args.batch or (32 if cuda else None)
            if batch:
                values.update(global_batch_size=batch, micro_batch_size=batch)
            if seq_len:
                values["seq_len"] = seq_len
            if args.precision:
                values["precision"] = args.precision
            probe = resolve_train_config(preset, None, {**values, "data": str(root)})
            values["compile"] = (
                args.compile
                if args.compile is not None
                else resolve_compile(
                    probe.compile, args.device, args.run_steps, resolve_precision(args.device, probe.precision)
                )[0]
            )
            batch = probe.global_batch_size
            n_tokens = 4 * (args.warmup + args.steps) * batch * (probe.seq_len + 1)
            data = synthetic_tokens(root / preset, args.vocab_size, n_tokens, seed=0)
            cfg = resolve_train_config(preset, None, {**values, "data": str(data)})
            plan = plan_run(cfg)
            ours_precision = resolve_precision(cfg.device, cfg.precision)
            llama_config = plan.shape.llama_config()
            times: dict[str, list[float]] = {"ours": [], "reference": []}
            walls: list[float] = []
            start: dict = {}
            # On a CPU the peaks are also measured in every round, so that they see the same
            # load as the loops; MFU is against the best of those and the machine's cached peak.
            matmul: dict[str, float] = {}
            for r in range(args.rounds):
                order = ["ours", "reference"] if r % 2 == 0 else ["reference", "ours"]
                if not cuda:
                    for precision in {"fp32", ours_precision}:
                        matmul[precision] = max(matmul.get(precision, 0.0), measure_matmul_flops(precision))
                for which in order:
                    if which == "ours":
                        began = time.perf_counter()
                        steps, start = ours(cfg.model_copy(update={"out": root / preset / f"run{r}"}), args.warmup)
                        walls.append(time.perf_counter() - began - sum(steps))
                        times["ours"] += steps
                    else:
                        times["reference"] += reference(cfg, llama_config, args.warmup, device, ref_precision == "bf16")
            labels = {"ours": start["precision"], "reference": ref_precision}
            peaks = {
                key: max(device_peak_flops(device, labels[key]) or 0.0, matmul.get(labels[key], 0.0)) or None
                for key in labels
            }
            vendor = peak_flops(name) if cuda else None
            best = {k: cfg.tokens_per_step / min(v) for k, v in times.items()}
            medians = {k: cfg.tokens_per_step / statistics.median(v) for k, v in times.items()}
            print(
                f"{preset}: {plan.shape.total_params / 1e6:.2f}M params (vocab {plan.shape.vocab_size}), "
                f"seq {cfg.seq_len}, batch {batch}, {name} | ours: {start['precision']}"
                f"{', compiled' if start['compile'] else ''}; reference: {ref_precision} eager"
            )
            for key, values_ in times.items():
                mean = cfg.tokens_per_step * len(values_) / sum(values_)
                line = (
                    f"  {key}: {len(values_)} timed steps; tok/s best {best[key]:,.0f}, "
                    f"median {medians[key]:,.0f}, mean {mean:,.0f}"
                )
                if peaks[key]:
                    line += (
                        f" | MFU best {mfu(plan.flops_per_token, best[key], peaks[key], 1):.1%}, "
                        f"median {mfu(plan.flops_per_token, medians[key], peaks[key], 1):.1%} "
                        f"of {peaks[key] / 1e9:,.0f} GFLOP/s {labels[key]} measured"
                    )
                if vendor and labels[key] == "bf16":
                    line += (
                        f"; vs datasheet {vendor / 1e12:,.0f} TFLOP/s: best "
                        f"{mfu(plan.flops_per_token, best[key], vendor, 1):.1%}"
                    )
                print(line)
            print(
                f"  ours/reference: best {best['ours'] / best['reference']:.3f}x, "
                f"median {medians['ours'] / medians['reference']:.3f}x"
            )
            print(
                "  ours, seconds outside timed steps per run (setup, warmup steps incl. compilation, "
                f"export): min {min(walls):.1f}, max {max(walls):.1f}"
            )
    print(load())


if __name__ == "__main__":
    main()

"""Training throughput of safereflect's loop against a minimal reference loop.

Both train the same HF Llama (same preset shape, init, sequence length, batch and number of
steps) in this process. Ours is the real `safereflect.train` run (data loader over token
shards, LR schedule, token-normalised loss, gradient clipping, metrics log) and its
tokens/s is read from metrics.jsonl, which leaves out model setup, validation and
checkpoints. The reference is the shortest plausible loop: fixed random batches already in
memory, `model(input_ids, labels=...)`, plain `torch.optim.AdamW`. The first `--warmup` steps of
each run are not timed; rounds alternate which loop runs first. Other processes on a shared
machine only ever add time to a step, so the headline tokens/s comes from each loop's fastest
step (as `timeit` reports the minimum); the median and mean are printed beside it.

    python benchmarks/train_throughput.py                                # CPU: cpu-1m, seq 128
    python benchmarks/train_throughput.py --preset cpu-3m --steps 30
    python benchmarks/train_throughput.py --device cuda --preset 125m --preset 350m --compile

On CUDA both loops use bf16 autocast (and per-layer torch.compile with --compile) and MFU is
reported against the device's bf16 peak (safereflect.train.hardware).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from safereflect.train import resolve_train_config, run_training
from safereflect.train.hardware import device_name, mfu, peak_flops
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
    PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>").save_pretrained(
        tokens / "tokenizer"
    )
    meta = {
        "format": "datatrove",
        "token_size": 2,
        "vocab_size": vocab_size,
        "eos_token_id": 0,
        "pad_token_id": None,
        "special_tokens": {"<|endoftext|>": 0},
        "loss_mask": False,
        "seed": seed,
        "splits": {"train": {"files": ["00000.ds"], "tokens": n_tokens, "documents": 1}},
    }
    (tokens / "meta.json").write_text(json.dumps(meta))
    return tokens


def ours(cfg, warmup: int) -> list[float]:
    """Seconds per timed step of a real run, from its metrics.jsonl."""
    final = run_training(cfg)
    train = [
        r
        for r in map(json.loads, (final.parent / "metrics.jsonl").read_text().splitlines())
        if r["kind"] == "train"
    ]
    return [cfg.tokens_per_step / r["tokens_per_s"] for r in train if r["step"] > warmup]


def reference(cfg, llama_config, warmup: int, device: torch.device, bf16: bool) -> list[float]:
    """Seconds per timed step of a minimal loop on the same model, shapes and step count."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(cfg.seed)
    model = LlamaForCausalLM(llama_config).to(device)
    if cfg.compile:
        for layer in model.model.layers:  # the same per-layer compilation as ours
            layer.compile()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay
    )
    g = torch.Generator().manual_seed(cfg.seed)
    batches = [
        torch.randint(
            0, llama_config.vocab_size, (cfg.global_batch_size, cfg.seq_len + 1), generator=g
        )
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--preset", action="append", help="repeatable; default cpu-1m (cpu), 125m and 350m (cuda)"
    )
    parser.add_argument("--seq-len", type=int, help="default: 128 on cpu, the preset's on cuda")
    parser.add_argument(
        "--batch", type=int, help="sequences per step; default 16 on cpu, 32 on cuda"
    )
    parser.add_argument("--steps", type=int, default=10, help="timed steps per loop and round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile (per decoder layer) in both loops"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cuda = args.device == "cuda"
    presets = args.preset or (["125m", "350m"] if cuda else ["cpu-1m"])
    device = torch.device("cuda" if cuda else "cpu")
    name = device_name(device)
    bf16 = cuda and torch.cuda.is_bf16_supported()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for preset in presets:
            seq_len = args.seq_len or (None if cuda else 128)
            batch = args.batch or (32 if cuda else 16)
            values = {
                "out": str(root / preset / "run"),
                "global_batch_size": batch,
                "micro_batch_size": batch,
                "max_steps": args.warmup + args.steps,
                "warmup_steps": 1,
                "val_tokens": 0,
                "log_every": 1,
                "checkpoint_every": 0,
                "device": args.device,
                "compile": args.compile,
            }
            if seq_len:
                values["seq_len"] = seq_len
            probe = resolve_train_config(preset, None, {**values, "data": str(root)})
            n_tokens = 4 * (args.warmup + args.steps) * batch * (probe.seq_len + 1)
            data = synthetic_tokens(root / preset, args.vocab_size, n_tokens, seed=0)
            cfg = resolve_train_config(preset, None, {**values, "data": str(data)})
            plan = plan_run(cfg)
            llama_config = plan.shape.llama_config()
            times: dict[str, list[float]] = {"ours": [], "reference": []}
            for r in range(args.rounds):
                order = ["ours", "reference"] if r % 2 == 0 else ["reference", "ours"]
                for which in order:
                    if which == "ours":
                        times["ours"] += ours(
                            cfg.model_copy(update={"out": root / preset / f"run{r}"}), args.warmup
                        )
                    else:
                        times["reference"] += reference(
                            cfg, llama_config, args.warmup, device, bf16
                        )
            a, b = (cfg.tokens_per_step / min(times[k]) for k in ("ours", "reference"))
            peak = peak_flops(name) if cuda else None
            line = (
                f"{preset}: {plan.shape.total_params / 1e6:.2f}M params, seq {cfg.seq_len}, batch {batch}, "
                f"{name}{' bf16' if bf16 else ' fp32'}{' compiled' if args.compile else ''} | "
                f"ours {a:,.0f} tok/s, reference {b:,.0f} tok/s, ratio {a / b:.3f}x"
            )
            if peak:
                line += (
                    f" | MFU ours {mfu(plan.flops_per_token, a, peak, 1):.1%}, "
                    f"reference {mfu(plan.flops_per_token, b, peak, 1):.1%}"
                )
            print(line)
            medians = {k: cfg.tokens_per_step / statistics.median(v) for k, v in times.items()}
            for key, values in times.items():
                mean = cfg.tokens_per_step * len(values) / sum(values)
                print(
                    f"  {key}: {len(values)} timed steps; tok/s best {cfg.tokens_per_step / min(values):,.0f}, "
                    f"median {medians[key]:,.0f}, mean {mean:,.0f}"
                )
            print(f"  ratio of medians {medians['ours'] / medians['reference']:.3f}x")


if __name__ == "__main__":
    main()

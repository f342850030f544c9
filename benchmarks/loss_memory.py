"""Peak memory of the output-layer loss: the plain path (all logits, upcast to fp32 at once)
vs `safereflect.train.loss`'s chunked path, forward + backward of one micro-batch.

Each variant runs in a fresh process; reported is the growth of the process's peak resident
memory over its resident memory just before the step (model and inputs already built), so
the numbers are CPU bytes, comparable within one run. Losses and gradients are checked to
agree. The default shape has the 1.7B preset's vocabulary (49,152) on a toy model.

    python benchmarks/loss_memory.py                        # 4 x 1024 tokens, vocab 49152, chunks of 512
    python benchmarks/loss_memory.py --tokens 2048 --bf16   # under bf16 autocast, as on a GPU
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys


def _rss_kib() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def run_one(args: argparse.Namespace) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from safereflect.train.loss import token_losses

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        intermediate_size=2 * args.hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    batch = args.tokens // args.seq
    inputs = torch.randint(0, args.vocab, (batch, args.seq))
    targets = torch.randint(0, args.vocab, (batch, args.seq))
    before = _rss_kib()
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if args.bf16 else torch.autocast("cpu", enabled=False)
    with ctx:
        loss = token_losses(model, inputs, targets, chunk=args.chunk if args.variant == "chunked" else 10**12).sum()
    loss.backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "variant": args.variant,
        "peak_growth_mib": (peak - before) / 1024,
        "loss": loss.item(),
        "head_grad_norm": model.lm_head.weight.grad.norm().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=49_152)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--variant", choices=["plain", "chunked"])
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_one(args)))
        return
    results = {}
    for variant in ("plain", "chunked"):
        argv = [sys.executable, __file__, *sys.argv[1:], "--variant", variant]
        results[variant] = json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
    plain, chunked = results["plain"], results["chunked"]
    logits_mib = args.tokens * args.vocab * 4 / 2**20
    print(
        f"shape: {args.tokens} tokens x vocab {args.vocab} (fp32 logits {logits_mib:,.0f} MiB), "
        f"hidden {args.hidden}, chunks of {args.chunk} tokens, {'bf16 autocast' if args.bf16 else 'fp32'}"
    )
    for r in (plain, chunked):
        print(
            f"  {r['variant']:>8}: peak growth {r['peak_growth_mib']:,.0f} MiB, loss {r['loss']:.6f}, "
            f"lm_head grad norm {r['head_grad_norm']:.6f}"
        )
    print(f"  ratio chunked / plain: {chunked['peak_growth_mib'] / plain['peak_growth_mib']:.3f}")
    rel = abs(chunked["loss"] - plain["loss"]) / abs(plain["loss"])
    assert rel < 1e-4, f"losses differ: {plain['loss']} vs {chunked['loss']}"


if __name__ == "__main__":
    main()

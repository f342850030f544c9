"""Greedy generation throughput: safereflect's batched KV-cache loop vs `transformers.generate`.

Same model, prompts (MedSafetyWorld probes, so lengths differ and left padding matters),
batch and max new tokens, in the same process; one warm-up each, then alternating timed
repeats, median reported. Outputs are checked to be identical. Target: ratio >= 1.0.
Also timed: `transformers.generate` with `cache_implementation="static"` (the preallocated
cache that torch.compile needs; its gains are a GPU matter) and our loop on transformers'
`DynamicCache`, which is what decoding falls back to where the in-place cache's internal moved.

    python benchmarks/generation_throughput.py                 # random ~1.7M-param Llama, CPU
    python benchmarks/generation_throughput.py --model DIR     # any HF export
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch

from safereflect.data.tokenizer import TokenizerConfig, hf_tokenizer, train_tokenizer
from safereflect.eval.config import DecodingConfig
from safereflect.eval.generate import generate
from safereflect.eval.lm import CausalLM
from safereflect.eval.reading import PLAIN
from safereflect.reflection import DEFAULT_FORMAT
from safereflect.world import preset_config, write_world


def build_model(world: Path, out: Path, hidden: int, layers: int, vocab: int) -> Path:
    """A randomly initialised Llama with the project's tokenizer trained on the world's documents."""
    from transformers import LlamaConfig, LlamaForCausalLM

    texts = [json.loads(line)["text"] for f in sorted((world / "corpus").glob("*.jsonl")) for line in f.open()]
    tok = hf_tokenizer(train_tokenizer(texts, TokenizerConfig(vocab_size=vocab), DEFAULT_FORMAT), DEFAULT_FORMAT)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(4, hidden // 64),
        num_key_value_heads=max(4, hidden // 64),
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def hf_generate(lm: CausalLM, prompts: list[str], max_new: int, **extra) -> list[list[int]]:
    lm.tok.padding_side = "left"
    enc = lm.tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(lm.device)
    with torch.no_grad():
        out = lm.model.generate(
            **enc, max_new_tokens=max_new, do_sample=False, pad_token_id=lm.pad_id, eos_token_id=lm.eos_id, **extra
        )
    rows = out[:, enc.input_ids.shape[1] :].tolist()
    return [r[: r.index(lm.eos_id)] if lm.eos_id in r else r for r in rows]


def hf_static(lm: CausalLM, prompts: list[str], max_new: int) -> list[list[int]]:
    return hf_generate(lm, prompts, max_new, cache_implementation="static")


def ours(lm: CausalLM, prompts: list[str], max_new: int) -> list[list[int]]:
    return [g.tokens for g in generate(lm, prompts, DecodingConfig(max_new_tokens=max_new, stop=[]), reading=PLAIN)]


def ours_dynamic(lm: CausalLM, prompts: list[str], max_new: int) -> list[list[int]]:
    from transformers import DynamicCache

    import safereflect.eval.decoding.plain as loop

    with mock.patch.object(loop, "new_cache", DynamicCache):
        return ours(lm, prompts, max_new)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="HF export to benchmark (default: build a random Llama)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads; 1 suits tiny models (0: torch default)"
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", help="float32, bfloat16 (what a GPU evaluation uses)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        write_world(preset_config("tiny", 0), world)
        model_dir = args.model or build_model(world, Path(tmp) / "model", args.hidden, args.layers, args.vocab)
        lm = CausalLM.load(model_dir, device=args.device, dtype=args.dtype, batch_size=args.batch)
        probes = [
            json.loads(x)["prompt"] for x in (world / "probes" / "harmful_heldout.jsonl").read_text().splitlines()
        ]
        prompts = (probes * (args.batch // len(probes) + 1))[: args.batch]

    params = sum(p.numel() for p in lm.model.parameters())
    runners = {
        "safereflect": ours,
        "transformers.generate": hf_generate,
        "generate(static cache)": hf_static,
        "safereflect(DynamicCache)": ours_dynamic,
    }
    outputs = {name: run(lm, prompts, args.max_new_tokens) for name, run in runners.items()}  # warm-up
    same = {name: out == outputs["safereflect"] for name, out in outputs.items()}
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run(lm, prompts, args.max_new_tokens)
            times[name].append(time.perf_counter() - start)
    new_tokens = sum(len(t) for t in outputs["safereflect"])
    lengths = [len(lm.encode(p)) for p in prompts]
    print(
        f"model: {params / 1e6:.2f}M params, {lm.model.config.num_hidden_layers} layers, device {lm.device}, "
        f"{lm.model.dtype}, threads {torch.get_num_threads()}, torch {torch.__version__}"
    )
    print(
        f"batch {len(prompts)}, prompt tokens {min(lengths)}-{max(lengths)}, max new tokens {args.max_new_tokens}, "
        f"generated {new_tokens} tokens, outputs identical to ours: {same}"
    )
    for name in runners:
        med = statistics.median(times[name])
        print(
            f"{name:>26}: median {med * 1000:8.1f} ms  ({new_tokens / med:8.0f} tok/s)  runs {[round(t * 1000) for t in times[name]]}"
        )
    ratio = statistics.median(times["transformers.generate"]) / statistics.median(times["safereflect"])
    print(f"speed-up of safereflect over transformers.generate: {ratio:.2f}x (target >= 1.0x)")
    for name in ("generate(static cache)", "safereflect(DynamicCache)"):
        print(
            f"speed-up of safereflect over {name}: {statistics.median(times[name]) / statistics.median(times['safereflect']):.2f}x"
        )


if __name__ == "__main__":
    main()

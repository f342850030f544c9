"""Throughput of `prepare --arm reflect` (oracle scorer) with tokenization, against plain
Hugging Face `tokenizers` batch encoding of the same documents, with 1 and 2 workers.

Each measurement runs in a fresh process that gets W cores' worth of threads: the prepare
runs W datatrove workers with single-threaded encoding, the baseline encodes the prepared
documents with `encode_batch` on a W-thread pool. Reported: tokens out per second of wall
time inside `run_prepare` (shared tokenizer given, so training it is not timed), and the
ratio to the baseline (target: >= 0.7).

    python benchmarks/prepare_throughput.py                 # the `small` world, seed 0
    python benchmarks/prepare_throughput.py --join 16            # web-page-length documents
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child_prepare(world: str, out: str, tokenizer: str, workers: int) -> None:
    from safereflect.config import validate
    from safereflect.data import PrepareConfig, run_prepare

    cfg = validate(
        PrepareConfig,
        {
            "arm": "reflect",
            "input": {"path": world},
            "out": out,
            "tokenizer": {"path": tokenizer},
            "run": {"workers": workers},
        },
    )
    start = time.perf_counter()
    run_prepare(cfg, force=True)
    seconds = time.perf_counter() - start
    stats = json.loads((Path(out) / "stats.json").read_text())
    print(json.dumps({"seconds": seconds, "tokens": stats["tokens"]["out"], "documents": stats["documents"]["kept"]}))


def child_baseline(docs_dir: str, tokenizer: str, repeats: int) -> None:
    from tokenizers import Tokenizer

    texts = [
        json.loads(line)["text"]
        for f in sorted(Path(docs_dir).glob("*.jsonl"))
        for line in f.read_text(encoding="utf-8").splitlines()
    ]
    tok = Tokenizer.from_file(tokenizer)
    tok.encode_batch(texts[:64])  # start the thread pool outside the timing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        encodings = tok.encode_batch(texts)
        best = min(best, time.perf_counter() - start)
    tokens = sum(len(e) + 1 for e in encodings)  # + EOS, as in the shards
    print(json.dumps({"seconds": best, "tokens": tokens, "documents": len(texts)}))


def join_documents(world: Path, n: int, out: Path) -> Path:
    """The world's corpus with every `n` consecutive documents joined into one (web-page
    lengths instead of paragraph lengths); unsafe spans move with their text."""
    docs = [
        json.loads(line)
        for f in sorted((world / "corpus").glob("*.jsonl"))
        for line in f.read_text(encoding="utf-8").splitlines()
    ]
    with out.open("w", encoding="utf-8") as fh:
        for i in range(0, len(docs), n):
            text, spans = "", []
            for d in docs[i : i + n]:
                offset = len(text) + (2 if text else 0)
                text = f"{text}\n\n{d['text']}" if text else d["text"]
                spans += [{**s, "start": s["start"] + offset, "end": s["end"] + offset} for s in d["metadata"]["spans"]]
            meta = {
                "safety": "unsafe" if spans else "safe",
                "category": spans[0]["category"] if spans else None,
                "spans": spans,
            }
            fh.write(json.dumps({"id": f"joined-{i:06d}", "text": text, "metadata": meta}) + "\n")
    return out


def run_child(args: list[str], threads: int) -> dict:
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "true"}
    res = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        sys.exit(f"measurement {args[1]} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3, help="best of N for each measurement")
    parser.add_argument("--join", type=int, default=1, help="join every N world documents into one (longer documents)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "prepare":
            child_prepare(rest[0], rest[1], rest[2], int(rest[3]))
        else:
            child_baseline(rest[0], rest[1], int(rest[2]))
        return

    from safereflect.config import validate
    from safereflect.data import PrepareConfig, run_prepare
    from safereflect.world import preset_config, write_world

    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        summary = write_world(preset_config(args.preset, args.seed), world)
        source = world if args.join == 1 else join_documents(world, args.join, Path(tmp) / "joined.jsonl")
        first = run_prepare(
            validate(
                PrepareConfig,
                {"arm": "reflect", "input": {"path": str(source)}, "out": str(Path(tmp) / "tokenizer-run")},
            )
        )
        tokenizer = first / "tokens" / "tokenizer"
        print(
            f"world {args.preset} seed {args.seed}: {summary['documents']} documents, {summary['words']} words"
            + (f", joined {args.join} to a document" if args.join > 1 else "")
        )
        print(f"{'workers':>7}  {'prepare tok/s':>14}  {'baseline tok/s':>15}  {'ratio':>6}  {'prepare s':>9}")
        for w in args.workers:
            out = str(Path(tmp) / f"reflect-{w}")
            runs = [
                run_child(["--child", "prepare", str(source), out, str(tokenizer), str(w)], threads=1)
                for _ in range(args.repeats)
            ]
            prep = min(runs, key=lambda r: r["seconds"])
            base = run_child(
                ["--child", "baseline", str(Path(out) / "docs"), str(tokenizer / "tokenizer.json"), str(args.repeats)],
                threads=w,
            )
            p, b = prep["tokens"] / prep["seconds"], base["tokens"] / base["seconds"]
            print(f"{w:>7}  {p:>14,.0f}  {b:>15,.0f}  {p / b:>6.2f}  {prep['seconds']:>9.2f}")


if __name__ == "__main__":
    main()

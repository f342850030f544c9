"""Cost of verifying a checkpoint on resume (manifest: size + SHA-256 of every file) against
the cost of loading it (safetensors weights + `torch.load(weights_only=True)` of the optimizer
state), in the same process on the same files. One warm-up (the files then sit in the page
cache for both), then alternating timed repeats; medians reported. The ratio says what
verification adds to a resume.

    python benchmarks/checkpoint_verify.py                  # ~25M parameters (AdamW state: 2 x params)
    python benchmarks/checkpoint_verify.py --params 100e6
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from safereflect.jsonl import write_json
from safereflect.train.checkpoint import checkpoint_problem, write_manifest


def build(ckpt: Path, params: int) -> None:
    width = 1024
    rows = max(1, params // width // 8)
    weights = {f"layer.{i}.weight": torch.randn(rows, width) for i in range(8)}
    save_file(weights, ckpt / "model.safetensors", metadata={"format": "pt"})
    optim = {
        "state": {
            i: {"step": torch.tensor(1.0), "exp_avg": torch.randn(rows, width), "exp_avg_sq": torch.rand(rows, width)}
            for i in range(8)
        },
        "param_groups": [{"lr": 1e-3, "params": list(range(8))}],
    }
    torch.save(optim, ckpt / "optimizer.pt")
    write_json(ckpt / "trainer_state.json", {"step": 1})
    write_manifest(ckpt)


def load(ckpt: Path) -> None:
    load_file(ckpt / "model.safetensors")
    torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", type=float, default=25e6)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp)
        build(ckpt, int(args.params))
        size = sum(p.stat().st_size for p in ckpt.iterdir())
        assert checkpoint_problem(ckpt) is None
        load(ckpt)
        times: dict[str, list[float]] = {"verify": [], "load": []}
        for _ in range(args.repeats):
            for name, fn in (("verify", checkpoint_problem), ("load", load)):
                t = time.perf_counter()
                fn(ckpt)
                times[name].append(time.perf_counter() - t)
    verify, loading = statistics.median(times["verify"]), statistics.median(times["load"])
    print(
        f"checkpoint {size / 1e6:.0f} MB: verify {verify:.3f} s ({size / verify / 1e9:.2f} GB/s), "
        f"load {loading:.3f} s; verify / load = {verify / loading:.2f}"
    )


if __name__ == "__main__":
    main()

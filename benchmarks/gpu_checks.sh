#!/usr/bin/env bash
# The GPU checks the open issues ask for, as one script for a short lease on one NVIDIA GPU:
#   1. training throughput and MFU of the 350m and 125m presets (bf16 + torch.compile), against
#      the GPU's own measured bf16 matmul peak and the datasheet peak (benchmarks/train_throughput.py);
#   2. a few steps of 350m under torchrun with FSDP2 + bf16 + compile (parallel: fsdp);
#   3. generation: our KV-cache loop against transformers.generate, dynamic and static cache;
#   4. the smallest slice of the gpu demo (configs/gpu-slice.yaml), end to end.
# Each step has its own time limit and log, so one failure costs only its own step.
#
#   OUT=gpu_out bash benchmarks/gpu_checks.sh          # logs and results under $OUT
#
# Where the machine lacks this project's pure-Python dependencies (pydantic, datatrove, ...),
# put their wheels in .whl/ first: they are installed to /tmp/site and put on PYTHONPATH.
set -u
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
if [ -z "${NO_WHEELS:-}" ] && compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 SAFEREFLECT_NO_BARS=1
export TORCHINDUCTOR_CACHE_DIR=/tmp/inductor HF_HUB_OFFLINE=1
began=$(date +%s)
SCALE=${SCALE:-1}  # 0 runs every step at a few steps, to check the script itself on a CPU

step() {  # step NAME SECONDS CMD...: run CMD with a time limit, log to $OUT/NAME.log
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s, at $(($(date +%s) - began))s)"
    timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
    echo "rc=$? after $(($(date +%s) - began))s"
    grep -vE "^\s*$|Warning|warn\(" "$OUT/$name.log" | tail -n 14
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
    python3 -c "import torch, transformers, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.version.cuda)"
    git log -1 --format="commit %H %cd" 2>/dev/null || true
} | tee "$OUT/env.log"

if [ "$SCALE" = 0 ]; then dev=cpu; presets=(tiny); steps=2; warm=1; fsdp_preset=tiny; mb=4; gen=(--hidden 128 --layers 2); else
    dev=cuda; presets=(350m 125m); steps=20; warm=5; fsdp_preset=350m; mb=32; gen=(--hidden 768 --layers 12 --dtype bfloat16); fi

for preset in "${presets[@]}"; do
    step "throughput-$preset" 150 python3 benchmarks/train_throughput.py --device "$dev" --preset "$preset" \
        --compile --rounds 1 --steps "$steps" --warmup "$warm" --vocab-size 8192 --batch "$mb"
done

data=/tmp/gpu-checks-data
rm -rf "$data" && mkdir -p "$data"
python3 -c "
import sys; sys.path.insert(0, 'benchmarks')
from pathlib import Path
from train_throughput import synthetic_tokens
synthetic_tokens(Path('$data'), 8192, 8_000_000, seed=0)"
step fsdp 150 torchrun --standalone --nproc_per_node 1 -m safereflect.train --data "$data/tokens" \
    --preset "$fsdp_preset" --out "$data/run" --device "$dev" --max-steps $((steps + 10)) --micro-batch-size "$mb" \
    --set global_batch_size="$mb" --set parallel=fsdp --set compile=true --set val_tokens=0 --set log_every=5 \
    --set checkpoint_every=0 --set warmup_steps=2
python3 - "$data/run/metrics.jsonl" >>"$OUT/fsdp.log" 2>&1 <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
start = next(r for r in rows if r["kind"] == "start")
print("start:", {k: start.get(k) for k in ("precision", "compile", "world_size", "peak_flops")})
for r in rows:
    if r["kind"] == "train":
        print(f"step {r['step']}: loss {r['loss']:.3f} tok/s {r['tokens_per_s']:,.0f} mfu {r.get('mfu')}")
EOF
tail -n 4 "$OUT/fsdp.log"

step generation 60 python3 benchmarks/generation_throughput.py --device "$dev" "${gen[@]}" --vocab 8192 \
    --batch 64 --max-new-tokens 128 --repeats 3 --threads 0

left=$((${BUDGET:-520} - ($(date +%s) - began)))
if [ "$SCALE" = 0 ]; then
    echo "(SCALE=0: the demo slice is checked by tests, not here)"
elif [ "$left" -gt 60 ]; then
    step demo-slice "$left" python3 -m safereflect run configs/gpu-slice.yaml
    cp runs/gpu-slice/results.json "$OUT/demo-results.json" 2>/dev/null
    cp runs/gpu-slice/report.md "$OUT/demo-report.md" 2>/dev/null
else
    echo "no time left for the demo slice (${left}s)"
fi
echo "total $(($(date +%s) - began))s"

"""Peak throughput for MFU and time estimates, and which precision a device trains fastest in.

MFU is against the peak the device measures itself: on a GPU, 8192^3 matmuls in the training
dtype, once per process; on a CPU (which has no published peak that means anything for a VM
slice) the best of a few 2048 x 2048 matmuls at the current thread count, cached per machine
in $SAFEREFLECT_CACHE/peak_flops.json (default ~/.cache/safereflect). Either way MFU is
achieved model FLOP/s over the best dense matmul rate of the hardware in use.

The vendors' dense (no sparsity) bf16 tensor-core peaks below are what `--dry-run` estimates
use and what other projects quote MFU against (benchmarks print both). Matching is by
substring of `torch.cuda.get_device_name()`, first match wins, so specific names come before
general ones ("H100 PCIe" before "H100", "A100" before "A10").
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

PEAK_BF16_FLOPS: list[tuple[str, float]] = [
    ("GH200", 989.4e12),
    ("H200", 989.4e12),
    ("H100 PCIE", 756.5e12),
    ("H100 NVL", 835.0e12),
    ("H100", 989.4e12),  # SXM ("NVIDIA H100 80GB HBM3")
    ("H20", 148.0e12),
    ("B200", 2250.0e12),
    ("A100", 312.0e12),
    ("A10G", 125.0e12),  # AWS's A10 variant; NVIDIA publishes only the A10 figure
    ("A10", 125.0e12),
    ("L40S", 362.05e12),
    ("L40", 181.05e12),
    ("L4", 121.0e12),
    ("RTX 4090", 165.2e12),
    ("RTX A6000", 154.8e12),
    ("MI300X", 1307.4e12),
]

# Assumptions of `safereflect train --dry-run` estimates, stated in its output and docs.
ASSUMED_GPU_MFU = 0.40  # bf16 + torch.compile on a dense Llama of 125M+ parameters
# fp32 training FLOP/s of 2 CPU cores: half the best step rate benchmarks/train_throughput.py
# measured on our 2-core machine (60e9), since demo machines are shared and also validate.
ASSUMED_CPU_FLOPS = 30e9


def peak_flops(device_name: str | None) -> float | None:
    """Peak dense bf16 FLOP/s for a device name (case-insensitive), or None if unknown."""
    if not device_name:
        return None
    name = device_name.upper()
    return next((peak for key, peak in PEAK_BF16_FLOPS if key in name), None)


def device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def mfu(flops_per_token: int, tokens_per_s: float, peak: float | None, n_devices: int) -> float | None:
    """Model FLOPs utilisation: achieved training FLOP/s over the devices' combined peak."""
    if peak is None:
        return None
    return flops_per_token * tokens_per_s / (peak * n_devices)


# bf16 dot-product instructions: x86 AVX512-BF16 and AMX, Arm's BF16 extension. Without them
# oneDNN emulates bf16 by conversion and autocast is slower than fp32.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
PEAK_MATMUL_SIZE = 2048
MAX_MATMUL_S = 1.0  # the longest one timed matmul of the peak measurement may take


def cpu_flags() -> frozenset[str]:
    """The CPU feature flags /proc/cpuinfo lists (empty where there is no /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags)


def cpu_kernels() -> str:
    """The ATen CPU kernel set in use ("AVX512", "AVX2", ...), naming ATEN_CPU_CAPABILITY when it
    chose them: the same code trains different models under different kernel sets."""
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    forced = os.environ.get("ATEN_CPU_CAPABILITY")
    return f"{capability} (ATEN_CPU_CAPABILITY={forced})" if forced else capability


def cpu_has_bf16_units() -> bool:
    return bool(cpu_flags() & BF16_CPU_FLAGS)


def emulated_bf16_warning(device_type: str, bf16: bool) -> str | None:
    """A warning when bf16 was asked for on a CPU without bf16 units, where oneDNN emulates it
    (measured on an AVX2-only AMD EPYC: 1.3 GFLOP/s for a bf16 matmul against 92 in fp32)."""
    if not bf16 or device_type != "cpu" or cpu_has_bf16_units() or not cpu_flags():
        return None
    return (
        "bf16 on this CPU is emulated (it has no AVX512-BF16, AMX or Arm BF16 units): matmuls run "
        "tens of times slower than in fp32; precision: auto picks fp32 here"
    )


def resolve_precision(device: str, precision: str) -> str:
    """ "bf16" or "fp32" for a config's device and precision ("auto": bf16 where the hardware
    has bf16 units: CUDA devices that support it, CPUs with the flags above)."""
    if precision != "auto":
        return precision
    import torch

    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        # (without a GPU, start_runtime then says so)
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16_units() else "fp32"


def resolve_attention(attention: str, device_type: str, bf16: bool) -> str:
    """The HF attention implementation for a config's `attention` ("auto": see below)."""
    if attention != "auto":
        return attention
    # Measured at the cpu-1m shape (seq 128, head_dim 32; BENCHMARKS.md, 2026-11-29): torch's
    # CPU flash-attention backward in bf16 took as long as all the model's matmuls, and HF's
    # eager attention (bmm, fp32 softmax) made a bf16 step ~1.4x faster. In fp32 SDPA is faster.
    return "eager" if device_type == "cpu" and bf16 else "sdpa"


def cpp_compiler() -> str:
    """The C++ compiler inductor builds CPU kernels with (its `cpp.cxx`: $CXX, else g++,
    clang++ on macOS)."""
    return os.environ.get("CXX") or ("clang++" if sys.platform == "darwin" else "g++")


def resolve_compile(compile: bool | str, device_type: str, max_steps: int, precision: str) -> tuple[bool, str]:
    """(compile or not, why) for a config's `compile`. "auto" compiles runs long enough to repay
    the compilation (`COMPILE_AUTO_MIN_STEPS`), and on a CPU only where the compiler inductor
    needs is installed (a machine with only Python trains eagerly instead of failing) and not
    bf16 under a lowered ATEN_CPU_CAPABILITY, which torch 2.13 compiles into NaN."""
    from safereflect.train.config import COMPILE_AUTO_MIN_STEPS

    if compile != "auto":
        return bool(compile), "set in the config"
    if max_steps < COMPILE_AUTO_MIN_STEPS:
        return False, f"auto: {max_steps} steps, compilation repays from {COMPILE_AUTO_MIN_STEPS}"
    if device_type == "cpu" and shutil.which(cpp_compiler()) is None:
        return False, f"auto: no C++ compiler ({cpp_compiler()!r}) on PATH"
    capability = os.environ.get("ATEN_CPU_CAPABILITY")
    if device_type == "cpu" and precision == "bf16" and capability:
        # Measured (BENCHMARKS.md, 2026-11-30): with `avx2` on an AVX512-BF16 CPU the first
        # compiled bf16 step's loss is NaN; fp32 and the default kernels are fine.
        return False, f"auto: bf16 compiled under ATEN_CPU_CAPABILITY={capability} trains on NaN"
    return True, f"auto: {max_steps} steps" + (f", {cpp_compiler()} found" if device_type == "cpu" else "")


def _cache_file() -> Path:
    root = Path(os.environ.get("SAFEREFLECT_CACHE", Path.home() / ".cache" / "safereflect"))
    return root / "peak_flops.json"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_peak_key(precision: str) -> str:
    """What the measured peak depends on: machine, CPU model, torch build, threads, dtype."""
    import torch

    return f"{platform.node()}|{_cpu_model()}|torch {torch.__version__}|{torch.get_num_threads()} threads|{precision}"


def measure_matmul_flops(precision: str, *, size: int = PEAK_MATMUL_SIZE, repeats: int = 6) -> float:
    """The best FLOP/s of `repeats` timed size x size CPU matmuls in `precision` (after one
    untimed). Other processes on a shared machine only ever slow a matmul down, so the
    fastest repeat is the closest to the hardware's rate (as `timeit` takes the minimum)."""
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    g = torch.Generator().manual_seed(0)
    # A CPU that emulates bf16 does a 2048^3 matmul in ~13 s (1.3 GFLOP/s on an AVX2-only
    # EPYC): a 512^3 one first says how slow it is, and where the full size would take
    # longer than MAX_MATMUL_S the measurement stays at 512 (an emulated rate barely depends on size).
    small = min(size, 512)
    x = torch.randn(small, small, generator=g).to(dtype)
    start = time.perf_counter()
    torch.mm(x, x)
    if (time.perf_counter() - start) * (size / small) ** 3 > MAX_MATMUL_S:
        size = small
    a = torch.randn(size, size, generator=g).to(dtype)
    b = torch.randn(size, size, generator=g).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def measured_cpu_peak(precision: str) -> float:
    """This CPU's dense matmul FLOP/s in `precision` at the current thread count, measured on
    the first call on a machine and cached (delete the cache file to measure again).

    On a shared machine other processes slow the measurement down, which would inflate every
    later MFU: a value measured while the load average exceeded half the cores is measured
    again at the next call, and the cache keeps the highest rate seen.
    """
    path, key = _cache_file(), cpu_peak_key(precision)
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    if not isinstance(cache, dict):
        cache = {}
    entry = cache.get(key)
    known = isinstance(entry, dict) and isinstance(entry.get("flops"), (int, float))
    if known and entry.get("busy") is False:
        return float(entry["flops"])
    busy = _busy()
    flops = measure_matmul_flops(precision)
    if known and entry["flops"] > flops:
        flops = float(entry["flops"])
    cache[key] = {"flops": flops, "busy": busy}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
        os.replace(tmp, path)  # concurrent runs each write a whole file; the last one wins
    except OSError:
        pass  # a read-only home still gets its MFU, measured again next time
    return flops


def _busy() -> bool:
    """Whether other work competes for the CPU (1-minute load average above half the cores)."""
    try:
        return os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1)
    except OSError:
        return True


def measure_gpu_matmul_flops(device, precision: str, *, size: int = 8192, repeats: int = 10) -> float:
    """The mean FLOP/s of `repeats` size x size matmuls on a CUDA device in `precision`, timed
    with CUDA events after three untimed ones. 8192^3 in bf16 is long enough (about 1.4 ms on
    an H100) for launch overhead not to count, and random data, not zeros, keeps the clocks
    honest (zeros draw less power and run faster)."""
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, generator=g, device=device, dtype=dtype)
    b = torch.randn(size, size, generator=g, device=device, dtype=dtype)
    for _ in range(3):
        torch.mm(a, b)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        torch.mm(a, b)
    end.record()
    end.synchronize()
    seconds = start.elapsed_time(end) / 1e3 / repeats
    del a, b
    return 2 * size**3 / seconds


_GPU_PEAKS: dict[tuple[str, str], float] = {}


def measured_gpu_peak(device, precision: str) -> float:
    """This GPU's dense matmul FLOP/s in `precision`, measured once per process (under a
    second; a GPU is not shared the way a CPU is, so there is nothing to cache across runs)."""
    key = (device_name(device), precision)
    if key not in _GPU_PEAKS:
        _GPU_PEAKS[key] = measure_gpu_matmul_flops(device, precision)
    return _GPU_PEAKS[key]


def device_peak_flops(device, precision: str) -> float | None:
    """The peak MFU is measured against: the device's own measured dense matmul rate in the
    training precision, on a GPU as on a CPU. The vendor's datasheet figure (`peak_flops`) is
    what other projects quote MFU against; benchmarks print both."""
    if device.type == "cuda":
        return measured_gpu_peak(device, precision)
    return measured_cpu_peak(precision)

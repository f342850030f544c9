"""Peak dense bf16 throughput of known accelerators, for MFU and time estimates.

Values are the vendors' dense (no sparsity) bf16 tensor-core peaks. Matching is by substring
of `torch.cuda.get_device_name()`, first match wins, so specific names come before general
ones ("H100 PCIe" before "H100", "A100" before "A10"). Unknown devices and CPUs have no peak:
their MFU is reported as null rather than guessed.
"""

from __future__ import annotations

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


def mfu(
    flops_per_token: int, tokens_per_s: float, peak: float | None, n_devices: int
) -> float | None:
    """Model FLOPs utilisation: achieved training FLOP/s over the devices' combined peak."""
    if peak is None:
        return None
    return flops_per_token * tokens_per_s / (peak * n_devices)

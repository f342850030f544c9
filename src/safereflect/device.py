"""The one place that turns a device setting ("auto", "cpu", "cuda", "cuda:N", "mps") into a
device, checked before any work: a typo or a GPU that is not there is one clear line, not a
traceback from deep inside torch after minutes of loading."""

from __future__ import annotations

import re

from safereflect.errors import UserError

DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps"


def check_device_name(device: str) -> str:
    """`device` if it is a name torch knows for the hardware safereflect runs on (a ValueError
    otherwise, for pydantic validators)."""
    if not DEVICE_RE.match(device):
        raise ValueError(f"unknown device {device!r} (use {DEVICE_HELP})")
    return device


def resolve_device(device: str = "auto") -> str:
    """`device` after checking its name and that this machine has it; `auto` is the first CUDA
    device when torch sees one, else the CPU."""
    try:
        check_device_name(device)
    except ValueError as err:
        raise UserError(str(err)) from None
    import torch  # imported here so configs can name devices without loading torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(
                f"device {device!r} asked for, but torch sees no CUDA device "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'})",
                hint="use --device cpu (or auto, which picks a GPU when there is one)",
            )
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise UserError(f"device {device!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist")
    if device == "mps" and not torch.backends.mps.is_available():
        raise UserError("device 'mps' asked for, but this machine has no Apple MPS device", hint="use --device cpu")
    return device

"""The one place that turns a device setting ("auto", "cpu", "cuda", "cuda:N") into a device."""

from __future__ import annotations


def resolve_device(device: str = "auto") -> str:
    """`auto` is the first CUDA device when torch sees one, else the CPU; anything else is kept."""
    if device != "auto":
        return device
    import torch  # imported here so configs can name devices without loading torch

    return "cuda" if torch.cuda.is_available() else "cpu"

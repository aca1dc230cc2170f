"""Device choice: auto picks CUDA, then Apple's MPS, then the CPU; a requested device must exist."""

from __future__ import annotations

import torch

from workbench.errors import ConfigError


def available_devices() -> list[str]:
    """Device kinds usable in this process, best first, always ending with "cpu"."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found + ["cpu"]


def resolve_device(name: str) -> torch.device:
    """ "auto" -> the best available device; an explicit name must be available."""
    devices = available_devices()
    if name == "auto":
        return torch.device(devices[0])
    if name not in devices:
        raise ConfigError(
            f"Device '{name}' was requested but is not available here (available: {', '.join(devices)}); "
            "use --device auto or cpu."
        )
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda ({torch.cuda.get_device_name(index)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype for a precision setting, or None for plain fp32.

    "auto" uses bf16 on CUDA devices that support it (no loss scaling needed) and fp32 elsewhere: CPU autocast
    is slower than fp32 for small convolutions, and MPS autocast support varies by macOS version.
    """
    if precision == "fp32":
        return None
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    if device.type == "mps" and precision == "bf16":
        raise ConfigError("train.precision 'bf16' is not supported on MPS; use fp16 or fp32.")
    return torch.bfloat16 if precision == "bf16" else torch.float16

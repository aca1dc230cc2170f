"""Device choice: auto always resolves, an unavailable device is one clear sentence."""

from __future__ import annotations

import pytest
import torch

from workbench.engine.devices import autocast_dtype, available_devices, resolve_device
from workbench.errors import ConfigError


def test_auto_picks_the_first_available_device_and_cpu_is_always_there():
    devices = available_devices()
    assert devices[-1] == "cpu"
    assert resolve_device("auto").type == devices[0]
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA, so the error cannot be shown")
def test_missing_cuda_is_a_sentence_naming_the_alternatives():
    with pytest.raises(ConfigError, match=r"Device 'cuda' was requested but is not available here \(available: .*cpu"):
        resolve_device("cuda")


def test_precision_choice():
    cpu = torch.device("cpu")
    assert autocast_dtype(cpu, "auto") is None  # fp32 on the CPU unless asked
    assert autocast_dtype(cpu, "fp32") is None
    assert autocast_dtype(cpu, "bf16") is torch.bfloat16
    assert autocast_dtype(torch.device("cuda"), "fp16") is torch.float16

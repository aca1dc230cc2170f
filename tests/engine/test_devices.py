"""Device choice: auto always resolves, an unavailable device is one clear sentence."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest
import torch

from workbench.engine import devices
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


# In a fresh process: the heap of a long test session (fragmented, other threads' arenas) says little.
PAGE_FAULTS = """
import json, resource, sys, torch
from workbench.engine import devices
from workbench.engine.fit import fit

def faults(rounds=3):
    for _ in range(2):  # warm-up: the heap may grow
        torch.ones(16 * 2**20).sum()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        torch.ones(16 * 2**20).sum()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

baseline = faults()
release = devices.reuse_freed_cpu_memory()
held = faults()
release()
after = faults()
try:
    fit(None, "")  # fit releases what it holds even when it fails at once
except Exception:
    pass
print(json.dumps({"baseline": baseline, "held": held, "after": after, "holders": devices._reusers}))
"""


@pytest.mark.skipif(devices._glibc() is None, reason="the allocator setting is glibc's (Linux)")
def test_training_reuses_freed_memory_instead_of_faulting_in_new_pages():
    out = subprocess.run([sys.executable, "-c", PAGE_FAULTS], capture_output=True, text=True, timeout=120, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    pages = 3 * 64 * 2**20 // resource.getpagesize()
    assert seen["held"] < pages // 10, seen  # freed pages reused
    assert seen["baseline"] > pages // 2 and seen["after"] > pages // 2, seen  # glibc's default before and after
    assert seen["holders"] == 0, seen

"""Device choice: auto always resolves, an unavailable device is one clear sentence."""

from __future__ import annotations

import gc
import resource

import pytest
import torch

from workbench.config import ExperimentConfig
from workbench.engine import devices
from workbench.engine.devices import autocast_dtype, available_devices, resolve_device
from workbench.engine.trainer import Trainer
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


def _page_faults_of_fresh_tensors(rounds: int = 3) -> int:
    """Minor page faults (the kernel's own count) of allocating and filling a 64 MB tensor `rounds` times."""
    for _ in range(2):  # warm-up: the heap may grow
        torch.ones(16 * 2**20).sum()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        torch.ones(16 * 2**20).sum()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(devices._glibc() is None, reason="the allocator setting is glibc's (Linux)")
def test_a_cpu_trainer_reuses_freed_memory_instead_of_faulting_in_new_pages():
    gc.collect()  # trainers of earlier tests are gone
    baseline = _page_faults_of_fresh_tensors() if devices._reusers == 0 else None
    trainer = Trainer(ExperimentConfig(), torch.device("cpu"), 100)
    held = _page_faults_of_fresh_tensors()
    del trainer
    gc.collect()
    after = _page_faults_of_fresh_tensors() if devices._reusers == 0 else None
    pages = 3 * 64 * 2**20 // resource.getpagesize()
    assert held < pages // 10, f"{held} page faults for {pages} pages while training"
    if baseline is not None and after is not None:  # the process's default comes back with the last trainer
        assert baseline > pages // 2 and after > pages // 2, (baseline, after)

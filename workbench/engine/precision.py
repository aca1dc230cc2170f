"""Which arithmetic a run trains in: fp32, or bf16 / fp16 autocast, and why.

`train.precision = "auto"` picks bf16 autocast
- on CUDA devices that support bf16 (no loss scaling needed);
- on CPUs with native bf16 arithmetic (AVX512-BF16 or AMX) only where a start-up check on the run's own model and
  first batch finds it faster than fp32 with a finite loss. Native bf16 gave ~1.8x on top of channels_last for the
  small encoders (issue 12's figures on an AVX512-BF16 EPYC), but tiny convolutions can lose, so it is measured,
  not assumed. CPUs without native bf16 emulate it (slower than fp32), so "auto" stays fp32 there without a check;
- fp32 everywhere else (MPS autocast support varies by macOS version).
An explicit "bf16" / "fp16" / "fp32" is used as asked. The check runs on a copy of the method under a forked random
state, so the run's weights, BatchNorm statistics, queues and random streams are exactly those of a run without it
(resume stays bit-exact); under torchrun every process runs it in step and all take the main process's decision.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from workbench import dist
from workbench.engine.devices import autocast_dtype
from workbench.methods import Method, StepNoise

CHECK_BATCH = 64  # images per timed step of the start-up check: enough to be representative, cheap on a CPU
TRIALS = 3  # timed passes per precision; the fastest counts
MIN_GAIN = 1.1  # bf16 must be at least this much faster than fp32 to be chosen (timing noise, accuracy cost)

DTYPE_NAMES = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


@dataclass(frozen=True)
class PrecisionChoice:
    dtype: torch.dtype | None  # the autocast dtype; None: plain fp32
    reason: str  # one sentence for the run's messages

    @property
    def name(self) -> str:
        return DTYPE_NAMES[self.dtype]


def cpu_native_bf16() -> bool:
    """True where the CPU computes in bf16 natively (AVX512-BF16 or AMX tiles), not by emulation."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def choose_precision(
    precision: str,
    device: torch.device,
    method: Method,
    views: list[torch.Tensor],
    *,
    timer: Callable[[], float] = time.perf_counter,
) -> PrecisionChoice:
    """The precision for `precision` (a config value) on `device`; "auto" on a bf16-native CPU times one training
    step of `method` on (the first CHECK_BATCH rows of) `views` in fp32 and in bf16 (the fastest of TRIALS each)."""
    if precision != "auto":
        dtype = autocast_dtype(device, precision)
        return PrecisionChoice(dtype, f"Precision {DTYPE_NAMES[dtype]}, as set in the config.")
    if device.type != "cpu":
        dtype = autocast_dtype(device, "auto")
        where = "this GPU supports it" if dtype is not None else f"the default on {device.type}"
        return PrecisionChoice(dtype, f"Precision {DTYPE_NAMES[dtype]} (auto: {where}).")
    if not dist.broadcast_object(cpu_native_bf16()):  # the main process's CPU decides, so all take one path
        return PrecisionChoice(None, "Precision fp32 (auto: this CPU has no native bf16, so bf16 would be emulated).")
    fp32_s, bf16_s, finite = _time_steps(method, views, timer)
    return dist.broadcast_object(decide(fp32_s, bf16_s, finite))


def decide(fp32_s: float, bf16_s: float, bf16_finite: bool) -> PrecisionChoice:
    """bf16 when it is finite and at least MIN_GAIN times faster than fp32 in the start-up check."""
    ratio = fp32_s / max(bf16_s, 1e-12)
    measured = f"a training step took {fp32_s * 1e3:.0f} ms in fp32 and {bf16_s * 1e3:.0f} ms in bf16"
    if not bf16_finite:
        return PrecisionChoice(None, f"Precision fp32 (auto: the loss was not finite in bf16; {measured}).")
    if ratio >= MIN_GAIN:
        return PrecisionChoice(torch.bfloat16, f"Precision bf16 (auto: {ratio:.2f}x faster than fp32; {measured}).")
    return PrecisionChoice(None, f"Precision fp32 (auto: bf16 was only {ratio:.2f}x as fast; {measured}).")


def _time_steps(
    method: Method, views: list[torch.Tensor], timer: Callable[[], float]
) -> tuple[float, float, bool]:
    """The fastest of TRIALS forward + backward passes of a copy of `method` in fp32 and in bf16, taken in turn after
    one warm-up of each, and whether every bf16 loss was finite. Alternating and taking the fastest keeps a burst of
    other load from deciding, so the same run on the same machine makes the same choice (and so the same weights)."""
    rows = min(CHECK_BATCH, views[0].shape[0])
    sample = [v[:rows] for v in views]
    probe = copy.deepcopy(method)
    probe.step_noise = StepNoise(seed=0, rows=slice(0, rows), total=rows)
    probe.set_batch_indices(torch.arange(rows))
    device_type = views[0].device.type
    best = {None: float("inf"), torch.bfloat16: float("inf")}
    finite = True
    with torch.random.fork_rng(devices=[]):
        for trial in range(TRIALS + 1):  # trial 0 warms both up
            for dtype in best:
                started = timer()
                with torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
                    loss = probe(sample).loss
                loss.float().backward()
                probe.zero_grad(set_to_none=True)
                elapsed = timer() - started
                if trial:
                    best[dtype] = min(best[dtype], elapsed)
                if dtype is not None:
                    finite = finite and bool(torch.isfinite(loss.detach().float()))
    return best[None], best[torch.bfloat16], finite


__all__ = ["PrecisionChoice", "choose_precision", "cpu_native_bf16", "decide"]

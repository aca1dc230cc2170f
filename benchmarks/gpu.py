"""The GPU path, measured: one prepared script for whenever a GPU machine is at hand (under 5 minutes on one GPU).

    .venv/bin/python benchmarks/gpu.py            # on a machine with CUDA
    .venv/bin/python benchmarks/gpu.py --smoke    # the same code on the CPU with tiny sizes (the test suite runs it)

Speed: for a fixed number of steps after warm-up it trains each configuration below with bf16 autocast,
channels_last (convolutional encoders), the GPU-resident uint8 cache (the batch is gathered on the GPU, as fit()
does when the images fit in GPU_CACHE_LIMIT_BYTES) and augmentations on the GPU, with torch.compile off and on:
    resnet18 (small-image stem) SimCLR at 32 px, batch 512 | small-cnn SimCLR at 64 px, batch 512 | vit-tiny MAE at
    32 px, batch 512
and prints one JSON line per configuration: images/s (of the batch; each image is seen in every view), the share of
step time spent gathering the batch and augmenting vs in the model (CUDA events), the GPU busy fraction (kernel time
in the profiler over wall time), peak memory. With several GPUs it also runs `torchrun --nproc_per_node=<all>`.

Checks only a GPU shows (one JSON line each, "ok": true/false): the loss is finite in bf16 and in fp16 for every
method (20 steps); GPU and CPU augmentations agree for the same seed; a checkpoint written on the GPU resumes on the
CPU; an out-of-memory batch gives the engine's sentence. In --smoke mode the sizes are tiny, compile is skipped (the
test suite covers it separately), the GPU-vs-CPU comparison runs CPU against CPU and the out-of-memory check is
skipped: the point is that the script runs, so it cannot rot between GPU runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.augment.views import make_views
from workbench.config import ExperimentConfig
from workbench.engine.fit import fit
from workbench.engine.run_summary import MetricsFollower
from workbench.engine.runs import RunDir
from workbench.engine.trainer import Trainer
from workbench.errors import TrainingError
from workbench.methods import list_methods

CONFIGS = (  # (name, method, encoder, image size, batch)
    ("resnet18-simclr-32px", "simclr", "resnet18", 32, 512),
    ("small-cnn-simclr-64px", "simclr", "small-cnn", 64, 512),
    ("vit-tiny-mae-32px", "mae", "vit-tiny", 32, 512),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (what the test suite runs)")
    parser.add_argument("--steps", type=int, help="timed steps per configuration (default 50; smoke 2)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 10; smoke 1)")
    args = parser.parse_args(argv)
    smoke = args.smoke
    if not smoke and not torch.cuda.is_available():
        print("No CUDA device here; run with --smoke to check the script on the CPU.", file=sys.stderr)
        return 2
    device = torch.device("cpu" if smoke else "cuda")
    steps = args.steps or (2 if smoke else 50)
    warmup = args.warmup or (1 if smoke else 10)
    failures = 0
    for name, method, encoder, size, batch in CONFIGS:
        for compiled in (False,) if smoke else (False, True):
            config = _config(method, encoder, 16 if smoke else size, 8 if smoke else batch, device, compiled)
            config.train.precision = "fp32" if smoke else "bf16"  # bf16 is emulated (very slow) on most CPUs
            failures += _emit("speed", name, lambda c=config: speed(c, device, steps, warmup), compiled=compiled)
    if not smoke and torch.cuda.device_count() > 1:
        failures += _emit("speed", "torchrun, all GPUs", lambda: torchrun_speed(torch.cuda.device_count()))
    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as tmp:
        folder = _image_folder(Path(tmp) / "images", 16 if smoke else 64)
        for dtype in ("bf16", "fp16"):
            finite = lambda d=dtype: finite_check(folder, device, d, 1 if smoke else 20)  # noqa: E731
            failures += _emit("check", f"finite loss in {dtype}", finite)
        failures += _emit("check", "augmentations GPU = CPU", lambda: augment_check(device))
        resume = lambda: resume_check(folder, device, Path(tmp) / "resume")  # noqa: E731
        failures += _emit("check", "GPU checkpoint resumes on CPU", resume)
        if smoke:
            _print({"check": "out of memory", "ok": True, "skipped": "needs a GPU"})
        else:
            failures += _emit("check", "out of memory", lambda: oom_check(folder, device, Path(tmp) / "oom"))
    return 1 if failures else 0


# ---- speed ----------------------------------------------------------------------------------------------------


def speed(config: ExperimentConfig, device: torch.device, steps: int, warmup: int) -> dict[str, Any]:
    """Images/s and where a step's time goes, for `steps` steps after `warmup`, on random uint8 images held on
    `device` (the GPU-resident cache)."""
    batch, size = config.train.batch_size, config.data.image_size
    pool = torch.randint(0, 256, (max(4 * batch, 64), 3, size, size), dtype=torch.uint8, device=device)
    trainer = Trainer(config, device, pool.shape[0])
    generator = torch.Generator().manual_seed(0)
    clock = _Timer(device)
    data_s = model_s = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            data_s = model_s = 0.0
            wall = time.perf_counter()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
        start = clock.mark()
        indices = torch.randint(0, pool.shape[0], (batch,), generator=generator)
        views = trainer.views(pool[indices.to(device)], step, 0, batch, indices)
        middle = clock.mark()
        trainer.step(views, step / (warmup + steps), step)
        end = clock.mark()
        data_s += clock.seconds(start, middle)
        model_s += clock.seconds(middle, end)
    _sync(device)
    wall = time.perf_counter() - wall
    result = {
        "images_per_s": round(batch * steps / wall, 1),
        "data_and_augment_share": round(data_s / max(data_s + model_s, 1e-12), 4),
        "precision": trainer.precision.name if trainer.precision else None,
        "channels_last": trainer.channels_last,
        "batch": batch,
        "image_size": size,
    }
    if device.type == "cuda":
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        result["gpu_busy"] = gpu_busy(trainer, pool, batch, device)
    return result


def gpu_busy(trainer: Trainer, pool: torch.Tensor, batch: int, device: torch.device, steps: int = 10) -> float:
    """Kernel time over wall time for a few steps, from the profiler (1.0: the GPU never waits for the host)."""
    from torch.profiler import ProfilerActivity, profile

    _sync(device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        wall = time.perf_counter()
        for step in range(steps):
            indices = torch.randint(0, pool.shape[0], (batch,))
            trainer.step(trainer.views(pool[indices.to(device)], step, 0, batch, indices), 0.5, step)
        _sync(device)
        wall = time.perf_counter() - wall
    kernel_us = sum(e.self_device_time_total for e in prof.key_averages() if e.device_type.name == "CUDA")
    return round(kernel_us / 1e6 / wall, 3)


def torchrun_speed(n_gpus: int) -> dict[str, Any]:
    """`workbench train` on every GPU under torchrun (ResNet-18 SimCLR at 32 px, batch 512 per GPU)."""
    with tempfile.TemporaryDirectory(prefix="gpu-torchrun-") as tmp:
        folder = _image_folder(Path(tmp) / "images", 32, count=4096)
        run = Path(tmp) / "run"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n_gpus}",
                   "-m", "workbench", "train", "--data", str(folder), "--out", str(run), "--encoder", "resnet18",
                   "--method", "simclr", "--image-size", "32", "--batch-size", str(512 * n_gpus),
                   "--max-steps", "60", "--device", "cuda"]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, timeout=300)
        rows = MetricsFollower(RunDir(run).metrics_path).read()
        rates = [float(r["images_per_s"]) for r in rows[10:]]
        return {"processes": n_gpus, "images_per_s": round(float(np.median(rates)), 1)}


# ---- checks ---------------------------------------------------------------------------------------------------


def finite_check(folder: Path, device: torch.device, precision: str, steps: int) -> dict[str, Any]:
    """Every registered method trains `steps` steps with a finite loss under `precision` autocast."""
    bad = {}
    for method in list_methods():
        config = _config(method, None, 16, 8, device, False, data=folder, precision=precision, max_steps=steps)
        with tempfile.TemporaryDirectory(prefix="gpu-finite-") as run:
            try:
                fit(config, Path(run) / "run")
            except TrainingError as exc:
                bad[method] = str(exc)
    return {"ok": not bad, "methods": len(list_methods()), "steps": steps, "failed": bad}


def augment_check(device: torch.device) -> dict[str, Any]:
    """The same seed gives the same views on the GPU as on the CPU (every augmentation of the default recipe)."""
    config = ExperimentConfig()
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    on_cpu = make_views(config.augment, images, 123)
    on_device = make_views(config.augment, images.to(device), 123)
    error = max(float((a - b.cpu()).abs().max()) for a, b in zip(on_cpu, on_device, strict=True))
    return {"ok": error <= 1e-3, "max_abs_difference": error, "device": device.type}


def resume_check(folder: Path, device: torch.device, run: Path) -> dict[str, Any]:
    """A run trained on `device` and stopped resumes on the CPU and finishes there."""
    config = _config("simclr", "small-cnn", 16, 8, device, False, data=folder, max_steps=2)
    fit(config, run)
    config.train.device, config.train.max_steps = "cpu", 4
    result = fit(config, run, resume=True)
    return {"ok": result.status == "finished" and result.step == 4, "steps": result.step, "from": device.type}


def oom_check(folder: Path, device: torch.device, run: Path) -> dict[str, Any]:
    """A batch far beyond the GPU's memory ends with the engine's one sentence, not a crash."""
    config = _config("simclr", "resnet50", 1024, 4096, device, False, data=folder, max_steps=1)
    config.data.image_size = 64
    config.augment.output_size = 1024
    try:
        fit(config, run)
    except TrainingError as exc:
        return {"ok": str(exc).startswith("Out of memory"), "message": str(exc)}
    return {"ok": False, "message": "the huge batch trained without running out of memory"}


# ---- helpers --------------------------------------------------------------------------------------------------


def _config(
    method: str,
    encoder: str | None,
    size: int,
    batch: int,
    device: torch.device,
    compiled: bool,
    *,
    data: Path | None = None,
    precision: str = "bf16",
    max_steps: int | None = None,
) -> ExperimentConfig:
    config = ExperimentConfig()
    config.method.name = method
    if encoder is not None:
        config.model.encoder = encoder
    config.model.small_stem = True
    config.data.path = None if data is None else str(data)
    config.data.image_size = size
    config.train.batch_size = batch
    config.train.device = device.type
    config.train.precision = precision
    config.train.compile = compiled
    config.train.workers = 0
    config.train.max_steps = max_steps
    config.train.monitor_every_epochs = 0
    return config


def _image_folder(path: Path, size: int, count: int = 32) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    path.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path / f"{i:05d}.png")
    return path


class _Timer:
    """Marks on the device's timeline: CUDA events on a GPU (no sync per mark), the host clock elsewhere."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def mark(self) -> Any:
        if not self.cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def seconds(self, start: Any, end: Any) -> float:
        if not self.cuda:
            return end - start
        end.synchronize()
        return start.elapsed_time(end) / 1e3


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _emit(kind: str, name: str, job: Callable[[], dict[str, Any]], **extra: Any) -> int:
    """Run one measurement ("speed") or check and print its JSON line; 1 if it failed."""
    try:
        result = job()
    except Exception as exc:  # a broken configuration is reported and the script goes on
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc(limit=3)}
    _print({kind: name, **extra, **result})
    return 0 if result.get("ok", True) else 1


def _print(row: dict[str, Any]) -> None:
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())

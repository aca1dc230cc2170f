"""How far a training step is from this machine's limit: achieved multiply-accumulates per second (forward +
backward) against the measured peak of a large matmul in the same precision.

    .venv/bin/python benchmarks/roofline.py [--steps 10] [--precision fp32|bf16|auto]

For the default recipe (`workbench train` with no flags: SimCLR, small-cnn, 32 px, batch 256, two views) and for the
seed comparison's model (seed-cnn with the `seed` augmentations, batch 256), it counts the FLOPs of one training step
with torch.utils.flop_counter (forward + backward of every view; 1 MAC = 2 FLOPs), times `--steps` steps after two
warm-up steps through the engine's own Trainer (augmentation + model + optimizer: what a user waits for), and times
a 4096 x 4096 matmul with the same threads and precision as the peak. Convolutions run other kernels than a matmul
(oneDNN's direct or AMX convs), so it also times a large 3 x 3 convolution (256 -> 256 channels, 32 px, batch 32,
channels_last, forward) as the conv peak, labelled apart: what a conv net's kernels reach at best in that precision
(on this AMX Xeon about 1.4x the bf16 matmul). Prints a Markdown table, then one JSON line.
Measure on a quiet machine (nothing else running).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from workbench.augment.spec import preset
from workbench.config import ExperimentConfig
from workbench.engine.devices import reuse_freed_cpu_memory
from workbench.engine.trainer import Trainer

MATMUL_SIDE = 4096
CONV_SHAPE = (32, 256, 32)  # batch, channels in = out, side: a 3 x 3 conv big enough to run at the conv kernels' best


def recipes(precision: str) -> dict[str, ExperimentConfig]:
    default = ExperimentConfig()
    seed = ExperimentConfig()
    seed.augment = preset("seed")
    seed.method.name = "seed-contrastive"
    seed.model.encoder = "seed-cnn"
    for config in (default, seed):
        config.train.device = "cpu"
        config.train.precision = precision
    return {"default recipe (simclr, small-cnn)": default, "seed comparison (seed-cnn)": seed}


def matmul_peak_macs(dtype: torch.dtype, repeats: int = 5) -> float:
    """Multiply-accumulates per second of a large square matmul: the practical peak of these cores."""
    a = torch.randn(MATMUL_SIDE, MATMUL_SIDE, dtype=dtype)
    b = torch.randn(MATMUL_SIDE, MATMUL_SIDE, dtype=dtype)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return MATMUL_SIDE**3 / best


def conv_peak_macs(dtype: torch.dtype, repeats: int = 3) -> float:
    """Multiply-accumulates per second of a large 3 x 3 convolution (forward, channels_last): the conv peak."""
    batch, channels, side = CONV_SHAPE
    x = torch.randn(batch, channels, side, side, dtype=dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(channels, channels, 3, 3, dtype=dtype).contiguous(memory_format=torch.channels_last)
    release = reuse_freed_cpu_memory()  # as in training: a fresh output would be page-faulted in (3x slower here)
    try:
        torch.nn.functional.conv2d(x, w, padding=1)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            torch.nn.functional.conv2d(x, w, padding=1)
            best = min(best, time.perf_counter() - started)
    finally:
        release()
    return batch * channels * channels * 9 * side * side / best


def step_macs_and_seconds(config: ExperimentConfig, steps: int) -> tuple[float, float, str]:
    """(MACs of one training step, median seconds per step, the precision the Trainer used)."""
    size = config.data.image_size
    images = torch.randint(0, 256, (config.train.batch_size, 3, size, size), dtype=torch.uint8)
    trainer = Trainer(config, torch.device("cpu"), 10_000)
    trainer.step(trainer.views(images, 0), 0.0, 0)  # settles "auto" precision; warm-up
    views = trainer.views(images, 1)
    amp = trainer.amp_dtype
    with FlopCounterMode(display=False) as counter:
        with torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None):
            loss = trainer.model(views).loss
        loss.backward()
    trainer.optimizer.zero_grad(set_to_none=True)
    times = []
    release = reuse_freed_cpu_memory()  # as fit() holds it for a run
    try:
        for step in range(1, steps + 2):
            started = time.perf_counter()
            trainer.step(trainer.views(images, step), step / (steps + 2), step)
            times.append(time.perf_counter() - started)
    finally:
        release()
    times = sorted(times[1:])  # the first is one more warm-up
    return counter.get_total_flops() / 2, times[len(times) // 2], trainer.precision.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    args = parser.parse_args(argv)
    rows = []
    peaks: dict[str, float] = {}
    conv_peaks: dict[str, float] = {}
    for name, config in recipes(args.precision).items():
        macs, seconds, used = step_macs_and_seconds(config, args.steps)
        if used not in peaks:
            dtype = torch.bfloat16 if used == "bf16" else torch.float32
            peaks[used], conv_peaks[used] = matmul_peak_macs(dtype), conv_peak_macs(dtype)
        achieved = macs / seconds
        rows.append(
            {
                "recipe": name,
                "precision": used,
                "gmacs_per_step": round(macs / 1e9, 2),
                "step_s": round(seconds, 3),
                "achieved_gmacs_per_s": round(achieved / 1e9, 1),
                "peak_gmacs_per_s": round(peaks[used] / 1e9, 1),
                "share_of_peak": round(achieved / peaks[used], 3),
                "conv_peak_gmacs_per_s": round(conv_peaks[used] / 1e9, 1),
                "share_of_conv_peak": round(achieved / conv_peaks[used], 3),
                "images_per_s": round(config.train.batch_size / seconds, 1),
            }
        )
    print(f"threads: {torch.get_num_threads()}, CPU capability: {torch.backends.cpu.get_cpu_capability()}\n")
    print(
        "| recipe | precision | GMAC / step | s / step | img/s | achieved GMAC/s | matmul peak GMAC/s | of matmul peak "
        "| conv peak GMAC/s (3x3, 256 ch) | of conv peak |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['recipe']} | {r['precision']} | {r['gmacs_per_step']} | {r['step_s']} | {r['images_per_s']} | "
            f"{r['achieved_gmacs_per_s']} | {r['peak_gmacs_per_s']} | {r['share_of_peak']:.0%} | "
            f"{r['conv_peak_gmacs_per_s']} | {r['share_of_conv_peak']:.0%} |"
        )
    print(json.dumps({"threads": torch.get_num_threads(), "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How fast make_views draws two views, next to how fast a model consumes them.

Prints images/s of `make_views` (two views per image) for a few presets and image sizes, then images/s
of a forward + backward pass over both views for a few encoders, as a table and a final JSON line.
If augmentation is well ahead of the model, it is not the bottleneck of a training step.

    python benchmarks/augment_throughput.py                      # CPU, all cores, 5 timed batches
    python benchmarks/augment_throughput.py --device cuda --batches 20
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import torch

from workbench.augment.spec import preset
from workbench.augment.views import make_views


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _seconds_per_call(step: Callable[[int], object], device: torch.device, batches: int, warmup: int) -> float:
    """Mean wall time of step(i) over `batches` calls, after `warmup` untimed ones."""
    for i in range(warmup):
        step(i)
    _sync(device)
    start = time.perf_counter()
    for i in range(batches):
        step(warmup + i)
    _sync(device)
    return (time.perf_counter() - start) / batches


def _images(batch: int, size: int, device: torch.device) -> torch.Tensor:
    gen = torch.Generator().manual_seed(size)
    return torch.randint(0, 256, (batch, 3, size, size), generator=gen, dtype=torch.uint8).to(device)


def bench_augment(args: argparse.Namespace, device: torch.device) -> list[dict]:
    rows = []
    for name in args.presets:
        for size in args.sizes:
            spec = preset(name).with_views(2)
            spec.output_size = size
            images = _images(args.batch_size, size, device)
            seconds = _seconds_per_call(lambda i: make_views(spec, images, i), device, args.batches, args.warmup)  # noqa: B023
            rows.append({"what": "augment", "name": name, "size": size, "seconds": seconds})
    return rows


def bench_models(args: argparse.Namespace, device: torch.device) -> list[dict]:
    try:
        from workbench.models.encoders import create_encoder
    except ImportError as exc:
        print(f"(model throughput skipped: workbench.models.encoders is not available: {exc})")
        return []
    rows = []
    for name in args.encoders:
        for size in args.sizes:
            model = create_encoder(name, image_size=size).to(device).train()
            spec = preset("simclr")
            spec.output_size = size
            batch = torch.cat(make_views(spec, _images(args.batch_size, size, device), 0))  # (2B, 3, S, S)
            if not name.startswith("vit"):  # as training does (engine/fit.py): channels_last for CNNs
                model = model.to(memory_format=torch.channels_last)
                batch = batch.contiguous(memory_format=torch.channels_last)

            def step(_: int, model: torch.nn.Module = model, batch: torch.Tensor = batch) -> None:
                model.zero_grad(set_to_none=True)
                model(batch).float().pow(2).mean().backward()  # a stand-in loss over both views

            seconds = _seconds_per_call(step, device, args.batches, args.warmup)
            rows.append({"what": "model", "name": name, "size": size, "seconds": seconds})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads (all cores)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=5, help="timed batches per row")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 96])
    parser.add_argument("--presets", nargs="+", default=["seed", "simclr", "light"])
    parser.add_argument("--encoders", nargs="+", default=["seed-cnn", "resnet18"])
    parser.add_argument("--no-models", action="store_true", help="time the augmentation only")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = bench_augment(args, device)
    if not args.no_models:
        rows += bench_models(args, device)

    print(f"\ndevice={device}  threads={torch.get_num_threads()}  batch={args.batch_size} images x 2 views")
    print(f"{'what':<8} {'name':<10} {'size':>5} {'ms/batch':>10} {'images/s':>10}")
    for row in rows:
        row["images_per_s"] = args.batch_size / row["seconds"]
        print(
            f"{row['what']:<8} {row['name']:<10} {row['size']:>5} {1e3 * row['seconds']:>10.1f} "
            f"{row['images_per_s']:>10.0f}"
        )
    summary = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "views": 2,
        "results": [
            {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items() if k != "seconds"} for row in rows
        ],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

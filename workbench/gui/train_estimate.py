"""What to expect before Start (Qt-free): how long a recipe takes and how many steps it gets, from the images/s that
past runs in the runs folder measured with the same encoder, image size and device, else from a conservative
built-in figure that says it is one. And when a run is too short to learn: fewer than MIN_USEFUL_STEPS steps.

The built-in figures are the slowest seen in benchmarks/RESULTS.md on a 2-core CPU at 32 px (the training methods
of the comparison table, a busy machine), scaled by pixel count; other devices get a plain guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.config import ExperimentConfig
from workbench.engine.run_summary import RunSummary

MIN_USEFUL_STEPS = 100  # in benchmarks/RESULTS.md the methods beat the untrained encoder after about 60-110 steps
# Source images per second on a 2-core CPU at 32 px, training (two views, forward and backward), when busy.
BUILTIN_CPU_IMAGES_PER_S = {"seed-cnn": 40.0, "small-cnn": 65.0, "resnet18": 5.0, "resnet34": 2.5, "resnet50": 1.0,
                            "vit-tiny": 25.0}  # fmt: skip
DEVICE_FACTOR = {"cpu": 1.0, "mps": 3.0, "cuda": 20.0}  # a guess: only a measured run here says what a device does


@dataclass
class Speed:
    images_per_s: float
    source: str  # in words: which run measured it, or that it is a built-in guess
    measured: bool


@dataclass
class Estimate:
    text: str  # one line for the window
    steps: int | None  # the steps the run will get (None: the folder's size is not known yet)
    too_short: bool


def device_kind(device: str, available: list[str]) -> str:
    """The device a setting trains on: "auto" is the best one available (the catalog lists them best first)."""
    return (available[0] if available else "cpu") if device == "auto" else device


def _run_fields(run: RunSummary, available: list[str]) -> tuple[str, int, str, str] | None:
    config: dict[str, Any] = run.config
    try:
        return (
            str(config["model"]["encoder"]),
            int(config["data"]["image_size"]),
            device_kind(str(config["train"]["device"]), available),
            str(config["method"]["name"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def measured_speed(config: ExperimentConfig, runs: list[RunSummary], available: list[str]) -> Speed:
    """The newest past run's images/s with this encoder, image size and device (the same method preferred), else the
    built-in figure."""
    device = device_kind(config.train.device, available)
    want = (config.model.encoder, config.data.image_size, device)
    same = [(run, f) for run in runs if run.images_per_s and (f := _run_fields(run, available)) and f[:3] == want]
    same.sort(key=lambda item: item[1][3] != config.method.name)  # stable: newest first within each group
    if same:
        run, _ = same[0]
        return Speed(float(run.images_per_s), f"measured in {run.name}", True)
    base = BUILTIN_CPU_IMAGES_PER_S.get(config.model.encoder, min(BUILTIN_CPU_IMAGES_PER_S.values()))
    scale = (32 / max(config.data.image_size, 1)) ** 2 * DEVICE_FACTOR.get(device, 1.0)
    return Speed(base * scale, f"a rough built-in guess for {device}: no run here measured it yet", False)


def planned_steps(config: ExperimentConfig, images: int, speed: Speed) -> int:
    """The steps fit() will take: epochs x full batches (capped by max_steps), or what the speed fits in the budget."""
    batch = min(max(config.train.batch_size, 1), max(images, 1))
    per_epoch = max(images // batch, 1)
    steps = config.train.epochs * per_epoch
    if config.train.time_budget_s is not None:
        steps = min(steps, int(config.train.time_budget_s * speed.images_per_s / batch))
    if config.train.max_steps is not None:
        steps = min(steps, config.train.max_steps)
    return max(steps, 0)


def estimate(config: ExperimentConfig, images: int | None, speed: Speed) -> Estimate:
    """E.g. "≈ 9 min for 100 epochs (390 steps) at ~180 img/s (measured in RUN)"; a warning when too short."""
    rate = f"~{speed.images_per_s:,.0f} img/s" if speed.images_per_s >= 10 else f"~{speed.images_per_s:.1f} img/s"
    if images is None:
        return Estimate(f"Estimate at {rate} ({speed.source}) once the folder is counted.", None, False)
    steps = planned_steps(config, images, speed)
    batch = min(max(config.train.batch_size, 1), max(images, 1))
    epochs = steps * batch / max(images, 1)
    seconds = steps * batch / speed.images_per_s
    if config.train.time_budget_s is not None and steps < config.train.epochs * max(images // batch, 1):
        seconds = config.train.time_budget_s
    what = f"{epochs:.0f} epochs" if epochs >= 1.5 else f"{epochs:.1f} epoch" if epochs >= 0.95 else "under 1 epoch"
    text = f"≈ {duration(seconds)} for {what} ({steps:,} steps of {batch}) at {rate} ({speed.source})."
    too_short = steps < MIN_USEFUL_STEPS
    if too_short:
        text += " " + short_run_text(steps)
    return Estimate(text, steps, too_short)


def short_run_text(steps: int, lead: str = "Only") -> str:
    """E.g. "Only 20 steps: results will be close to untrained (...)"; `lead` starts the sentence."""
    return (
        f"{lead} {steps:,} steps: results will be close to untrained (about {MIN_USEFUL_STEPS} or more are needed "
        "to learn visibly; train longer or use a smaller batch)."
    )


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

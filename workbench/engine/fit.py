"""fit(): the one training loop. The CLI, the GUI worker and (later) torchrun all call it unchanged.

It reads top to bottom: run folder, data, model, optimizer, resume, loop, checkpoint. One step is
    images[indices] (uint8, B x 3 x S x S) -> make_views(spec, batch, step seed) -> method.step(views)
    -> loss and logged values -> reporter.step(...)
Every step is a cancellation and pause point. Only the main process writes run files (engine/dist.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from workbench import dist
from workbench.augment.views import make_views
from workbench.config import ExperimentConfig
from workbench.data import ImageSet, demo_dataset_path, load_images
from workbench.engine.devices import autocast_dtype, resolve_device
from workbench.engine.monitor import end_epoch
from workbench.engine.optim import build_optimizer, lr_at, set_lr
from workbench.engine.previews import Previewer
from workbench.engine.report import NullReporter, Reporter, StepReport
from workbench.engine.runs import SCAN_REPORT_FILE, RunDir
from workbench.errors import Cancelled, TrainingError
from workbench.files import ensure_outside
from workbench.methods import Method, create_method, resolve_config
from workbench.models import create_encoder

CHECKPOINT_FORMAT = 1
GPU_CACHE_LIMIT_BYTES = 4 * 2**30


@dataclass
class FitResult:
    run_dir: Path
    status: str  # "finished" or "stopped"
    step: int
    epoch: int
    time_s: float
    loss: float | None
    message: str


@dataclass
class _Position:
    """Where the loop is; saved in every checkpoint so a resumed run continues the same curves."""

    step: int = 0  # optimizer steps done, over the whole run
    epoch: int = 0  # index of the current epoch (0-based; reported 1-based)
    epoch_step: int = 0  # steps done inside the current epoch
    time_s: float = 0.0  # training wall time before this process started (resumes add up)


def load_data(config: ExperimentConfig, reporter: Reporter, root: str | Path | None = None) -> ImageSet:
    """Scan and decode `root` (default: the configured folder, or the built-in demo) once, at the training
    resolution and with the run's cache and worker settings."""
    root = Path(root or config.data.path or demo_dataset_path())
    reporter.message(f"Reading images from {root} ...")
    return load_images(
        root,
        config.data.image_size,
        cache_dir=config.data.cache_dir,
        workers=config.train.workers,
        progress=reporter.progress,
        should_stop=reporter.should_stop,
    )


def build_method(config: ExperimentConfig) -> Method:
    """Encoder + heads + loss, from the config alone (also used to rebuild a model from a checkpoint)."""
    config = resolve_config(config)
    encoder = create_encoder(config.model.encoder, image_size=_output_size(config), small_stem=config.model.small_stem)
    return create_method(config.method.name, encoder, config.method)


def fit(
    config: ExperimentConfig,
    run_dir: str | Path,
    *,
    reporter: Reporter | None = None,
    resume: bool = False,
    images: ImageSet | None = None,
) -> FitResult:
    """Train `config` in `run_dir` (created, or continued with `resume=True`) until the epochs, the step limit or
    the time budget run out, or the reporter asks to stop. Raises WorkbenchError subclasses for user errors."""
    reporter = reporter or NullReporter()
    config.validate()
    config = resolve_config(config)  # the method's encoder and hyper-parameters, as saved in config.json
    device = resolve_device(config.train.device)
    main = dist.is_main_process()

    # ---- run folder (never inside the image folder) ---------------------------------------------------
    ensure_outside(run_dir, config.data.path or demo_dataset_path(), "the run folder")
    run = RunDir.open(run_dir) if resume else None

    # ---- data (read before a new run folder is made, so bad data leaves nothing behind) ---------------------
    data = images if images is not None else load_data(config, reporter)
    reporter.message(data.report.summary())
    if run is None:
        run = RunDir.create(run_dir, config)
    elif main:
        run.save_config(config)  # stop criteria may have been extended for this resume
    if main:
        run.save_json(SCAN_REPORT_FILE, data.report.to_dict())
    n_images = len(data)
    if n_images < 2:
        raise TrainingError(f"Training needs at least 2 readable images; the folder has {n_images}.")
    batch_size = min(config.train.batch_size, n_images)
    steps_per_epoch = n_images // batch_size
    # On a GPU, keep the whole uint8 cache there when it is small: batches are then gathered without host copies.
    on_device = device.type == "cuda" and data.images.nbytes <= GPU_CACHE_LIMIT_BYTES
    pool = data.images.to(device) if on_device else data.images

    # ---- model and optimizer --------------------------------------------------------------------------
    torch.manual_seed(config.train.seed)
    method = build_method(config)
    method.set_dataset_size(n_images)  # before a resume loads the state (e.g. MoCo's queue capacity)
    method.encoder.resolve_representation(config.model.representation)  # an unknown name fails now, not later
    spec = config.augment if config.augment.n_views == method.n_views else config.augment.with_views(method.n_views)
    channels_last = _use_channels_last(config, device)
    method.to(device)
    if channels_last:
        method.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(method, config.optim)
    amp_dtype = autocast_dtype(device, config.train.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    previewer = Previewer(method, data, spec, config.train.seed, device, run, reporter, main)

    # ---- resume ---------------------------------------------------------------------------------------
    pos = _Position()
    if resume and run.has_checkpoint():
        state = run.load_checkpoint(map_location=device)
        method.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if "scaler" in state and scaler.is_enabled():
            scaler.load_state_dict(state["scaler"])
        pos = _Position(**state["position"])
        reporter.message(f"Resuming at step {pos.step} (epoch {pos.epoch + 1}).")
    elif resume:
        reporter.message("The run has no checkpoint yet; starting it from the beginning.")
    total_steps = config.train.epochs * steps_per_epoch
    if config.train.max_steps is not None:
        total_steps = min(total_steps, config.train.max_steps)
    budget = config.train.time_budget_s

    def checkpoint(name: str = "last") -> None:
        if main:
            run.save_checkpoint(
                {
                    "format": CHECKPOINT_FORMAT,
                    "config": config.to_dict(),
                    "model": method.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scaler": scaler.state_dict(),
                    "position": vars(pos).copy(),
                },
                name,
            )

    # ---- loop -----------------------------------------------------------------------------------------
    if main:
        run.begin_metrics(resume_step=pos.step)
        run.trim_epochs(last_kept=pos.epoch)
        run.set_status("running", step=pos.step)
    clock = _Clock(pos.time_s, pos.step)
    last_checkpoint_at = clock.elapsed()
    next_snapshot = _next_multiple(pos.time_s, config.train.snapshot_every_s)
    loss_value: float | None = None
    epoch_losses: list[float] = []
    status, message = "finished", "finished"
    method.train()
    try:
        while pos.step < total_steps and (budget is None or clock.elapsed() < budget):
            order = _epoch_order(n_images, config.train.seed, pos.epoch)
            while pos.epoch_step < steps_per_epoch and pos.step < total_steps:
                if _wait_while_paused(reporter, clock):
                    raise Cancelled
                if budget is not None and clock.elapsed() >= budget:
                    break
                step_started = time.perf_counter()
                start = pos.epoch_step * batch_size
                batch = pool[order[start : start + batch_size].to(pool.device)].to(device, non_blocking=True)
                views = make_views(spec, batch, _step_seed(config.train.seed, pos.step))
                if channels_last:
                    views = [v.contiguous(memory_format=torch.channels_last) for v in views]
                progress = max((pos.step + 1) / total_steps, clock.elapsed() / budget if budget else 0.0)
                lr = lr_at(config.optim, progress)
                set_lr(optimizer, lr)

                with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                    out = method.step(views)
                logged = torch.stack([out.loss.detach().float()] + [v.float() for v in out.values.values()])
                loss_value, *value_list = logged.tolist()  # one device sync per step
                if not math.isfinite(loss_value):
                    raise TrainingError(_non_finite_message(config, pos.step + 1, loss_value))
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(out.loss).backward()
                if config.optim.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(method.parameters(), config.optim.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                method.on_step_end(progress)

                pos.step += 1
                pos.epoch_step += 1
                epoch_losses.append(loss_value)
                elapsed = clock.elapsed()
                values = dict(zip(out.values.keys(), value_list, strict=True))
                report = StepReport(
                    step=pos.step,
                    epoch=pos.epoch + 1,
                    total_steps=total_steps if budget is None else None,
                    loss=loss_value,
                    lr=lr,
                    images_per_s=batch_size / max(time.perf_counter() - step_started, 1e-9),
                    time_s=elapsed,
                    eta_s=clock.eta(pos.step, total_steps, budget),
                    values=values,
                )
                if main:
                    run.append_metrics(
                        {
                            "step": report.step,
                            "epoch": report.epoch,
                            "loss": loss_value,
                            "lr": lr,
                            "images_per_s": report.images_per_s,
                            "time_s": elapsed,
                            **values,
                        }
                    )
                reporter.step(report)
                previewer.maybe(pos.epoch + 1, elapsed)
                pos.time_s = elapsed
                if next_snapshot is not None and elapsed >= next_snapshot:
                    checkpoint(f"time-{int(next_snapshot):06d}s")
                    next_snapshot += config.train.snapshot_every_s
                if elapsed - last_checkpoint_at >= config.train.checkpoint_every_s:
                    checkpoint()
                    last_checkpoint_at = elapsed
                if reporter.should_stop():
                    raise Cancelled
            if pos.epoch_step >= steps_per_epoch:  # a whole epoch is done
                end_epoch(
                    run, method, data, spec, config, device, pos.epoch, pos.step, epoch_losses, clock.elapsed(),
                    reporter, main,
                )  # fmt: skip
                previewer.maybe(pos.epoch + 1, clock.elapsed())
                pos.epoch += 1
                pos.epoch_step = 0
                epoch_losses = []
                checkpoint()
                every = config.train.checkpoint_every_epochs
                if every and pos.epoch % every == 0:
                    checkpoint(f"epoch-{pos.epoch:04d}")
                last_checkpoint_at = clock.elapsed()
            elif budget is not None and clock.elapsed() >= budget:
                break
        if budget is not None and clock.elapsed() >= budget:
            message = f"time budget of {budget:g} s reached"
        else:
            message = f"finished {pos.step} steps"
    except Cancelled:
        status, message = "stopped", f"stopped by the user at step {pos.step}; resume to continue"
    except TrainingError as exc:
        pos.time_s = clock.elapsed()
        checkpoint()  # the weights are from before the bad step, so the run stays resumable
        if main:
            run.set_status("failed", step=pos.step, message=str(exc))
        run.close()
        raise
    except torch.OutOfMemoryError:
        pos.time_s = clock.elapsed()
        text = (
            f"Out of memory on {device.type} at step {pos.step + 1} with batch size {batch_size} at "
            f"{_output_size(config)} px; try a smaller batch size or image size."
        )
        if main:
            run.set_status("failed", step=pos.step, message=text)
        run.close()
        raise TrainingError(text) from None
    pos.time_s = clock.elapsed()
    checkpoint()
    previewer.maybe(max(pos.epoch + (pos.epoch_step > 0), 1), pos.time_s, force=True)  # the final weights
    if main:
        run.set_status(status, step=pos.step, message=message, loss=loss_value, time_s=pos.time_s)
    run.close()
    reporter.message(f"Run {status}: {message}.")
    return FitResult(run.path, status, pos.step, pos.epoch, pos.time_s, loss_value, message)


# ---- helpers ------------------------------------------------------------------------------------------


class _Clock:
    """Training wall time: time before this process (resumes) plus time since start, minus paused time."""

    def __init__(self, offset_s: float, start_step: int):
        self.offset = offset_s
        self.start_step = start_step
        self.t0 = time.perf_counter()
        self.paused_s = 0.0

    def elapsed(self) -> float:
        return self.offset + time.perf_counter() - self.t0 - self.paused_s

    def eta(self, step: int, total: int, budget: float | None) -> float | None:
        """Seconds left at this process's own speed, capped by what is left of the time budget."""
        elapsed = self.elapsed()
        rate = (step - self.start_step) / max(elapsed - self.offset, 1e-9)
        eta = (total - step) / rate if rate > 0 else None
        if budget is not None:
            left = max(budget - elapsed, 0.0)
            eta = left if eta is None else min(eta, left)
        return eta


def _wait_while_paused(reporter: Reporter, clock: _Clock) -> bool:
    """Block while paused (time not counted); True if a stop was asked meanwhile or before."""
    if reporter.should_stop():
        return True
    if not reporter.paused():
        return False
    started = time.perf_counter()
    while reporter.paused():
        if reporter.should_stop():
            return True
        time.sleep(0.05)
    clock.paused_s += time.perf_counter() - started
    return False


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The epoch's shuffled order, a function of (seed, epoch) alone so a resumed run replays it exactly."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=generator)


def _step_seed(seed: int, step: int) -> int:
    """Augmentation seed of a step: resumable without saving generator state, distinct across steps and seeds."""
    return (seed * 1_000_003 + step * 7_919 + 17) % (2**63 - 1)


def _next_multiple(value: float, every: float | None) -> float | None:
    if not every:
        return None
    return (math.floor(value / every) + 1) * every


def _use_channels_last(config: ExperimentConfig, device: torch.device) -> bool:
    if config.train.channels_last is not None:
        return config.train.channels_last
    return device.type in ("cpu", "cuda") and not config.model.encoder.startswith("vit")


def _output_size(config: ExperimentConfig) -> int:
    return config.augment.output_size or config.data.image_size


def _non_finite_message(config: ExperimentConfig, step: int, value: float) -> str:
    causes = f"a learning rate too high for this batch size ({config.optim.lr:g})"
    if config.method.temperature is not None:
        causes += f" or a temperature too low ({config.method.temperature:g})"
    remedies = "a lower learning rate" + (" or a higher temperature" if config.method.temperature is not None else "")
    return (
        f"The loss became {value} at step {step}, so training stopped (the last good weights are saved). "
        f"Likely cause: {causes}; try {remedies}, gradient clipping, or fp32 precision."
    )


__all__ = ["FitResult", "build_method", "fit", "load_data"]

"""fit(): the one training loop. The CLI, the GUI worker and (later) torchrun all call it unchanged.

It reads top to bottom: run folder, data, model and optimizer (engine/trainer.py), resume, loop; when to checkpoint
is engine/checkpoints.py's policy, and how the time budget holds everything between steps (monitor passes, previews,
checkpoints) and when the monitor may run is engine/timing.py's. One step is
    images[indices] (uint8, B x 3 x S x S) -> trainer.views(batch, step) -> trainer.step(views) (loss, backward,
    optimizer) -> metrics.csv row and reporter.step(...)
Every step is a cancellation and pause point. Only the main process writes run files (workbench/dist.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from workbench import dist
from workbench.config import ExperimentConfig
from workbench.data import ImageSet, default_cache_dir, demo_dataset_path, load_images
from workbench.engine import timing
from workbench.engine.checkpoints import BestCheckpoint, CheckpointPolicy
from workbench.engine.devices import resolve_device, reuse_freed_cpu_memory
from workbench.engine.monitor import Monitor, epoch_metrics
from workbench.engine.previews import Previewer
from workbench.engine.report import NullReporter, Reporter, StepReport
from workbench.engine.resume import check_resume_config
from workbench.engine.run_images import images_gone_message, record_start_images
from workbench.engine.run_paths import ensure_run_outside
from workbench.engine.runs import CHECKPOINT_FORMAT, SCAN_REPORT_FILE, UNTRAINED_FILE, RunDir, read_json_object
from workbench.engine.session import Session, write_failed_message
from workbench.engine.timing import Overheads, TrainClock, wait_while_paused
from workbench.engine.trainer import StepResult, Trainer, output_size
from workbench.errors import Cancelled, ConfigError, TrainingError, WriteError
from workbench.methods import resolve_config

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
    # the decoded images it trained on, for what follows at once (the embeddings Explore opens: results/embeddings.py)
    images: ImageSet | None = field(default=None, repr=False, compare=False)


@dataclass
class _Position:
    """Where the loop is; saved in every checkpoint so a resumed run continues the same curves."""

    step: int = 0  # optimizer steps done, over the whole run
    epoch: int = 0  # index of the current epoch (0-based; reported 1-based)
    epoch_step: int = 0  # steps done inside the current epoch
    time_s: float = 0.0  # training wall time before this process started (resumes add up)


def load_data(config: ExperimentConfig, reporter: Reporter, root: str | Path | None = None) -> ImageSet:
    """Scan and decode `root` (default: the configured folder, or the built-in demo) once, at the training
    resolution and with the run's cache and worker settings.

    Under torchrun the images are decoded once per machine: the first process of each machine decodes them into
    the disk cache (`data.cache_dir`, else the user's cache folder) while the others wait, then read that cache."""
    root = Path(root or config.data.path or demo_dataset_path())
    cache_dir = config.data.cache_dir
    several = dist.world_size() > 1
    if several:
        cache_dir = cache_dir or str(default_cache_dir())
        if dist.local_rank() != 0:
            dist.barrier()
    try:
        reporter.message(f"Reading images from {root} ...")
        return load_images(
            root,
            config.data.image_size,
            cache_dir=cache_dir,
            workers=config.train.workers,
            progress=reporter.progress,
            should_stop=reporter.should_stop,
            keep_duplicate_links=config.data.keep_duplicate_links,
            exclude=config.data.exclude if root == Path(config.data.path or demo_dataset_path()) else (),
        )
    finally:
        if several and dist.local_rank() == 0:
            dist.barrier()  # the machine's other processes now read the cache


def fit(
    config: ExperimentConfig,
    run_dir: str | Path,
    *,
    reporter: Reporter | None = None,
    resume: bool = False,
    images: ImageSet | None = None,
) -> FitResult:
    """Train `config` in `run_dir` (created, or continued with `resume=True`) until the epochs, the step limit or
    the time budget run out, or the reporter asks to stop. Raises WorkbenchError subclasses for user errors: among
    them RunBusyError when another process trains the run, TrainingError when a file cannot be written (disk full,
    folder read-only or deleted), the last checkpoint left intact."""
    reporter = reporter or NullReporter()
    session = Session(dist.is_main_process(), reporter)
    # For the run only: freed memory stays in the process, so each step's activations reuse it (engine/devices.py)
    release_memory = reuse_freed_cpu_memory()
    try:
        return _fit(config, run_dir, reporter, resume, images, session)
    except WriteError as exc:
        text = write_failed_message(exc)
        session.failed(text)
        raise TrainingError(text) from None
    finally:
        session.close()
        release_memory()


def _fit(
    config: ExperimentConfig,
    run_dir: str | Path,
    reporter: Reporter,
    resume: bool,
    images: ImageSet | None,
    session: Session,
) -> FitResult:
    config.validate()
    config = resolve_config(config)  # the method's encoder and hyper-parameters, as saved in config.json
    device = dist.device_for(resolve_device(config.train.device))
    main, rank, world = dist.is_main_process(), dist.rank(), dist.world_size()

    # ---- run folder and data (read before a new run folder is made, so bad data leaves nothing behind) ----------
    roots = (config.data.path or demo_dataset_path(), images.report.root if images is not None else None)
    ensure_run_outside(run_dir, roots)  # the folder and every link inside it, before the lock or anything is written
    run = session.hold(RunDir.open(run_dir)) if resume else None  # locked: one training process per run
    if run is not None:  # before anything is written: a refused resume leaves the run as it was
        check_resume_config(run.load_config(), config, run.path)
    data = images if images is not None else load_data(config, reporter)
    reporter.message(data.report.summary())
    n_images = len(data)
    if n_images < 2:
        raise TrainingError(f"Training needs at least 2 readable images; the folder has {n_images}.")
    batch_size = min(config.train.batch_size, n_images)  # the global batch, split evenly over the processes
    if batch_size % world:
        raise ConfigError(
            f"The batch of {batch_size} images (train.batch_size, the global batch) does not split evenly over "
            f"{world} processes; choose a multiple of {world}."
        )
    local_batch = batch_size // world
    steps_per_epoch = n_images // batch_size
    run = session.hold(_write_run_files(run, run_dir, config, data, main, reporter))
    pool = _image_pool(data, device)

    # ---- model, optimizer and where to start -----------------------------------------------------------------
    trainer = Trainer(config, device, n_images, notify=reporter.message, data=data)
    previewer = Previewer(trainer.method, data, trainer.spec, config.train.seed, device, run, reporter, main)
    pos, kept = _resume(run, trainer, device, reporter) if resume else (_Position(), None)
    total_steps = config.train.epochs * steps_per_epoch
    if config.train.max_steps is not None:
        total_steps = min(total_steps, config.train.max_steps)
    budget = config.train.time_budget_s
    clock = TrainClock(pos.time_s, pos.step, budget)  # from here on everything counts as training time
    overheads = Overheads(budget, config.train.monitor_share, pos.time_s)
    monitor = Monitor(run, trainer.method, data, trainer.spec, config, device, reporter, main)

    def save(name: str) -> None:
        if main:
            with overheads.measure("checkpoint", clock):
                state = {"format": CHECKPOINT_FORMAT, "config": config.to_dict(), **trainer.state_dict()}
                state |= best.state_dict()
                # the time now, not the last step's: a resume must not lose what the monitor took since
                position = {**vars(pos), "time_s": clock.elapsed()}
                run.save_checkpoint({**state, "position": position}, name)

    best = BestCheckpoint(trainer.method.selection(), save, kept)  # e.g. a fine-tune's best held-out accuracy
    if pos.step == 0 and not run.has_checkpoint(run.INIT_CHECKPOINT):
        save(run.INIT_CHECKPOINT)  # the weights it starts from: the untrained baseline of eval and Explore
    if main and pos.step == 0 and monitor.enabled and not run.untrained_path.is_file():
        # one monitor pass, ~1 s, whose cost is what the schedule expects of the next ones; the share bounds the
        # recurring passes, so this one-off reference is not charged to it (else short runs got hardly any points)
        with overheads.measure("monitor", clock, shared=False):
            untrained = epoch_metrics(trainer.method, data, trainer.spec, config, device)
        run.save_json(UNTRAINED_FILE, {"step": 0, **untrained})  # the plots' "untrained" reference level
        trainer.method.train()
    if main and pos.step == 0 and best.enabled:
        best.update(read_json_object(run.untrained_path) or {}, 0)  # the start itself may be the best

    # ---- loop --------------------------------------------------------------------------------------------------
    if main:
        run.begin_metrics(resume_step=pos.step)
        run.trim_epochs(last_kept=pos.epoch)
        run.set_status("running", step=pos.step)
    checkpoints = CheckpointPolicy(config.train, save, pos.time_s)
    out_of_time = budget is not None and pos.time_s >= budget
    loss: float | None = None
    epoch_losses: list[float] = []
    status = "finished"
    trainer.method.train()
    try:
        while pos.step < total_steps and not out_of_time and not best.stop_now(device):
            order = _epoch_order(n_images, config.train.seed, pos.epoch)
            while pos.epoch_step < steps_per_epoch and pos.step < total_steps:
                if world == 1 and wait_while_paused(reporter, clock):  # pausing is the app's, on one process
                    raise Cancelled
                started = timing.now()
                start = pos.epoch_step * batch_size + rank * local_batch  # this process's slice of the batch
                indices = order[start : start + local_batch]  # dataset rows of this process's slice
                batch = pool[indices.to(pool.device)].to(device, non_blocking=True)
                progress = max((pos.step + 1) / total_steps, pos.time_s / budget if budget else 0.0)
                views = trainer.views(batch, pos.step, rank * local_batch, batch_size, indices)
                result = trainer.step(views, progress, pos.step)
                step_s = timing.now() - started
                images_per_s = batch_size / max(step_s, 1e-9)
                # a process's first step also does one-off work (the precision check, torch.compile, warm-up),
                # so it is not taken as what the next step will cost
                typical_s = step_s if pos.step > clock.start_step else 0.0
                stop, elapsed = _agree(reporter.should_stop(), clock.elapsed(), typical_s, overheads, device)
                pos.step, pos.epoch_step, pos.time_s = pos.step + 1, pos.epoch_step + 1, elapsed
                out_of_time = not overheads.fits(elapsed, "step")  # another step would not end within the budget
                last = out_of_time or pos.step >= total_steps
                loss = result.loss
                epoch_losses.append(loss)
                _log_step(run, reporter, result, pos, clock, total_steps, images_per_s, main, last)
                if not last and previewer.due(pos.time_s) and overheads.allows(pos.time_s, "preview"):
                    with overheads.measure("preview", clock):
                        previewer.maybe(pos.epoch + 1, pos.time_s)
                checkpoints.after_step(pos.time_s)
                if stop:
                    raise Cancelled
                if out_of_time:
                    break
            if pos.epoch_step >= steps_per_epoch:  # a whole epoch is done
                last = out_of_time or pos.step >= total_steps  # the final weights are always measured
                due = monitor.due(pos.epoch) and overheads.allows(pos.time_s, "monitor")
                measure = monitor.enabled and (last or due)
                with overheads.measure("monitor", clock, active=measure):
                    best.update(monitor.end_epoch(pos.epoch, pos.step, epoch_losses, pos.time_s, measure), pos.step)
                pos.epoch, pos.epoch_step, epoch_losses = pos.epoch + 1, 0, []
                checkpoints.after_epoch(pos.epoch, clock.elapsed())
        message = f"time budget of {budget:g} s reached" if out_of_time else f"finished {pos.step} steps"
        message = best.stop_message(pos.step) if best.stopped else "; ".join(filter(None, [message, best.message()]))
    except Cancelled:
        status, message = "stopped", f"stopped by the user at step {pos.step}; resume to continue"
    except (TrainingError, torch.OutOfMemoryError) as exc:
        pos.time_s = clock.elapsed()
        text = str(exc) if isinstance(exc, TrainingError) else _out_of_memory_message(config, device, pos, batch_size)
        if isinstance(exc, TrainingError):
            checkpoints.now(pos.time_s)  # the weights are from before the bad step, so the run stays resumable
        if main:
            run.set_status("failed", step=pos.step, message=text)
        run.close()
        raise TrainingError(text) from None
    if status == "finished" and pos.epoch_step > 0 and monitor.enabled:
        # it ended inside an epoch: that epoch's row so far, for the final weights (a resume trims it)
        best.update(monitor.end_epoch(pos.epoch, pos.step, epoch_losses, pos.time_s, measure=True), pos.step)
    previewer.maybe(max(pos.epoch + (pos.epoch_step > 0), 1), clock.elapsed(), force=True)  # the final weights
    checkpoints.now(clock.elapsed())
    pos.time_s = clock.elapsed()  # all of it, the final monitor pass, preview and checkpoint included
    if main:
        run.set_status(status, step=pos.step, message=message, loss=loss, time_s=pos.time_s, **best.summary())
    run.close()
    reporter.message(f"Run {status}: {message}.")
    return FitResult(run.path, status, pos.step, pos.epoch, pos.time_s, loss, message, data)


# ---- helpers ------------------------------------------------------------------------------------------


def _write_run_files(
    run: RunDir | None, run_dir: str | Path, config: ExperimentConfig, data: ImageSet, main: bool, reporter: Reporter
) -> RunDir:
    """The run folder, created (with the images it starts with), or, resumed, its config updated (stop criteria may
    have been extended) and the images gone since the start said; then the scan report of the data it trains on.
    Only the main process writes; the others wait until it has."""
    if main:
        if run is None:
            run = RunDir.create(run_dir, config)
            record_start_images(run, data.report.root, data.report.paths)
        else:
            if gone := images_gone_message(run, data.report.root, data.report.paths):
                reporter.message(gone)
            run.save_config(config)
        run.save_json(SCAN_REPORT_FILE, data.report.to_dict())
    dist.barrier()
    return run if run is not None else RunDir(run_dir)


def _agree(
    stop: bool, elapsed_s: float, step_s: float, overheads: Overheads, device: torch.device
) -> tuple[bool, float]:
    """What every process decides on after a step: stop if any process was asked to (Ctrl+C, SIGTERM, the app's
    Stop); the training time and the step's time as the processes' means; and the main process's costs of the work
    it alone does (monitor, previews, checkpoints), so budgets, schedules, the monitor and checkpoints agree.
    Returns (stop, elapsed); `overheads` is updated in place."""
    world = dist.world_size()
    if world == 1:
        overheads.cost["step"] = step_s
        return stop, elapsed_s
    shared = overheads.shared() if dist.is_main_process() else [0.0] * len(overheads.shared())
    values = torch.tensor([float(stop), elapsed_s, step_s, *shared], dtype=torch.float64, device=device)
    total = dist.all_reduce_sum(values).tolist()
    overheads.cost["step"] = total[2] / world
    overheads.set_shared(total[3:])
    return total[0] > 0, total[1] / world


def _image_pool(data: ImageSet, device: torch.device) -> torch.Tensor:
    """The uint8 images batches are gathered from: on a GPU the whole cache when it is small (no host copies)."""
    on_device = device.type == "cuda" and data.images.nbytes <= GPU_CACHE_LIMIT_BYTES
    return data.images.to(device) if on_device else data.images


def _resume(run: RunDir, trainer: Trainer, device: torch.device, reporter: Reporter) -> tuple[_Position, dict | None]:
    """Where the run's last checkpoint is, and its `best` record (engine/checkpoints.py BestCheckpoint)."""
    if not run.has_checkpoint():
        reporter.message("The run has no checkpoint yet; starting it from the beginning.")
        return _Position(), None
    state = run.load_checkpoint(map_location=device)
    check_resume_config(ExperimentConfig.from_dict(state["config"]), trainer.config, run.path)
    trainer.load_state_dict(state)
    pos = _Position(**state["position"])
    reporter.message(f"Resuming at step {pos.step} (epoch {pos.epoch + 1}).")
    return pos, state.get("best")


def _log_step(
    run: RunDir,
    reporter: Reporter,
    result: StepResult,
    pos: _Position,
    clock: TrainClock,
    total_steps: int,
    images_per_s: float,
    main: bool,
    last: bool,
) -> None:
    """The step's row in metrics.csv (main process) and its report (CLI progress bar, GUI curves); `last`: the run's
    last step (its steps or its time budget end here), reported as done in full."""
    done = max(pos.step / total_steps, pos.time_s / clock.budget if clock.budget else 0.0)
    report = StepReport(
        step=pos.step,
        epoch=pos.epoch + 1,
        total_steps=total_steps if clock.budget is None else None,
        loss=result.loss,
        lr=result.lr,
        images_per_s=images_per_s,
        time_s=pos.time_s,
        eta_s=0.0 if last else clock.eta(pos.step, total_steps),
        values=result.values,
        progress=1.0 if last else min(done, 1.0),
    )
    if main:
        run.append_metrics(
            {
                "step": report.step,
                "epoch": report.epoch,
                "loss": report.loss,
                "lr": report.lr,
                "images_per_s": report.images_per_s,
                "time_s": report.time_s,
                **report.values,
            }
        )
    reporter.step(report)


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The epoch's shuffled order, a function of (seed, epoch) alone so a resumed run replays it exactly."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=generator)


def _out_of_memory_message(config: ExperimentConfig, device: torch.device, pos: _Position, batch_size: int) -> str:
    return (
        f"Out of memory on {device.type} at step {pos.step + 1} with batch size {batch_size} at "
        f"{output_size(config)} px; try a smaller batch size or image size."
    )


__all__ = ["FitResult", "fit", "load_data"]

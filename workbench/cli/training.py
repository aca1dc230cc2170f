"""`workbench train`: the config the flags describe (over --config or a resumed run's), then fit()."""

from __future__ import annotations

import argparse
import copy
import signal
from datetime import datetime
from pathlib import Path

from workbench.config import hyperparameters
from workbench.console import ConsoleReporter
from workbench.errors import ConfigError, WorkbenchError


def _build_config(args: argparse.Namespace, base=None):
    """The config the flags describe: over --config (else the defaults), or over `base` (a resumed run's config)."""
    from workbench.augment.spec import preset
    from workbench.config import ExperimentConfig, MethodConfig, load_config

    config = base if base is not None else load_config(args.config) if args.config else ExperimentConfig()
    if args.preset:
        config.augment = preset(args.preset)
    if args.method is not None and args.method != config.method.name:
        config.method = MethodConfig(name=args.method)  # another method: its own defaults, not the file's values
    if args.image_size is not None and (base is None or args.image_size != config.data.image_size):
        config.data.image_size = args.image_size
        config.augment.output_size = None  # views follow the training resolution
    for flag, section, field in (
        ("data", "data", "path"),
        ("method", "method", "name"),
        ("encoder", "model", "encoder"),
        ("lr", "optim", "lr"),
    ):
        if getattr(args, flag) is not None:
            setattr(getattr(config, section), field, getattr(args, flag))
    for name in hyperparameters():
        if getattr(args, name) is not None:
            setattr(config.method, name, getattr(args, name))
    _apply_stop_flags(config, args)
    if args.batch_size is not None:
        config.train.batch_size = args.batch_size
    if args.seed is not None:
        config.train.seed = args.seed
    if config.data.path:
        config.data.path = str(Path(config.data.path).expanduser().resolve())
    config.validate()
    return config


def _apply_stop_flags(config, args: argparse.Namespace) -> None:
    for flag, field in (
        ("epochs", "epochs"),
        ("max_steps", "max_steps"),
        ("time_budget", "time_budget_s"),
        ("monitor_share", "monitor_share"),
        ("device", "device"),
        ("precision", "precision"),
        ("compile", "compile"),
        ("workers", "workers"),
    ):
        if getattr(args, flag) is not None:
            setattr(config.train, field, getattr(args, flag))


def train(args: argparse.Namespace) -> int:
    import torch.distributed as torch_dist

    from workbench import dist
    from workbench.engine.fit import fit
    from workbench.engine.resume import check_resume_config
    from workbench.engine.runs import RunDir
    from workbench.methods import resolve_config
    from workbench.results.embeddings import embed_after_training

    if args.resume:
        if not args.out:
            raise ConfigError("--resume needs --out RUN_DIR, the run to continue.")
        # The flags (the original command's, typically) over the run's config, or with --config the config a new
        # run would get; refused only where a value differs from the run's.
        saved = RunDir.open(args.out).load_config()
        config = _build_config(args, base=None if args.config else copy.deepcopy(saved))
        check_resume_config(saved, resolve_config(config), args.out, labels=_flag_labels())
    else:
        config = _build_config(args)
        if args.out:
            RunDir.check_new(args.out)  # before the images are read: a taken --out is refused at once
    out = Path(args.out) if args.out else None
    if dist.launched_by_torchrun():
        from workbench.engine.devices import resolve_device

        dist.setup(resolve_device(config.train.device).type)
    # The default run folder is named from rank 0's clock; every process must train in the same one.
    out = dist.broadcast_object(out or Path("runs") / datetime.now().strftime("run-%Y%m%d-%H%M%S"))
    main = dist.is_main_process()
    reporter = ConsoleReporter(quiet=not main)
    handlers = {sig: signal.signal(sig, reporter.interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = fit(config, out, reporter=reporter, resume=args.resume)
        if result.status == "finished" and dist.world_size() == 1:  # the images it decoded: embedded for Explore
            embed_after_training(result.run_dir, result.images, reporter)
    except torch_dist.DistBackendError as exc:
        raise WorkbenchError(
            f"Another process of this job stopped ({_first_line(exc)}); the job ends here, and "
            f"`workbench train --out {out} --resume` continues it from its last checkpoint."
        ) from None
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        reporter.finish()
        dist.teardown()
    if main:
        loss = f"{result.loss:.4f}" if result.loss is not None else "n/a"
        print(
            f"run: {result.run_dir}  status: {result.status}  steps: {result.step}  loss: {loss}  "
            f"time: {result.time_s:.0f} s"
        )
    return 0


def _flag_labels() -> dict[str, str]:
    """Config fields -> the flag that sets them, for messages (a field without a flag keeps its dotted name)."""
    labels = {
        "data.path": "--data",
        "data.image_size": "--image-size",
        "model.encoder": "--encoder",
        "method.name": "--method",
        "optim.lr": "--lr",
        "train.batch_size": "--batch-size",
        "train.seed": "--seed",
        "train.epochs": "--epochs",
        "train.max_steps": "--max-steps",
        "train.time_budget_s": "--time-budget",
        "train.monitor_share": "--monitor-share",
        "train.device": "--device",
        "train.precision": "--precision",
        "train.compile": "--compile",
        "train.workers": "--workers",
    }
    return labels | {f"method.{name}": f"--{name.replace('_', '-')}" for name in hyperparameters()}


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]

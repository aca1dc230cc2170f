"""`workbench finetune` (a run's encoder + a head trained on a labels file, as a new run) and `workbench predict`
(a fine-tuned run's class and confidence for every image of a folder, as a CSV). Both are headless forms of the
app's few-label steps; the work is results/finetune.py and results/predict.py."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from workbench.console import ConsoleReporter
from workbench.errors import ConfigError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The `finetune` and `predict` sub-commands."""
    tune = sub.add_parser(
        "finetune",
        help="fine-tune a run's encoder with a classification head on a labels file (a new run)",
        description="Train RUN's encoder end to end with a linear head on the labelled images of labels.csv "
        "(columns path,label; paths relative to the image folder). The new run records its parent and a copy of "
        "the labels, and resumes like any run (--out RUN2 --resume).",
    )
    tune.add_argument("run", metavar="RUN", help="the self-supervised run to start from (with --resume: ignored)")
    tune.add_argument("--labels", metavar="FILE.csv", help="labels file (path,label[,source,time])")
    tune.add_argument("--out", metavar="RUN2", required=True, help="run folder to create (or, --resume, continue)")
    tune.add_argument("--data", metavar="DIR", help="image folder the labels' paths are in (default: RUN's)")
    stop = tune.add_mutually_exclusive_group()
    stop.add_argument("--steps", type=int, metavar="N", help="optimizer steps (default 300)")
    stop.add_argument("--time-budget", type=float, metavar="SECONDS", help="stop after this much training time")
    tune.add_argument("--lr", type=float, metavar="LR", help="the head's peak learning rate (default 1e-3)")
    tune.add_argument("--backbone-lr-scale", type=float, metavar="X", help="encoder lr / head lr (default 0.1)")
    tune.add_argument("--holdout", type=float, metavar="FRACTION", help="labels held out for accuracy (default 0.2)")
    tune.add_argument("--batch-size", type=int, metavar="N", help="default 64")
    tune.add_argument(
        "--patience",
        type=int,
        metavar="N",
        help="stop after N held-out measurements without a better accuracy (default 5; 0: never); the best weights "
        "are kept as checkpoint 'best', which predict and export use",
    )
    tune.add_argument(
        "--self-training",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also train on every image of the folder without a label, towards the start probe's predictions "
        "(default: on)",
    )
    tune.add_argument("--seed", type=int, metavar="N", help="the split's and the training's seed (default 0)")
    tune.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    tune.add_argument("--resume", action="store_true", help="continue the fine-tuned run in --out")

    pred = sub.add_parser("predict", help="a fine-tuned run's class and confidence for every image of a folder")
    pred.add_argument("run", metavar="RUN2", help="a run made by `workbench finetune`")
    pred.add_argument("--data", metavar="DIR", required=True, help="image folder to classify")
    pred.add_argument("--out", metavar="FILE.csv", required=True, help="CSV: path,predicted,confidence,user_label")
    pred.add_argument("--labels", metavar="FILE.csv", help="labels file whose labels fill the user_label column")
    pred.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    pred.add_argument(
        "--checkpoint",
        choices=["best", "last"],
        help="the run's best held-out weights (default, when it kept them) or its last ones",
    )


def finetune_command(args: argparse.Namespace) -> int:
    from workbench.results.finetune import finetune

    for name, value in (("--steps", args.steps), ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}.")
    if args.patience is not None and args.patience < 0:
        raise ConfigError(f"--patience must be 0 (never stop early) or more, got {args.patience}.")
    if args.time_budget is not None and not args.time_budget > 0:
        raise ConfigError(f"--time-budget must be a positive number of seconds, got {args.time_budget}.")
    if not args.resume and not args.labels:
        raise ConfigError("`workbench finetune` needs --labels FILE.csv (columns path,label), or --resume.")
    options = {
        k: v
        for k, v in (
            ("lr", args.lr),
            ("batch_size", args.batch_size),
            ("backbone_lr_scale", args.backbone_lr_scale),
            ("holdout_fraction", args.holdout),
            ("seed", args.seed),
            ("patience", args.patience),
            ("self_training", args.self_training),
        )
        if v is not None
    }
    if args.resume and options:
        raise ConfigError(
            "A resumed fine-tune keeps its settings; only --steps, --time-budget and --device may change."
        )
    reporter = ConsoleReporter()
    handlers = {sig: signal.signal(sig, reporter.interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = finetune(
            args.run,
            args.labels,
            args.out,
            data=args.data,
            steps=args.steps,
            time_budget_s=args.time_budget,
            resume=args.resume,
            reporter=reporter,
            device=args.device,
            **options,
        )
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        reporter.finish()
    loss = f"{result.loss:.4f}" if result.loss is not None else "n/a"
    print(f"run: {result.run_dir}  status: {result.status}  steps: {result.step}  loss: {loss}")
    print(result.message)
    return 0


def predict_command(args: argparse.Namespace) -> int:
    from workbench.engine.runs import RunDir
    from workbench.results.predict import BEST, default_checkpoint, predict, save_predictions_csv

    if args.checkpoint == BEST and default_checkpoint(RunDir.open(args.run)) != BEST:
        raise ConfigError(
            f"Run '{args.run}' kept no best checkpoint (it had no held-out labels); use --checkpoint last."
        )
    user_labels = None
    if args.labels:
        from workbench.results.labels import read_labels

        given = read_labels(args.labels, args.data, min_classes=1)
        user_labels = {p: given.names[i] for p, i in zip(given.paths, given.ids.tolist(), strict=True)}
    reporter = ConsoleReporter()
    try:
        predictions = predict(args.run, args.data, device=args.device, reporter=reporter, checkpoint=args.checkpoint)
    finally:
        reporter.finish()
    path = save_predictions_csv(args.out, predictions, user_labels, image_root=Path(args.data).expanduser())
    print(f"{len(predictions)} predictions (checkpoint '{predictions.checkpoint}') written to {path}")
    return 0


__all__ = ["add_parsers", "finetune_command", "predict_command"]

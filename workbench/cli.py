"""Command line: `workbench [gui|train|embed|eval]`. Bad input gets one sentence and a non-zero exit."""

from __future__ import annotations

import argparse
import copy
import json
import os
import signal
import sys
from datetime import datetime
from pathlib import Path

from workbench import __version__
from workbench.config import hyperparameters
from workbench.console import ConsoleReporter
from workbench.errors import ConfigError, WorkbenchError

EXIT_USER_ERROR = 2
TORCHRUN_HELP = """\
several GPUs or machines (PyTorch's torchrun; the same flags or config, --batch-size is the global batch):
  one machine, N processes:
    torchrun --standalone --nproc_per_node=N -m workbench train --config config.json --out RUN_DIR
  M machines (run on each, R = 0..M-1; RUN_DIR on a filesystem all of them see):
    torchrun --nnodes=M --node_rank=R --nproc_per_node=N --rdzv_backend=c10d \\
        --rdzv_endpoint=HOST:29500 -m workbench train --config config.json --out RUN_DIR
  Slurm (in an sbatch script with --nodes=M --ntasks-per-node=1 --gpus-per-node=N):
    head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
    srun torchrun --nnodes="$SLURM_NNODES" --nproc_per_node=N --rdzv_id="$SLURM_JOB_ID" \\
        --rdzv_backend=c10d --rdzv_endpoint="$head:29500" -m workbench train --config config.json --out RUN_DIR
  continue a stopped or killed run, on any number of processes: the same line with --out RUN_DIR --resume
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description="Self-supervised learning on a folder of images.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command")

    gui = sub.add_parser("gui", help="open the desktop app (the default)")
    gui.add_argument("--data", metavar="DIR", help="image folder to open")

    train = sub.add_parser(
        "train",
        help="train an encoder on a folder of images",
        epilog=TORCHRUN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--data", metavar="DIR", help="image folder (default: the built-in demo dataset)")
    train.add_argument("--out", metavar="RUN_DIR", help="run folder to create (default: runs/run-DATE-TIME)")
    train.add_argument("--config", metavar="FILE", help="TOML or JSON config; flags override it")
    train.add_argument("--preset", metavar="NAME", help="augmentation preset: seed, simclr, byol, moco-v2, light")
    train.add_argument("--method", metavar="NAME", help="self-supervised method (see `workbench list`)")
    train.add_argument("--encoder", metavar="NAME", help="encoder (default: the method's; see `workbench list`)")
    train.add_argument("--image-size", type=int, metavar="PX", help="training resolution in pixels")
    train.add_argument("--batch-size", type=int, metavar="N")
    train.add_argument("--epochs", type=int, metavar="N")
    train.add_argument("--max-steps", type=int, metavar="N")
    train.add_argument("--time-budget", type=float, metavar="SECONDS", help="stop after this much training time")
    train.add_argument("--lr", type=float, metavar="LR", help="peak learning rate")
    train.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    train.add_argument("--workers", type=int, metavar="N", help="threads for decoding images")
    train.add_argument("--seed", type=int, metavar="N")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    hyper = train.add_argument_group(
        "method hyper-parameters", "each defaults to the method's own value; `workbench list` shows which apply"
    )
    for spec in hyperparameters().values():  # one flag per declared MethodConfig field, of its declared kind
        metavar = "N" if spec.kind is int else "X"
        hyper.add_argument(f"--{spec.name.replace('_', '-')}", type=spec.kind, metavar=metavar, help=spec.description)

    embed = sub.add_parser("embed", help="write the embeddings of a folder to an .npz file")
    embed.add_argument("run", metavar="RUN_DIR")
    embed.add_argument("--data", metavar="DIR", required=True)
    embed.add_argument("--out", metavar="FILE.npz", required=True)
    embed.add_argument("--umap", action="store_true", help="also compute a 2-D UMAP projection (saved as xy)")
    embed.add_argument(
        "--no-cache", action="store_true", help="compute afresh; neither read nor write RUN_DIR/embeddings/"
    )
    embed.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")

    evaluate = sub.add_parser("eval", help="kNN, linear probe and health of a trained run (JSON line)")
    evaluate.add_argument("run", metavar="RUN_DIR")
    evaluate.add_argument("--train", metavar="DIR", required=True, help="labelled folder: memory bank / probe fit")
    evaluate.add_argument("--test", metavar="DIR", required=True, help="labelled folder to score")
    evaluate.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")

    sub.add_parser("list", help="list encoders, methods and augmentation presets")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "gui"
    try:
        if command == "gui":
            return _gui(getattr(args, "data", None))
        if command == "list":
            return _list()
        if command == "train":
            return _train(args)
        if command == "embed":
            return _embed(args)
        if command == "eval":
            return _eval(args)
    except WorkbenchError as exc:
        rank = os.environ.get("RANK", "0")  # under torchrun every process may report; say which one
        print(f"error: {exc}" if rank == "0" else f"error (process {rank}): {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


def _gui(data: str | None) -> int:
    try:
        from workbench.gui.app import run_app
    except ImportError as exc:  # e.g. Qt's system libraries are missing (see README)
        raise WorkbenchError(f"The desktop app cannot start because Qt cannot be loaded ({exc}).") from None
    return run_app(data)


def _list() -> int:
    from workbench.catalogue import registry_catalogue

    catalogue, specs = registry_catalogue(), hyperparameters()
    print("encoders:")
    for encoder in catalogue.encoders:
        print(f"  {encoder.name:18s} {encoder.description}")
    print("methods (default encoder; hyper-parameters = defaults, each settable with --NAME):")
    for method in catalogue.methods:
        print(f"  {method.name:18s} {method.description}")
        hyper = ", ".join(f"{k}={specs[k].format(v)}" for k, v in method.hyperparameters.items())
        print(f"  {'':18s}   encoder: {method.default_encoder}; {hyper or 'no hyper-parameters'}")
    print("hyper-parameters (--NAME with '-' for '_'):")
    for spec in specs.values():
        print(f"  {spec.name:18s} {spec.kind.__name__:5s} {spec.description}")
    print("augmentation presets:", ", ".join(catalogue.presets))
    return 0


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
        ("device", "device"),
        ("workers", "workers"),
    ):
        if getattr(args, flag) is not None:
            setattr(config.train, field, getattr(args, flag))


def _train(args: argparse.Namespace) -> int:
    import torch.distributed as torch_dist

    from workbench import dist
    from workbench.engine.fit import fit
    from workbench.engine.resume import check_resume_config
    from workbench.engine.runs import RunDir
    from workbench.methods import resolve_config

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
        "train.device": "--device",
        "train.workers": "--workers",
    }
    return labels | {f"method.{name}": f"--{name.replace('_', '-')}" for name in hyperparameters()}


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _embed(args: argparse.Namespace) -> int:
    """The trained encoder's embeddings of --data (the Explore workspace's, from the same cache in RUN/embeddings/),
    and with --umap its default UMAP map, written as the embeddings file (results/export.py: save_embeddings_npz)."""
    from workbench.files import ensure_outside
    from workbench.results.embeddings import compute_embeddings
    from workbench.results.export import save_embeddings_npz

    out = Path(args.out).expanduser().resolve()
    if out.suffix.lower() != ".npz":
        raise ConfigError(f"--out must name an .npz file, got '{args.out}'.")
    data = Path(args.data).expanduser().resolve()
    ensure_outside(out, data, "--out")  # before any work
    use_cache = not args.no_cache
    reporter = ConsoleReporter()
    try:
        if args.umap:
            from workbench.analysis.project import warm_up_umap

            warm_up_umap()  # numba compiles (~20 s) while the images are read and embedded
        emb = compute_embeddings(args.run, data, "trained", device=args.device, reporter=reporter, use_cache=use_cache)
        xy = None
        if args.umap:
            from workbench.results.maps import UmapParams, umap_map

            xy = umap_map(emb, UmapParams(), reporter=reporter)  # Explore's default map, cached with the embeddings
    finally:
        reporter.finish()
    save_embeddings_npz(out, emb, xy)
    n, d = emb.features.shape
    print(f"wrote {out}: {n} embeddings of dimension {d}" + (" with UMAP" if args.umap else ""))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from workbench.results.evaluate import evaluate_run

    reporter = ConsoleReporter()
    try:
        result = evaluate_run(args.run, args.train, args.test, device=args.device, reporter=reporter)
    finally:
        reporter.finish()
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

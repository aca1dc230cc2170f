"""Command line: `workbench [gui|train|embed|eval|export|runs|list|finetune|predict|propagate|suggest|curate|scan]`.
Bad input gets one sentence and a non-zero exit.

This module parses and dispatches; training.py builds the config and trains, outputs.py embeds, evaluates,
exports and lists runs, finetune.py fine-tunes and predicts, labels.py propagates labels, suggests what to label
next and writes curated datasets, scan.py reports a folder and its data checks."""

from __future__ import annotations

import argparse
import os
import sys

from workbench import __version__
from workbench.cli import finetune as finetune_cli
from workbench.cli import labels as labels_cli
from workbench.cli.outputs import embed, evaluate, export, runs
from workbench.cli.scan import scan
from workbench.cli.training import _build_config, train
from workbench.config import hyperparameters
from workbench.errors import WorkbenchError

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
    train.add_argument(
        "--monitor-share",
        type=float,
        metavar="FRACTION",
        help="at most this fraction of the training time for the per-epoch health, kNN and previews (default 0.1; "
        "0: none, only the final weights' row)",
    )
    train.add_argument("--lr", type=float, metavar="LR", help="peak learning rate")
    train.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    train.add_argument(
        "--precision", choices=["auto", "fp32", "bf16", "fp16"], help="autocast (auto: bf16 where measured faster)"
    )
    train.add_argument("--compile", action=argparse.BooleanOptionalAction, help="torch.compile the model")
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
        "--projector", metavar="DIR", help="also write a folder for the TensorBoard Embedding Projector (see README)"
    )
    embed.add_argument("--parquet", metavar="FILE", help="also write the embeddings as a Parquet table (see README)")
    embed.add_argument(
        "--no-cache", action="store_true", help="compute afresh; neither read nor write RUN_DIR/embeddings/"
    )
    embed.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")

    evaluate = sub.add_parser("eval", help="kNN, linear probe and health of a trained run (JSON line)")
    evaluate.add_argument("run", metavar="RUN_DIR")
    evaluate.add_argument("--train", metavar="DIR", required=True, help="labelled folder: memory bank / probe fit")
    evaluate.add_argument("--test", metavar="DIR", required=True, help="labelled folder to score")
    evaluate.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")

    export = sub.add_parser(
        "export", help="write a run's encoder (a fine-tuned run's classifier too) for TorchScript, ONNX and torchvision"
    )
    export.add_argument("run", metavar="RUN_DIR")
    export.add_argument("--out", metavar="DIR", required=True, help="folder for the files (see docs/encoders.md)")
    export.add_argument(
        "--onnx", action="store_true", help="also write encoder.onnx (and classifier.onnx), for onnxruntime"
    )
    export.add_argument(
        "--torchvision", action="store_true", help="also the backbone under torchvision's names (resnets, vit-tiny)"
    )
    export.add_argument("--untrained", action="store_true", help="the weights the run started from")
    export.add_argument(
        "--checkpoint", choices=["best", "last"], help="a fine-tuned run's best held-out weights (default) or last"
    )

    runs = sub.add_parser("runs", help="list the runs as a table, or show how two runs' configs differ")
    runs.add_argument("--root", metavar="DIR", help="folder of runs (default: the app's, or $WORKBENCH_RUNS_DIR)")
    runs.add_argument("--compare", nargs=2, metavar=("A", "B"), help="two runs (folders, or names under --root)")

    sub.add_parser("list", help="list encoders, methods and augmentation presets")
    finetune_cli.add_parsers(sub)  # finetune, predict
    labels_cli.add_parsers(sub)  # propagate, suggest, curate

    scan = sub.add_parser("scan", help="report a folder's images and the model-free data checks (duplicates, ...)")
    scan.add_argument("data", metavar="DIR", help="image folder")
    scan.add_argument("--json", action="store_true", help="one JSON object: the scan report and the checks")
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
            return train(args)
        if command == "embed":
            return embed(args)
        if command == "eval":
            return evaluate(args)
        if command == "export":
            return export(args)
        if command == "runs":
            return runs(args)
        if command == "finetune":
            return finetune_cli.finetune_command(args)
        if command == "predict":
            return finetune_cli.predict_command(args)
        if command == "scan":
            return scan(args)
        if command == "propagate":
            return labels_cli.propagate(args)
        if command == "curate":
            return labels_cli.curate(args)
        if command == "suggest":
            return labels_cli.suggest(args)
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


__all__ = ["EXIT_USER_ERROR", "_build_config", "_parser", "main"]


if __name__ == "__main__":
    sys.exit(main())

"""Command line: `workbench [gui|train|embed|eval]`. Bad input gets one sentence and a non-zero exit."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

from workbench import __version__
from workbench.config import hyperparameters
from workbench.errors import ConfigError, WorkbenchError

EXIT_USER_ERROR = 2
STOP_FLAGS = ("epochs", "max_steps", "time_budget", "device", "workers")  # what --resume may change


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description="Self-supervised learning on a folder of images.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command")

    gui = sub.add_parser("gui", help="open the desktop app (the default)")
    gui.add_argument("--data", metavar="DIR", help="image folder to open")

    train = sub.add_parser("train", help="train an encoder on a folder of images")
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
        print(f"error: {exc}", file=sys.stderr)
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


def _build_config(args: argparse.Namespace):
    from workbench.augment.spec import preset
    from workbench.config import ExperimentConfig, MethodConfig, load_config

    config = load_config(args.config) if args.config else ExperimentConfig()
    if args.preset:
        config.augment = preset(args.preset)
    if args.method is not None and args.method != config.method.name:
        config.method = MethodConfig(name=args.method)  # another method: its own defaults, not the file's values
    if args.image_size is not None:
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
    from workbench.engine.fit import fit
    from workbench.engine.runs import RunDir

    if args.resume:
        if not args.out:
            raise ConfigError("--resume needs --out RUN_DIR, the run to continue.")
        changed = [
            f"--{k.replace('_', '-')}"
            for k, v in vars(args).items()
            if v is not None and k not in STOP_FLAGS + ("out", "resume", "command") and v is not False
        ]
        if changed:
            raise ConfigError(
                f"{', '.join(changed)} cannot change when resuming; only --epochs, --max-steps, "
                "--time-budget, --device and --workers can."
            )
        config = RunDir.open(args.out).load_config()
        _apply_stop_flags(config, args)
        config.validate()
        out = Path(args.out)
    else:
        config = _build_config(args)
        out = Path(args.out) if args.out else Path("runs") / datetime.now().strftime("run-%Y%m%d-%H%M%S")
    reporter = ConsoleReporter()
    previous = signal.signal(signal.SIGINT, reporter.interrupt)
    try:
        result = fit(config, out, reporter=reporter, resume=args.resume)
    finally:
        signal.signal(signal.SIGINT, previous)
        reporter.finish()
    loss = f"{result.loss:.4f}" if result.loss is not None else "n/a"
    print(
        f"run: {result.run_dir}  status: {result.status}  steps: {result.step}  loss: {loss}  "
        f"time: {result.time_s:.0f} s"
    )
    return 0


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


class ConsoleReporter:
    """Prints a one-line progress bar on a terminal (a line every 10 s otherwise); Ctrl+C asks for a clean stop."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.stop_requested = False
        self._last_print = 0.0
        self._open_line = False

    def interrupt(self, signum, frame) -> None:
        if self.stop_requested:  # a second Ctrl+C stops at once
            raise KeyboardInterrupt
        self.stop_requested = True
        self.message("Stopping after this step (Ctrl+C again to abort without saving) ...")

    def _print(self, text: str, transient: bool) -> None:
        if self.tty and transient:
            self.stream.write("\r\033[K" + text)
            self._open_line = True
        else:
            if self._open_line:
                self.stream.write("\n")
            self.stream.write(text + "\n")
            self._open_line = False
        self.stream.flush()

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._last_print >= (0.25 if self.tty else 10.0):
            self._last_print = now
            return True
        return False

    def message(self, text: str) -> None:
        self._print(text, transient=False)

    def progress(self, done: int, total: int) -> None:
        if self._due() or done == total:
            self._print(f"  {_bar(done / max(total, 1))} {done}/{total}", transient=True)

    def step(self, report) -> None:
        if not self._due():
            return
        total = f"/{report.total_steps}" if report.total_steps else ""
        frac = report.step / report.total_steps if report.total_steps else None
        eta = f" | ETA {_duration(report.eta_s)}" if report.eta_s is not None else ""
        bar = f"{_bar(frac)} " if frac is not None else ""
        self._print(
            f"  {bar}step {report.step}{total} | epoch {report.epoch} | loss {report.loss:.4f} | "
            f"lr {report.lr:.2e} | {report.images_per_s:.0f} img/s{eta}",
            transient=True,
        )

    def epoch(self, epoch: int, values: dict[str, float]) -> None:
        shown = " ".join(f"{k}={v:.4g}" for k, v in values.items())
        self._print(f"epoch {epoch}: {shown}", transient=False)

    def preview(self, epoch: int, image) -> None:
        pass  # the image is saved as preview.png in the run folder; a terminal shows nothing

    def should_stop(self) -> bool:
        return self.stop_requested

    def paused(self) -> bool:
        return False

    def finish(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False


def _bar(fraction: float | None, width: int = 20) -> str:
    filled = int(round(width * min(max(fraction or 0.0, 0.0), 1.0)))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


if __name__ == "__main__":
    sys.exit(main())

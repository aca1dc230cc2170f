"""`workbench embed | eval | export | runs`: what a user takes from a trained run, from the terminal."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workbench.console import ConsoleReporter
from workbench.errors import ConfigError


def embed(args: argparse.Namespace) -> int:
    """The trained encoder's embeddings of --data (the Explore workspace's, from the same cache in RUN/embeddings/),
    and with --umap its default UMAP map, written as the embeddings file (results/export.py: save_embeddings_npz)."""
    from workbench.files import ensure_outside
    from workbench.results.embeddings import compute_embeddings
    from workbench.results.export import embeddings_file, save_embeddings_npz

    out = Path(args.out).expanduser().resolve()
    if out.suffix.lower() != ".npz":
        raise ConfigError(f"--out must name an .npz file, got '{args.out}'.")
    data = Path(args.data).expanduser().resolve()
    ensure_outside(out, data, "--out")  # before any work
    projector = ensure_outside(args.projector, data, "--projector") if args.projector else None
    parquet = ensure_outside(args.parquet, data, "--parquet") if args.parquet else None
    if parquet is not None:
        from workbench.results.tables import PARQUET_MISSING, parquet_available

        if not parquet_available():
            raise ConfigError(PARQUET_MISSING)
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
    if parquet is not None or projector is not None:
        _embed_extras(embeddings_file(emb, xy), emb.root, parquet, projector)
    return 0


def _embed_extras(embeddings, image_root: Path, parquet: Path | None, projector: Path | None) -> None:
    """embed's --parquet table and --projector folder (results/tables.py, results/projector.py)."""
    if parquet is not None:
        from workbench.results.tables import save_embeddings_parquet

        print(f"wrote {save_embeddings_parquet(parquet, embeddings, image_root)}")
    if projector is not None:
        from workbench.results.projector import save_projector

        reporter = ConsoleReporter()
        try:
            files = save_projector(projector, embeddings, image_root=image_root, reporter=reporter)
        finally:
            reporter.finish()
        print(f"wrote {files.folder} for the Embedding Projector: tensorboard --logdir {files.folder}")


def export(args: argparse.Namespace) -> int:
    """The run's encoder as files other tools load (results/export.py: export_encoder; docs/encoders.md)."""
    from workbench.engine.runs import RunDir
    from workbench.results.export import export_encoder

    run = RunDir.open(args.run)
    config = run.load_config()
    image_root = Path(config.data.path).expanduser() if config.data.path else None  # never write inside it
    checkpoint = _export_checkpoint(run, config, getattr(args, "checkpoint", None))
    files = export_encoder(
        args.run,
        args.out,
        trained=not args.untrained,
        onnx=args.onnx,
        torchvision=args.torchvision,
        image_root=image_root,
        checkpoint=checkpoint,
    )
    if config.method.name == "classifier" and not args.untrained:  # a fine-tune: its head too (encoder + head)
        from workbench.results.classifier_export import export_classifier

        files |= export_classifier(args.run, args.out, onnx=args.onnx, image_root=image_root, checkpoint=checkpoint)
    for kind, path in files.items():
        print(f"{kind:12s} {path}")
    return 0


def _export_checkpoint(run, config, asked: str | None) -> str:
    """The checkpoint `export` writes: a fine-tune's best held-out weights when it kept them (results/predict.py
    default_checkpoint), else `last`; --checkpoint chooses."""
    from workbench.errors import ConfigError
    from workbench.results.predict import default_checkpoint

    if asked is None:
        return default_checkpoint(run) if config.method.name == "classifier" else "last"
    if not run.has_checkpoint(asked):
        raise ConfigError(f"Run '{run.path}' has no '{asked}' checkpoint; export --checkpoint last instead.")
    return asked


def evaluate(args: argparse.Namespace) -> int:
    from workbench.results.evaluate import evaluate_run

    reporter = ConsoleReporter()
    try:
        result = evaluate_run(args.run, args.train, args.test, device=args.device, reporter=reporter)
    finally:
        reporter.finish()
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))
    return 0


def runs(args: argparse.Namespace) -> int:
    """The runs list of the Train workspace as a table, or two runs' config differences (engine/run_table.py)."""
    from workbench.engine.run_table import compare_runs, default_runs_dir, list_runs_in, runs_table

    root = Path(args.root).expanduser() if args.root else default_runs_dir()
    if args.compare:
        print(compare_runs(*args.compare, root=root))
        return 0
    runs = list_runs_in(root)
    print(runs_table(runs) if runs else f"No runs in {root}.")
    return 0

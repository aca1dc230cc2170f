"""`workbench propagate | suggest | curate`: from a labels file to predictions for every image, to what to label
next, or to a curated dataset.

The labels file defaults to the run's own (RUN/labels.csv, what Explore saves); a hand-written one is checked first,
before any image is read, and a bad one is one sentence (results/labels.py: read_labels).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.errors import DataError

PROPAGATE_HELP = "predict a label and a confidence for every image from a few labelled ones (predictions CSV)"
CURATE_HELP = "write the labelled images as a new ImageFolder dataset (OUT/label/file) with a manifest"
LABELS_HELP = "CSV with columns path,label[,source,time]; paths relative to the image folder (default: RUN/labels.csv)"
SUGGEST_HELP = "rank the unlabelled images worth labelling next (uncertain, outlier or diverse)"
SUGGEST_BY = {
    "uncertain": "lowest margin between the two most probable classes of the propagated labels",
    "outlier": "highest outlier score (mean cosine distance to the 10 nearest neighbours)",
    "diverse": "k-center greedy: each image the farthest from every labelled or already suggested one",
}
PREDICTIONS_HELP = (
    "also write the images predicted in this CSV (path,predicted,confidence[,user_label], as `propagate` and "
    "`predict` write it) that no user labelled; a user's label wins where both exist; the manifest says which "
    "(label_source user|predicted, confidence)"
)
LINK_HELP = (
    "hard-link instead of copying where the file system allows it (no extra space; a link IS the original file, so "
    "editing one edits the other); copies elsewhere"
)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The two commands' parsers (called by cli/__init__.py)."""
    propagate = sub.add_parser("propagate", help=PROPAGATE_HELP, description=PROPAGATE_HELP + ".")
    propagate.add_argument("run", metavar="RUN_DIR")
    propagate.add_argument("--labels", metavar="FILE.csv", help=LABELS_HELP)
    propagate.add_argument("--data", metavar="DIR", help="image folder (default: the one the run trained on)")
    propagate.add_argument("--out", metavar="FILE.csv", required=True, help="predictions: path,predicted,confidence,"
                           "user_label")  # fmt: skip
    propagate.add_argument(
        "--method", choices=["probe", "knn"], default="probe", help="linear probe (default) or kNN on the embeddings"
    )
    propagate.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")

    suggest = sub.add_parser(
        "suggest",
        help=SUGGEST_HELP,
        description=SUGGEST_HELP + ". " + "; ".join(f"{k}: {v}" for k, v in SUGGEST_BY.items()) + ".",
    )
    suggest.add_argument("run", metavar="RUN_DIR")
    suggest.add_argument("--labels", metavar="FILE.csv", help=LABELS_HELP + "; optional for outlier and diverse")
    suggest.add_argument("--data", metavar="DIR", help="image folder (default: the one the run trained on)")
    suggest.add_argument("--by", choices=list(SUGGEST_BY), default="diverse", help="how to rank (default: diverse)")
    suggest.add_argument("--count", type=int, default=50, metavar="N", help="how many (default 50)")
    suggest.add_argument("--out", metavar="FILE.csv", help="write rank,path,score here (default: print them)")
    suggest.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")

    curate = sub.add_parser("curate", help=CURATE_HELP, description=CURATE_HELP + "; the source folder is only read.")
    curate.add_argument("run", metavar="RUN_DIR")
    curate.add_argument("--labels", metavar="FILE.csv", help=LABELS_HELP)
    curate.add_argument("--data", metavar="DIR", help="image folder (default: the one the run trained on)")
    curate.add_argument("--out", metavar="DIR", required=True, help="a new or empty folder outside the image folder")
    curate.add_argument("--link", action="store_true", help=LINK_HELP)
    curate.add_argument("--predictions", metavar="FILE.csv", help=PREDICTIONS_HELP)
    curate.add_argument(
        "--min-confidence",
        type=float,
        metavar="P",
        help="with --predictions: only predictions at least this confident (0 to 1; default 0, all)",
    )


def _folder_and_labels(args: argparse.Namespace, min_classes: int, required: bool = True):
    """(run, image folder, the checked labels); with required=False, labels None when the run has none."""
    from workbench.engine.runs import RunDir
    from workbench.results.embeddings import default_folder
    from workbench.results.labels import read_labels

    run = RunDir.open(args.run)
    data = Path(args.data).expanduser() if args.data else default_folder(run.path)
    if not data.is_dir():
        raise DataError(f"Image folder '{data}' does not exist.")
    path = Path(args.labels).expanduser() if args.labels else run.labels_path
    if not args.labels and not path.is_file():
        if not required:
            return run, data.resolve(), None
        raise DataError(f"Run '{run.path}' has no labels yet ({path.name}); label images in Explore or pass --labels.")
    return run, data.resolve(), read_labels(path, data, min_classes=min_classes)


def propagate(args: argparse.Namespace) -> int:
    """Embed the folder with the run's trained encoder (cached as for Explore), fit the probe or kNN on the labelled
    images and write every image's prediction."""
    from workbench.analysis.fewshot import propagate as fit_and_predict
    from workbench.console import ConsoleReporter
    from workbench.files import ensure_outside
    from workbench.results.curate import write_predictions
    from workbench.results.embeddings import compute_embeddings

    run, data, labels = _folder_and_labels(args, min_classes=2)
    out = ensure_outside(args.out, data, "--out")  # before any work
    reporter = ConsoleReporter()
    try:
        emb = compute_embeddings(run.path, data, "trained", device=args.device, reporter=reporter)
    finally:
        reporter.finish()
    ids = labels.ids_for(emb.paths)
    if len(set(ids[ids >= 0].tolist())) < 2:
        raise DataError(
            f"Fewer than 2 labelled classes are left among the images that could be read in '{data}'; label more."
        )
    result = fit_and_predict(emb.features, ids, args.method, num_classes=len(labels.names))
    user = [labels.names[i] if i >= 0 else None for i in ids.tolist()]
    write_predictions(out, emb.paths, labels.names, result.predicted, result.confidence, user, image_root=data)
    print(
        f"wrote {out}: {len(emb)} predictions of {len(labels.names)} classes from {int((ids >= 0).sum())} labelled "
        f"images ({args.method}; mean confidence {float(result.confidence.mean()):.3f})"
    )
    return 0


def suggest(args: argparse.Namespace) -> int:
    """Rank the unlabelled images by the chosen criterion and print (or write) the first --count."""
    import csv
    import io

    import numpy as np

    from workbench.analysis import fewshot
    from workbench.console import ConsoleReporter
    from workbench.errors import ConfigError
    from workbench.files import atomic_write_text, ensure_outside
    from workbench.results.embeddings import compute_embeddings

    if args.count < 1:
        raise ConfigError(f"--count must be at least 1, got {args.count}.")
    uncertain = args.by == "uncertain"
    run, data, labels = _folder_and_labels(args, min_classes=2 if uncertain else 1, required=uncertain)
    out = ensure_outside(args.out, data, "--out") if args.out else None
    reporter = ConsoleReporter()
    try:
        emb = compute_embeddings(run.path, data, "trained", device=args.device, reporter=reporter)
        ids = labels.ids_for(emb.paths) if labels is not None else -np.ones(len(emb), np.int64)
        scores = None
        if uncertain:
            if len(set(ids[ids >= 0].tolist())) < 2:
                raise DataError(
                    f"Fewer than 2 labelled classes are left among the images that could be read in '{data}'."
                )
            result = fewshot.propagate(emb.features, ids, num_classes=len(labels.names))
            scores, rows = result.margin, fewshot.rank_uncertain(result.probabilities, ids, args.count)
        elif args.by == "outlier":
            from workbench.analysis.outliers import outliers_from_graph
            from workbench.results.neighbour_graph import neighbour_graph

            scores = outliers_from_graph(neighbour_graph(emb, 10, reporter)[1], 10)  # the graph Explore caches
            rows = fewshot.rank_outliers(scores, ids, args.count)
        else:
            rows = fewshot.k_center_greedy(emb.features, args.count, ids, should_stop=reporter.should_stop)
    finally:
        reporter.finish()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["rank", "path", "score"])
    for rank, row in enumerate(rows.tolist(), start=1):
        writer.writerow([rank, emb.paths[row], "" if scores is None else f"{float(scores[row]):.4f}"])
    if out is None:
        print(text.getvalue(), end="")
    else:
        atomic_write_text(out, text.getvalue())
        print(f"wrote {out}: {len(rows)} images to label next ({args.by})")
    return 0


def curate(args: argparse.Namespace) -> int:
    """Copy (or link) the labelled images (and, with --predictions, the confidently predicted ones) into OUT/label/
    with a manifest."""
    import csv

    from workbench.errors import ConfigError
    from workbench.results.curate import PREDICTED, USER, check_output_folder, curate_dataset, read_predictions

    threshold = args.min_confidence
    if threshold is not None and not args.predictions:
        raise ConfigError("--min-confidence chooses among predictions; give them with --predictions FILE.csv.")
    if threshold is not None and not 0 <= threshold <= 1:
        raise ConfigError(f"--min-confidence must be from 0 to 1, got {threshold}.")
    _, data, labels = _folder_and_labels(args, min_classes=1, required=not args.predictions)
    check_output_folder(args.out, data)
    predictions = read_predictions(args.predictions, data) if args.predictions else None  # before any image
    given = [] if labels is None else zip(labels.paths, labels.ids.tolist(), strict=True)
    items = [(p, labels.names[i]) for p, i in given]  # the user's labels (--labels, else the run's): they win
    result = curate_dataset(
        data, items, args.out, link=args.link, predictions=predictions, min_confidence=threshold or 0.0
    )
    how = f"{result.linked} linked, {result.copied} copied" if args.link else f"{result.copied} copied"
    with open(result.manifest, newline="", encoding="utf-8") as f:
        classes = len({row["label"] for row in csv.DictReader(f)})
    sources = ""
    if predictions is not None:
        at = f" at confidence >= {threshold:g}" if threshold else ""
        sources = f", {result.by_source.get(USER, 0)} user-labelled, {result.by_source.get(PREDICTED, 0)} predicted{at}"
    print(f"wrote {result.out}: {result.written} images in {classes} classes ({how}{sources}); {result.manifest.name}")
    for rel, reason in result.skipped:
        print(f"skipped {rel}: {reason}")
    return 0

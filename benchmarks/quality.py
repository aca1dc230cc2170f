"""Quality benchmark: train for a time budget on a labelled split, then kNN top-1 over the run's learning curve.

    python benchmarks/fashion_mnist.py /tmp/fm --train 10000 --test 2000
    python benchmarks/quality.py --data /tmp/fm --budget 240 --out /tmp/quality-run [any `workbench train` flags]

Trains with `workbench train` (snapshots every --every seconds), then scores every snapshot on DATA/test with
DATA/train as the kNN memory bank, plus the same encoder untrained and raw pixels. --representations all also scores
every representation the encoder offers (to choose the default). One JSON line per run.

--seeds 0,1 trains once per seed (in OUT/seed-K) and ends with a summary line: the initial weights' seed moves kNN by
0.7-1.2 points on the Fashion-MNIST split, more than most recipe changes, so compare recipes by their mean.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import torch

from workbench.analysis.embed import embed_images, prepared_pixels, raw_pixels
from workbench.analysis.knn import knn_top1
from workbench.analysis.probe import linear_probe_top1
from workbench.cli import main as cli_main
from workbench.config import ExperimentConfig, config_to_json, load_config
from workbench.data import load_images
from workbench.engine.runs import RunDir
from workbench.results.evaluate import _labels_against, load_encoder


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # --seed is a training flag
    )
    parser.add_argument("--data", required=True, type=Path, help="folder with train/ and test/ class folders")
    parser.add_argument("--budget", type=float, default=240.0, help="training time budget in seconds")
    parser.add_argument("--every", type=float, default=60.0, help="snapshot interval in seconds")
    parser.add_argument("--out", type=Path, help="run folder (default: a temporary folder)")
    parser.add_argument("--representations", default="config", help="'config' or 'all'")
    parser.add_argument("--seeds", help="comma-separated seeds: one run each, then a summary line (mean, spread)")
    args, train_flags = parser.parse_known_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="quality-")) / "run"
    if "--seed" in train_flags and args.seeds:
        sys.exit("give either --seed or --seeds")
    if not args.seeds:
        print(json.dumps(measure(args, train_flags, out)))
        return
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        results.append(measure(args, [*train_flags, "--seed", str(seed)], out / f"seed-{seed}"))
        print(json.dumps(results[-1]), flush=True)
    print(json.dumps(_summary(results)))


def measure(args: argparse.Namespace, train_flags: list[str], out: Path) -> dict:
    """Train one run into `out` with `workbench train` and score it; the result as a dict."""
    # The snapshot interval goes into the config the run is started with (a copy of --config if one is given).
    base = ExperimentConfig()
    if "--config" in train_flags:
        at = train_flags.index("--config")
        base = load_config(train_flags[at + 1])
        del train_flags[at : at + 2]
    base.train.snapshot_every_s = args.every or None
    out.parent.mkdir(parents=True, exist_ok=True)
    config_file = out.parent / f"{out.name}-config.json"
    config_file.write_text(config_to_json(base))
    flags = [
        "train",
        "--data",
        str(args.data / "train"),
        "--out",
        str(out),
        "--time-budget",
        str(args.budget),
        "--epochs",
        "100000",
        "--config",
        str(config_file),
        *train_flags,
    ]
    started = time.perf_counter()
    if cli_main(flags) != 0:
        sys.exit("training failed")
    wall = time.perf_counter() - started

    run = RunDir.open(out)
    config = run.load_config()
    train = load_images(args.data / "train", config.data.image_size)
    test = load_images(args.data / "test", config.data.image_size)
    test_labels = _labels_against(train, test)

    def score(checkpoint: str, trained: bool, rep: str) -> float:
        _, encoder = load_encoder(out, checkpoint=checkpoint, device="cpu", trained=trained)
        f_train = embed_images(encoder, train.images, config.augment, representation=rep)
        f_test = embed_images(encoder, test.images, config.augment, representation=rep)
        return knn_top1(f_train, train.labels, f_test, test_labels)

    _, probe_encoder = load_encoder(out, device="cpu")
    chosen = probe_encoder.resolve_representation(config.model.representation)
    reps = list(probe_encoder.representations) if args.representations == "all" else [chosen]
    snapshots = sorted((p.stem for p in run.checkpoints.glob("time-*.pt")), key=_seconds)
    curve = [{"time_s": _seconds(name), "knn_top1": round(score(name, True, chosen), 4)} for name in snapshots]
    status = run.status()
    result: dict = {
        "encoder": config.model.encoder,
        "method": config.method.name,
        "preset": config.augment.name,
        "image_size": config.data.image_size,
        "batch_size": config.train.batch_size,
        "seed": config.train.seed,
        "budget_s": args.budget,
        "steps": status.get("step"),
        "train_wall_s": round(wall, 1),
        "representation": chosen,
        "curve": curve,
        "threads": torch.get_num_threads(),
    }
    for rep in reps:
        key = "" if rep == chosen else f"_{rep}"
        result[f"knn_top1{key}"] = round(score("last", True, rep), 4)
        result[f"knn_top1_untrained{key}"] = round(score("last", False, rep), 4)
    train_pixels = prepared_pixels(train.images, config.augment)  # the fair baseline of `workbench eval`
    mean = train_pixels.mean(0)
    result["knn_top1_raw"] = round(
        knn_top1(train_pixels - mean, train.labels, raw_pixels(test.images, config.augment, mean), test_labels), 4
    )
    _, encoder = load_encoder(out, device="cpu")
    rep = chosen
    result["linear_top1"] = round(
        linear_probe_top1(
            embed_images(encoder, train.images, config.augment, representation=rep),
            train.labels,
            embed_images(encoder, test.images, config.augment, representation=rep),
            test_labels,
        ),
        4,
    )
    return result


def _summary(results: list[dict]) -> dict:
    """Per-score mean, min and max over the seeds' runs, for every score the runs share."""
    keys = [k for k in results[0] if k.startswith(("knn_top1", "linear_top1")) and all(k in r for r in results)]
    summary: dict = {"seeds": [r["seed"] for r in results], "steps": [r["steps"] for r in results]}
    for key in keys:
        values = [r[key] for r in results]
        summary[f"{key}_mean"] = round(sum(values) / len(values), 4)
        summary[f"{key}_min"], summary[f"{key}_max"] = min(values), max(values)
    return summary


def _seconds(name: str) -> float:
    match = re.search(r"(\d+)s$", name)
    return float(match.group(1)) if match else float("inf")


if __name__ == "__main__":
    main()

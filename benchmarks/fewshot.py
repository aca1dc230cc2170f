"""Few-label benchmark: what a self-supervised encoder buys when only a few images are labelled.

    python benchmarks/fashion_mnist.py /tmp/fm --train 10000 --test 2000
    python benchmarks/fewshot.py --data /tmp/fm --ssl-budget 240 --budget 60      # trains the SSL run first
    python benchmarks/fewshot.py --data /tmp/fm --run RUN --budget 60             # or uses a trained run

For each label regime (--per-class labelled images per class, and --fraction of the training folder, stratified;
drawn with --seed from DATA/train), test top-1 on DATA/test of
  (a) finetune:   the SSL encoder + a linear head, fine-tuned end to end (`workbench finetune`: one augmented view,
                  backbone at 0.1x the head's rate, self-training on the rest of DATA/train as by default) for
                  --budget seconds;
  (b) probe:      a linear probe (logistic regression) on the SSL encoder's frozen features of the labelled images;
  (c) scratch:    the same encoder from its untrained weights (the run's checkpoints/init.pt), trained the same way
                  for the same --budget (backbone at the head's rate: a random backbone has nothing to keep);
  (d) untrained_probe: the linear probe on the untrained encoder's features.
(a) and (c) get the same training budget; the probes (b) and (d) train no network (seconds of lbfgs).
The fine-tunes (a) and (c) run as a user's do: --holdout of the labels (default 0.2, the app's) held out, the
weights of the best held-out accuracy kept as checkpoint `best` and an early stop after --patience passes without
improvement; `finetune` / `scratch` are the test accuracy of the checkpoint a user gets (`best`, what predict and
export use), `*_last` that of the last weights, `*_best_step` where the best was (0: the linear-probe start) and
`*_steps` how many steps it trained. --holdout 0 trains on every label (no best: the last weights). The probes use
every label. --without-self-training adds `finetune_plain` and `scratch_plain`: (a) and (c) trained on the labelled
images alone. Prints one JSON line per regime.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from workbench.analysis.embed import embed_images
from workbench.analysis.probe import linear_probe_top1
from workbench.cli import main as cli_main
from workbench.data import ImageSet, load_images
from workbench.engine.devices import resolve_device
from workbench.engine.runs import RunDir
from workbench.results.evaluate import _labels_against, load_encoder
from workbench.results.finetune import DEFAULT_PATIENCE, finetune
from workbench.results.predict import predict


def choose_labels(labels: np.ndarray, per_class: int | None, fraction: float | None, seed: int) -> np.ndarray:
    """Sorted rows to label: `per_class` of every class, or `fraction` of each class (at least one), seeded."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in np.unique(labels[labels >= 0]):
        members = rng.permutation(np.flatnonzero(labels == c))
        k = per_class if per_class is not None else max(1, int(round(fraction * len(members))))
        rows.append(members[: min(k, len(members))])
    return np.sort(np.concatenate(rows))


def write_labels_csv(path: Path, train: ImageSet, rows: np.ndarray) -> Path:
    lines = ["path,label"] + [f"{train.paths[i]},{train.class_names[train.labels[i]]}" for i in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_accuracy(run: Path, test_root: Path, device: str, checkpoint: str | None = None) -> float:
    """Top-1 of the fine-tuned run on the test folder (its class = the image's first-level subfolder), by the
    checkpoint a user gets (None: `best` when kept) or `checkpoint`."""
    predictions = predict(run, test_root, device=device, checkpoint=checkpoint)
    truth = [p.split("/")[0] for p in predictions.paths]
    return float(np.mean([a == b for a, b in zip(truth, predictions.predicted, strict=True)]))


def probe_accuracy(run: Path, trained: bool, train: ImageSet, rows: np.ndarray, test: ImageSet, device: str) -> float:
    config, encoder = load_encoder(run, device=device, trained=trained)
    rep = config.model.representation
    f_train = embed_images(
        encoder, train.images[torch.as_tensor(rows)], config.augment, representation=rep, device=device
    )
    f_test = embed_images(encoder, test.images, config.augment, representation=rep, device=device)
    return linear_probe_top1(f_train, train.labels[rows], f_test, _labels_against(train, test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="folder with train/ and test/ class folders")
    parser.add_argument("--run", type=Path, help="a trained SSL run on DATA/train (default: train one)")
    parser.add_argument("--ssl-budget", type=float, default=240.0, help="seconds for the SSL run when --run is absent")
    parser.add_argument("--budget", type=float, default=60.0, help="training seconds of each fine-tune (a) and (c)")
    parser.add_argument("--steps", type=int, help="train each fine-tune this many steps instead of --budget seconds")
    parser.add_argument(
        "--without-self-training", action="store_true", help="also (a), (c) trained on the labelled images alone"
    )
    parser.add_argument("--per-class", type=int, default=10, help="labelled images per class (0: skip this regime)")
    parser.add_argument("--fraction", type=float, default=0.01, help="fraction labelled (0: skip this regime)")
    parser.add_argument("--holdout", type=float, default=0.2, help="labels held out to choose the best weights")
    parser.add_argument("--patience", type=int, default=DEFAULT_PATIENCE, help="early stop (0: never)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, help="the head's peak learning rate (default: finetune.DEFAULT_LR)")
    parser.add_argument("--backbone-scale", type=float, default=0.1, help="the encoder's rate relative to the head's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, help="work folder (default: a temporary folder)")
    args, train_flags = parser.parse_known_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="fewshot-"))
    work.mkdir(parents=True, exist_ok=True)
    run = args.run
    if run is None:
        run = work / "ssl"
        flags = ["train", "--data", str(args.data / "train"), "--out", str(run), "--time-budget", str(args.ssl_budget)]
        if cli_main([*flags, "--epochs", "100000", *train_flags]) != 0:
            sys.exit("SSL training failed")
    config = RunDir.open(run).load_config()
    train = load_images(args.data / "train", config.data.image_size, cache_dir=config.data.cache_dir)
    test = load_images(args.data / "test", config.data.image_size, cache_dir=config.data.cache_dir)
    device = str(resolve_device(args.device))
    regimes = []
    if args.per_class > 0:
        regimes.append((f"{args.per_class}/class", choose_labels(train.labels, args.per_class, None, args.seed)))
    if args.fraction > 0:
        regimes.append((f"{args.fraction:g} of train", choose_labels(train.labels, None, args.fraction, args.seed)))
    for name, rows in regimes:
        tag = name.replace("/", "-per-").replace(" ", "-")
        labels = write_labels_csv(work / f"labels-{tag}.csv", train, rows)
        result: dict = {"regime": name, "n_labels": int(len(rows)), "budget_s": args.budget, "seed": args.seed}
        common = {"data": args.data / "train", "holdout_fraction": args.holdout}
        common |= {"steps": args.steps} if args.steps else {"time_budget_s": args.budget}
        common |= {"patience": args.patience} | ({"lr": args.lr} if args.lr else {})
        common |= {"batch_size": args.batch_size, "seed": args.seed, "device": device}
        variants = [("finetune", "last", args.backbone_scale, True), ("scratch", "init", 1.0, True)]
        if args.without_self_training:
            variants += [("finetune_plain", "last", args.backbone_scale, False), ("scratch_plain", "init", 1.0, False)]
        for key, start, scale, self_training in variants:
            out = work / f"{key}-{tag}"
            started = time.perf_counter()
            fitted = finetune(
                run, labels, out, start=start, backbone_lr_scale=scale, self_training=self_training, **common
            )
            result[f"{key}_steps"] = fitted.step
            result[f"{key}_wall_s"] = round(time.perf_counter() - started, 1)
            result[key] = round(test_accuracy(out, args.data / "test", device), 4)  # best, when it kept one
            result[f"{key}_last"] = round(test_accuracy(out, args.data / "test", device, "last"), 4)
            result[f"{key}_best_step"] = RunDir.open(out).status().get("best_step")
        result["probe"] = round(probe_accuracy(run, True, train, rows, test, device), 4)
        result["untrained_probe"] = round(probe_accuracy(run, False, train, rows, test, device), 4)
        result["finetune_minus_scratch"] = round(result["finetune"] - result["scratch"], 4)
        result["probe_minus_scratch"] = round(result["probe"] - result["scratch"], 4)
        if args.without_self_training:
            result["plain_finetune_minus_plain_scratch"] = round(result["finetune_plain"] - result["scratch_plain"], 4)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

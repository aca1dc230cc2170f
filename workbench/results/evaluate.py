"""Using a trained run: rebuild its encoder (`load_encoder`) and evaluate it against baselines (`evaluate_run`).

`evaluate_run` reports, on the same images and features, the trained encoder, the same encoder untrained (the
weights the run started from, checkpoints/init.pt) and raw pixels (the encoder's input, centred), so a user sees what
training bought them. The test folder must share no image with the training folder. It decodes each labelled folder once
(load_data) and embeds it under both encoders; embedding one folder for use elsewhere (cached in the run folder) is
`workbench.results.embeddings.compute_embeddings`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.analysis.embed import embed_images, prepared_pixels, raw_pixels, view_pair_features
from workbench.analysis.health import alignment, effective_rank, normalized_std, uniformity
from workbench.analysis.knn import knn_top1
from workbench.analysis.probe import linear_probe_top1
from workbench.config import ExperimentConfig
from workbench.data import ImageSet
from workbench.engine.devices import resolve_device
from workbench.engine.fit import load_data
from workbench.engine.report import NullReporter, Reporter
from workbench.engine.runs import RunDir
from workbench.engine.trainer import build_method
from workbench.errors import DataError
from workbench.models import Encoder


def load_encoder(
    run_dir: str | Path, checkpoint: str = "last", device: str | torch.device = "cpu", trained: bool = True
) -> tuple[ExperimentConfig, Encoder]:
    """The run's encoder with its trained weights (or, trained=False, the weights it started from), in eval mode.

    Untrained is checkpoints/init.pt, written by fit() before the first step. A run made before init.pt existed is
    rebuilt from its seed, as Trainer does. The global random generator is left as it was either way.
    """
    run = RunDir.open(run_dir)
    config = run.load_config()
    name = checkpoint if trained else RunDir.INIT_CHECKPOINT
    state = run.load_checkpoint(name) if trained or run.has_checkpoint(name) else None
    if state is not None:
        config = ExperimentConfig.from_dict(state["config"])
    with torch.random.fork_rng(devices=[]):  # building draws initial weights; the caller's generator must not move
        if state is None:  # an untrained run from before init.pt: the same initialisation Trainer drew
            torch.manual_seed(config.train.seed)
        method = build_method(config)
    if state is not None:
        method.load_state_dict(state["model"])
    encoder = method.encoder.to(resolve_device(device) if isinstance(device, str) else device).eval()
    return config, encoder


def _labels_against(train: ImageSet, test: ImageSet) -> np.ndarray:
    """Test labels as indices into the training folder's class list (-1 for a class the training set lacks)."""
    index = {name: i for i, name in enumerate(train.class_names)}
    return np.array([index.get(test.class_names[c], -1) if c >= 0 else -1 for c in test.labels], dtype=np.int64)


def _file_hashes(root: Path, paths: list[str], sizes: set[int] | None = None) -> dict[str, str]:
    """{relative path: sha1 of the file's bytes}, only for files whose byte size is in `sizes` (None: all)."""
    out = {}
    for rel in paths:
        path = root / rel
        if sizes is None or path.stat().st_size in sizes:
            out[rel] = hashlib.sha1(path.read_bytes()).hexdigest()
    return out


def check_disjoint(train: ImageSet, test: ImageSet) -> None:
    """Raise DataError when the test folder is the training folder or holds a file whose bytes are in it: a score
    on images the encoder's memory bank or probe has seen is not a test score."""
    if train.root.resolve() == test.root.resolve():
        raise DataError(
            f"--train and --test are the same folder '{train.root}' (all {len(test)} images shared); test on "
            "images held out from training."
        )
    sizes = {(train.root / rel).stat().st_size for rel in train.paths}
    test_sizes = {(test.root / rel).stat().st_size for rel in test.paths}
    known = set(_file_hashes(train.root, train.paths, test_sizes).values())  # only same-size files can be equal
    shared = sum(h in known for h in _file_hashes(test.root, test.paths, sizes).values())
    if shared:
        raise DataError(
            f"The --test folder shares {shared} of its {len(test)} images with the --train folder (identical file "
            "contents); remove them from one folder so the test images are held out."
        )


def evaluate_run(
    run_dir: str | Path,
    train_dir: str | Path,
    test_dir: str | Path,
    *,
    device: str = "auto",
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """kNN (trained, untrained, raw pixels), linear probe and label-free health on the test folder.

    The folders must not share images (DataError). Untrained is the run's initial weights (checkpoints/init.pt);
    raw pixels are the encoder's input (resized, normalised) flattened and centred on the training folder's mean.
    """
    reporter = reporter or NullReporter()
    config, encoder = load_encoder(run_dir, device=device)
    _, untrained = load_encoder(run_dir, device=device, trained=False)
    train = load_data(config, reporter, train_dir)
    test = load_data(config, reporter, test_dir)
    for name, folder in (("--train", train), ("--test", test)):
        if not folder.has_labels:
            raise DataError(
                f"The {name} folder '{folder.root}' has no class subfolders, so accuracy cannot be "
                "measured; put each class's images in its own subfolder."
            )
    check_disjoint(train, test)
    test_labels = _labels_against(train, test)
    if (test_labels >= 0).sum() == 0:
        raise DataError("The --test folder shares no class subfolder names with the --train folder.")
    spec, rep = config.augment, encoder.resolve_representation(config.model.representation)
    dev = next(encoder.parameters()).device

    def features(model: Encoder, data: ImageSet) -> np.ndarray:
        reporter.message(f"Embedding {len(data)} images from {data.root} ...")
        return embed_images(
            model,
            data.images,
            spec,
            representation=rep,
            device=dev,
            progress=reporter.progress,
            should_stop=reporter.should_stop,
        )

    train_feats, test_feats = features(encoder, train), features(encoder, test)
    train_raw = prepared_pixels(train.images, spec)
    mean = train_raw.mean(axis=0)  # the training folder's mean image: the same centring for train and test
    result: dict[str, Any] = {
        "knn_top1": knn_top1(train_feats, train.labels, test_feats, test_labels),
        "knn_top1_untrained": knn_top1(
            features(untrained, train), train.labels, features(untrained, test), test_labels
        ),
        "knn_top1_raw": knn_top1(train_raw - mean, train.labels, raw_pixels(test.images, spec, mean), test_labels),
    }
    reporter.message("Fitting the linear probe ...")
    result["linear_top1"] = linear_probe_top1(train_feats, train.labels, test_feats, test_labels)
    z1, z2 = view_pair_features(encoder, test.images, spec, rep, config.train.seed, dev)
    result.update(
        alignment=alignment(z1, z2),
        uniformity=uniformity(test_feats),
        std=normalized_std(test_feats),
        effective_rank=effective_rank(test_feats),
        train_images=len(train),
        test_images=len(test),
        representation=rep,
        feature_dim=int(train_feats.shape[1]),
    )
    return result

"""Using a trained run: rebuild its encoder (`load_encoder`) and evaluate it against baselines (`evaluate_run`).

`evaluate_run` reports, on the same images and features, the trained encoder, the same encoder untrained (same
initialisation seed) and raw pixels, so a user sees what training bought them. It decodes each labelled folder once
(load_data) and embeds it under both encoders; embedding one folder for use elsewhere (cached in the run folder) is
`workbench.results.embeddings.compute_embeddings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.analysis.embed import embed_images, raw_pixels, view_pair_features
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
    """The run's encoder with its trained weights (or, trained=False, its initial weights), in eval mode."""
    run = RunDir.open(run_dir)
    config = run.load_config()
    state = run.load_checkpoint(checkpoint) if trained else None
    if state is not None:
        config = ExperimentConfig.from_dict(state["config"])
    torch.manual_seed(config.train.seed)  # the same initialisation the run started from
    method = build_method(config)
    if state is not None:
        method.load_state_dict(state["model"])
    encoder = method.encoder.to(resolve_device(device) if isinstance(device, str) else device).eval()
    return config, encoder


def _labels_against(train: ImageSet, test: ImageSet) -> np.ndarray:
    """Test labels as indices into the training folder's class list (-1 for a class the training set lacks)."""
    index = {name: i for i, name in enumerate(train.class_names)}
    return np.array([index.get(test.class_names[c], -1) if c >= 0 else -1 for c in test.labels], dtype=np.int64)


def evaluate_run(
    run_dir: str | Path,
    train_dir: str | Path,
    test_dir: str | Path,
    *,
    device: str = "auto",
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """kNN (trained, untrained, raw pixels), linear probe and label-free health on the test folder."""
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
    result: dict[str, Any] = {
        "knn_top1": knn_top1(train_feats, train.labels, test_feats, test_labels),
        "knn_top1_untrained": knn_top1(
            features(untrained, train), train.labels, features(untrained, test), test_labels
        ),
        "knn_top1_raw": knn_top1(raw_pixels(train.images), train.labels, raw_pixels(test.images), test_labels),
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

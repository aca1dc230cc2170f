"""Per-epoch health of the representation on a fixed subset of the training images.

Label-free: alignment of two augmented views, uniformity, std of normalised embeddings (collapse warning) and
effective rank. With labels: a kNN top-1 with half of the subset as memory bank and half as queries, logged as
`knn_top1_train_split`: both halves are training images, so it tracks progress, not accuracy on held-out images
(that is `workbench eval`). Runs logged before the rename call the column `knn_top1`.
"""

from __future__ import annotations

import torch

from workbench.analysis.embed import embed_images, view_pair_features
from workbench.analysis.health import alignment, health_metrics
from workbench.analysis.knn import knn_top1
from workbench.augment.spec import AugmentSpec
from workbench.config import ExperimentConfig
from workbench.data import ImageSet
from workbench.engine.report import Reporter
from workbench.engine.runs import RunDir
from workbench.methods import Method

KNN_TRAIN_SPLIT = "knn_top1_train_split"  # epochs.csv column; older runs: "knn_top1"
MONITOR_IMAGES = 1024  # small enough to cost about a second per epoch on a laptop CPU


def monitor_indices(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed + 12_345)
    return torch.randperm(n, generator=generator)[: min(n, MONITOR_IMAGES)]


@torch.no_grad()
def epoch_metrics(
    method: Method, data: ImageSet, spec: AugmentSpec, config: ExperimentConfig, device: torch.device
) -> dict[str, float]:
    encoder = method.encoder
    rep = config.model.representation
    idx = monitor_indices(len(data), config.train.seed)
    images = data.images[idx]
    clean = embed_images(encoder, images, spec, representation=rep, device=device)
    values = health_metrics(clean)
    values["alignment"] = alignment(*view_pair_features(encoder, images, spec, rep, config.train.seed, device))
    labels = data.labels[idx.numpy()]
    if data.has_labels and (labels >= 0).sum() >= 8:
        half = len(idx) // 2
        values[KNN_TRAIN_SPLIT] = knn_top1(clean[:half], labels[:half], clean[half:], labels[half:])
    return values


def end_epoch(
    run: RunDir,
    method: Method,
    data: ImageSet,
    spec: AugmentSpec,
    config: ExperimentConfig,
    device: torch.device,
    epoch: int,
    step: int,
    losses: list[float],
    elapsed_s: float,
    reporter: Reporter,
    main: bool,
) -> dict[str, float]:
    """fit()'s per-epoch row for the 0-based `epoch` just finished: mean loss plus label-free health (and kNN when
    labelled) on a fixed image subset; appended to epochs.csv and reported. Returns the values."""
    values: dict[str, float] = {"loss": sum(losses) / max(len(losses), 1)}
    every = config.train.monitor_every_epochs
    if main and every and (epoch + 1) % every == 0:  # the main process alone: the others would compute the same
        values.update(epoch_metrics(method, data, spec, config, device))
        method.train()
    if main:
        run.append_epoch({"epoch": epoch + 1, "step": step, "time_s": elapsed_s, **values})
    reporter.epoch(epoch + 1, values)
    return values

"""Per-epoch health of the representation on a fixed subset of the training images.

Label-free: alignment of two augmented views, uniformity, std of normalised embeddings (collapse warning) and
effective rank. With labels: a kNN top-1 with half of the subset as memory bank and half as queries.
"""

from __future__ import annotations

import torch

from workbench.analysis.embed import embed_images
from workbench.analysis.health import alignment, health_metrics
from workbench.analysis.knn import knn_top1
from workbench.augment.spec import AugmentSpec
from workbench.augment.views import make_views
from workbench.config import ExperimentConfig
from workbench.data import ImageSet
from workbench.engine.report import Reporter
from workbench.engine.runs import RunDir
from workbench.methods import Method
from workbench.models import Encoder

MONITOR_IMAGES = 1024  # small enough to cost about a second per epoch on a laptop CPU


def monitor_indices(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed + 12_345)
    return torch.randperm(n, generator=generator)[: min(n, MONITOR_IMAGES)]


@torch.no_grad()
def view_pair_features(
    encoder: Encoder,
    images: torch.Tensor,
    spec: AugmentSpec,
    representation: str,
    seed: int,
    device: torch.device,
    batch_size: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Representations (N, D) of two augmented views of each image, batched so large images fit in memory.
    The encoder is evaluated in eval mode (BatchNorm running statistics) and its mode restored afterwards."""
    if spec.n_views < 2:  # one-view methods (autoencoder, rotation, ...): alignment still compares two views
        spec = spec.with_views(2)
    was_training = encoder.training
    encoder.eval()
    z1, z2 = [], []
    try:
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].to(device)
            v1, v2 = make_views(spec, batch, seed + start)[:2]
            z1.append(encoder.represent(v1, representation).float().cpu())
            z2.append(encoder.represent(v2, representation).float().cpu())
    finally:
        encoder.train(was_training)
    return torch.cat(z1), torch.cat(z2)


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
        values["knn_top1"] = knn_top1(clean[:half], labels[:half], clean[half:], labels[half:])
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
    if every and (epoch + 1) % every == 0:
        values.update(epoch_metrics(method, data, spec, config, device))
        method.train()
    if main:
        run.append_epoch({"epoch": epoch + 1, "step": step, "time_s": elapsed_s, **values})
    reporter.epoch(epoch + 1, values)
    return values

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
from workbench.methods import Method

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
    was_training = encoder.training
    encoder.eval()
    v1, v2 = make_views(spec, images.to(device), config.train.seed)[:2]
    values["alignment"] = alignment(encoder.represent(v1, rep).float().cpu(), encoder.represent(v2, rep).float().cpu())
    encoder.train(was_training)
    labels = data.labels[idx.numpy()]
    if data.has_labels and (labels >= 0).sum() >= 8:
        half = len(idx) // 2
        values["knn_top1"] = knn_top1(clean[:half], labels[:half], clean[half:], labels[half:])
    return values

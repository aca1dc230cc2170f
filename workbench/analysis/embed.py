"""Frozen-encoder features of cached images (clean, or two augmented views each), and the raw-pixel baseline."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from workbench.augment.views import make_views
from workbench.errors import Cancelled

if TYPE_CHECKING:
    from workbench.augment.spec import AugmentSpec


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        dtype = getattr(images, "dtype", None)
        raise ValueError(f"images must be a uint8 tensor of shape (N, 3, H, W), got {shape} {dtype}.")


@torch.no_grad()
def embed_images(
    encoder: nn.Module,
    images: torch.Tensor,
    spec: AugmentSpec,
    *,
    representation: str = "final",
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Features of `images` under `encoder.represent(x, name=representation)`.

    images: uint8 (N, 3, S, S) CPU tensor, prepared (resized + normalised, no augmentation) with `spec`
    exactly as training does. Returns float32 (N, D) on the CPU.

    The encoder is put in eval() (BatchNorm running statistics, no dropout) and its previous mode is restored
    afterwards, even on error. `progress(done, total)` is called after each batch; `should_stop()` is polled
    before each batch and raises `Cancelled`.
    """
    from workbench.augment.views import prepare  # written alongside; imported late to keep analysis standalone

    _check_images(images)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    n = images.shape[0]
    was_training = encoder.training
    encoder.eval()
    try:
        chunks = []
        for start in range(0, n, batch_size):
            if should_stop is not None and should_stop():
                raise Cancelled("Embedding was cancelled.")
            batch = prepare(spec, images[start : start + batch_size]).to(device)
            z = encoder.represent(batch, name=representation)  # (B, D)
            chunks.append(z.detach().float().cpu().numpy())
            if progress is not None:
                progress(min(start + batch_size, n), n)
    finally:
        encoder.train(was_training)
    if not chunks:
        return np.zeros((0, encoder.representation_dim(representation)), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


@torch.no_grad()
def prepared_pixels(images: torch.Tensor, spec: AugmentSpec, batch_size: int = 256) -> np.ndarray:
    """The encoder's input, flattened: uint8 (N, 3, H, W) -> float32 (N, 3*S*S), resized and normalised with `spec`
    exactly as `embed_images` feeds the encoder (augment.views.prepare)."""
    from workbench.augment.views import prepare

    _check_images(images)
    chunks = [prepare(spec, images[i : i + batch_size]).flatten(1).numpy() for i in range(0, len(images), batch_size)]
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def raw_pixels(images: torch.Tensor, spec: AugmentSpec, mean: np.ndarray | None = None) -> np.ndarray:
    """The no-learning baseline: the encoder's input (`prepared_pixels`, float32 (N, 3*S*S)) minus `mean` (3*S*S,),
    the training images' mean; default: these images' own mean. Centred, a brightness shared by every image (a
    constant per channel) drops out, so kNN's cosine similarity compares what differs between images."""
    pixels = prepared_pixels(images, spec)
    if mean is None:
        mean = pixels.mean(axis=0) if len(pixels) else 0.0
    return (pixels - mean).astype(np.float32, copy=False)


@torch.no_grad()
def view_pair_features(
    encoder: nn.Module,
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

"""Autoencoder (seed article section 3.2.1; Hinton and Salakhutdinov 2006), with the denoising option of Vincent,
Larochelle, Bengio, Manzagol (2008), "Extracting and Composing Robust Features with Denoising Autoencoders".

The encoder maps an image to its features, a convolutional decoder maps them back to the image, and the loss is
the mean squared error against the clean (normalised) input. With `noise_std` > 0 the encoder sees the image plus
Gaussian noise and must still reconstruct the clean one, which forces features that capture the image's
structure rather than its pixels.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.config import MethodConfig
from workbench.methods.base import Method, StepOutput, register_method
from workbench.models import Encoder
from workbench.models.decoders import ConvDecoder, encoder_image_size

PREVIEW_IMAGES = 8  # images per preview row
PREVIEW_SEED = 0  # fixed noise in the preview, so successive previews compare the same corruption


@register_method
class Autoencoder(Method):
    name = "autoencoder"
    description = "Autoencoder: a decoder rebuilds the image from the encoder's features (noise_std > 0: denoising)."
    n_views = 1
    generative = True
    # noise_std: in the units of the normalised input (the `light` preset divides pixels in [0, 1] by 0.25, so 0.2
    # is 0.05 of the pixel range). 0 (a plain autoencoder) by default: on Fashion-MNIST (32 px, small-cnn, 2-4 min
    # on a CPU) noise gave no better kNN: 0.8015 (noise 0, 99 steps), 0.7925 (0.2, 82 steps), 0.7955 (0.5, 86 steps).
    hyperparameters: ClassVar[dict[str, Any]] = {"noise_std": 0.0}
    default_encoder = "small-cnn"

    def __init__(self, encoder: Encoder, config: MethodConfig) -> None:
        super().__init__(encoder, config)
        noise_std = float(config.noise_std)
        if not noise_std >= 0:
            raise ValueError(f"autoencoder noise_std must be >= 0, got {noise_std}.")
        self.noise_std = noise_std
        self.decoder = ConvDecoder(encoder.feature_dim, encoder_image_size(encoder))

    def corrupt(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """x + N(0, noise_std^2) per pixel (x itself when noise_std is 0)."""
        if self.noise_std == 0:
            return x
        if generator is not None:
            noise = torch.randn(x.shape, generator=generator).to(x.device)
        else:  # training: the step's own noise (resumes and any number of processes draw the same)
            noise = self.step_noise.randn(*x.shape, device=x.device)
        return x + self.noise_std * noise

    def reconstruct(self, x: Tensor) -> Tensor:
        """(B, 3, S, S) -> (B, 3, S, S): decoder(encoder(x))."""
        return self.decoder(self.encoder(x))

    def step(self, views: list[Tensor]) -> StepOutput:
        self.check_views(views)
        x = views[0]  # (B, 3, S, S), normalised
        recon = self.reconstruct(self.corrupt(x))
        loss = F.mse_loss(recon.float(), x.float())
        # Fraction of the batch's pixel variance left unexplained (1.0: no better than predicting the mean).
        rel_mse = loss.detach() / x.detach().float().var().clamp_min(1e-12)
        return StepOutput(loss, {"rel_mse": rel_mse})

    def preview(self, images: Tensor) -> list[Tensor]:
        """Rows: inputs, noisy inputs (when denoising), reconstructions; each (K, 3, S, S), K <= 8."""
        x = images[:PREVIEW_IMAGES]
        noisy = self.corrupt(x, torch.Generator().manual_seed(PREVIEW_SEED))
        rows = [x, noisy] if self.noise_std > 0 else [x]
        return [*rows, self.reconstruct(noisy)]

"""GAN (seed article section 3.2.1): DCGAN (Radford, Metz, Chintala 2016) whose discriminator's backbone is the
representation, as in the paper's section 5.1 (DCGAN discriminator features for classification).

The discriminator is `self.encoder` plus a linear head to one logit; the generator is DCGAN's stack of transposed
convolutions (BN, ReLU, tanh). Both train in ONE optimizer step with one backward, as the loop requires:

    d_loss = BCE(D(x), 1) + BCE(D(G(z).detach()), 0)       # gradient reaches D only (the fakes are detached)
    g_loss = BCE(D(G(z)), 1)  with D's parameters frozen    # non-saturating; gradient reaches G only
    loss = d_loss + g_loss

Freezing D (`requires_grad_(False)`) during the generator's forward through it keeps g_loss's gradient out of
the discriminator, so each network follows the gradient of its own loss, as with two optimizers (updated together
from the same batch, where DCGAN's code steps D and then G).

Learning rate: DCGAN used Adam at 2e-4 with beta1 = 0.5. The run's optimizer (AdamW, 2e-3 by default) is shared,
so `optimizer_groups` scales the learning rate of both networks by `LR_SCALE` = 0.25 (5e-4 at the default); the
shared optimizer keeps its betas (0.9, 0.999). Checked on Fashion-MNIST at 16 px (300 steps of 64 images): at 2e-3
the samples broke into colour artefacts with the discriminator saturating, at 2e-4 they were still blurry, at 5e-4
they showed recognisable garments.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from workbench import dist
from workbench.config import MethodConfig
from workbench.losses.gan import DCGANLoss
from workbench.methods.base import Method, StepOutput, register_method
from workbench.models import Encoder
from workbench.models.decoders import DCGANGenerator, encoder_image_size

LR_SCALE = 0.25  # of the run's learning rate, for both networks (see the module docstring)
PREVIEW_SAMPLES = 16  # two rows of eight, from a fixed noise saved in the checkpoint


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Temporarily set requires_grad=False on every parameter of `modules` that has it, then restore them."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@register_method
class GAN(Method):
    name = "gan"
    description = "GAN (DCGAN): a generator fakes images, the discriminator (the encoder) tells real from fake."
    n_views = 1
    generative = True
    hyperparameters: ClassVar[dict[str, Any]] = {"latent_dim": 100}  # DCGAN's 100-d uniform noise (here Gaussian)
    default_encoder = "small-cnn"

    def __init__(self, encoder: Encoder, config: MethodConfig) -> None:
        super().__init__(encoder, config)
        latent_dim = int(config.latent_dim)
        if latent_dim < 1:
            raise ValueError(f"gan latent_dim must be at least 1, got {latent_dim}.")
        self.latent_dim = latent_dim
        self.d_head = nn.Linear(encoder.feature_dim, 1)  # discriminator = encoder + d_head
        self.generator = DCGANGenerator(latent_dim, encoder_image_size(encoder))
        self.loss_fn = DCGANLoss()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("preview_noise", torch.randn(PREVIEW_SAMPLES, latent_dim, generator=g))
        # Per-channel range of the real (normalised) images seen so far: tanh's (-1, 1) maps onto it, so samples
        # live in the same space as the data whatever the augmentation's mean and std.
        self.register_buffer("image_low", torch.full((3,), -1.0))
        self.register_buffer("image_high", torch.full((3,), 1.0))
        self.register_buffer("range_seen", torch.tensor(False))

    def optimizer_groups(self) -> list[tuple[list[nn.Parameter], float]]:
        return [([p for p in self.parameters() if p.requires_grad], LR_SCALE)]

    @torch.no_grad()
    def _track_range(self, x: Tensor) -> None:
        low, high = x.float().amin(dim=(0, 2, 3)), x.float().amax(dim=(0, 2, 3))  # (3,) each
        low, high = dist.gather(low[None]).amin(0), dist.gather(high[None]).amax(0)  # over the global batch
        seen = self.range_seen
        self.image_low.copy_(torch.where(seen, torch.minimum(self.image_low, low), low))
        self.image_high.copy_(torch.where(seen, torch.maximum(self.image_high, high), high))
        self.range_seen.fill_(True)

    def discriminate(self, x: Tensor) -> Tensor:
        """The discriminator: images (B, 3, S, S) -> logits (B,) of "real"."""
        return self.d_head(self.encoder(x)).squeeze(1)

    def generate(self, z: Tensor) -> Tensor:
        """Noise (B, latent_dim) -> fake images (B, 3, S, S) in the normalised image space."""
        unit = (self.generator(z) + 1) / 2  # (B, 3, S, S) in (0, 1)
        low, high = self.image_low.view(1, 3, 1, 1), self.image_high.view(1, 3, 1, 1)
        return low + (high - low) * unit

    def losses(self, real: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """(d_loss, g_loss, values) for a batch of real images (B, 3, S, S)."""
        if self.training:
            self._track_range(real)
        z = self.step_noise.randn(real.shape[0], self.latent_dim, device=real.device)  # the step's own noise
        fake = self.generate(z)
        real_logits = self.discriminate(real)
        fake_logits = self.discriminate(fake.detach())
        d_loss = self.loss_fn.discriminator(real_logits, fake_logits)
        with frozen(self.encoder, self.d_head):
            g_loss = self.loss_fn.generator(self.discriminate(fake))
        values = {
            "d_loss": d_loss.detach(),
            "g_loss": g_loss.detach(),
            "d_real": torch.sigmoid(real_logits.detach().float()).mean(),  # D's belief that real images are real
            "d_fake": torch.sigmoid(fake_logits.detach().float()).mean(),  # ... and that fakes are real
        }
        return d_loss, g_loss, values

    def step(self, views: list[Tensor]) -> StepOutput:
        self.check_views(views)
        d_loss, g_loss, values = self.losses(views[0])
        return StepOutput(d_loss + g_loss, values)

    def preview(self, images: Tensor) -> list[Tensor]:
        """Two rows of eight samples from the fixed preview noise, each (8, 3, S, S)."""
        samples = self.generate(self.preview_noise)
        half = PREVIEW_SAMPLES // 2
        return [samples[:half], samples[half:]]

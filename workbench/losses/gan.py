"""The GAN losses of DCGAN: binary cross-entropy on the discriminator's logits, non-saturating for the generator.

Goodfellow et al. (2014), "Generative Adversarial Nets", eq. (1) and section 3 (the generator maximises
log D(G(z)) instead of minimising log(1 - D(G(z))), which saturates early in training); Radford, Metz, Chintala
(2016), "Unsupervised Representation Learning with Deep Convolutional GANs" (DCGAN), trained with these losses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DCGANLoss(nn.Module):
    """Logits (B,) or (B, 1) of the discriminator D -> the two scalar losses.

    - `discriminator(real_logits, fake_logits)` = -mean log D(x) - mean log(1 - D(G(z))), with D = sigmoid(logit):
      BCE-with-logits against 1 on real and 0 on fake images (the sum of the two means, as in DCGAN's code).
    - `generator(fake_logits)` = -mean log D(G(z)): BCE-with-logits of the fakes against 1 (non-saturating).

    Both are computed in float32 (BCE-with-logits is the numerically safe form of log sigmoid).
    A perfect discriminator drives the first to 0 and the second up; at D = 1/2 everywhere they are 2 log 2
    and log 2.
    """

    def discriminator(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        real, fake = real_logits.float().flatten(), fake_logits.float().flatten()
        return F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
            fake, torch.zeros_like(fake)
        )

    def generator(self, fake_logits: Tensor) -> Tensor:
        fake = fake_logits.float().flatten()
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))

    def forward(self, real_logits: Tensor, fake_logits: Tensor, fake_logits_for_g: Tensor) -> tuple[Tensor, Tensor]:
        """(d_loss, g_loss); `fake_logits` should come from detached fakes, `fake_logits_for_g` from the graph
        through the generator (with D's parameters frozen)."""
        return self.discriminator(real_logits, fake_logits), self.generator(fake_logits_for_g)

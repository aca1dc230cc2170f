"""DCGAN's losses against the formulas of Goodfellow et al. (2014) written out with sigmoid and log."""

from __future__ import annotations

import math

import pytest
import torch

from workbench.losses.gan import DCGANLoss


@pytest.mark.parametrize("batch", [1, 4, 17])
@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_losses_match_the_paper_formulas(batch: int, scale: float) -> None:
    g = torch.Generator().manual_seed(batch)
    real = torch.randn(batch, generator=g) * scale
    fake = torch.randn(batch, 1, generator=g) * scale  # (B, 1) is accepted too
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake.flatten())
    # max_D E log D(x) + E log(1 - D(G(z))), as a loss to minimise; the generator maximises log D(G(z)).
    expected_d = -torch.log(d_real).mean() - torch.log(1 - d_fake).mean()
    expected_g = -torch.log(d_fake).mean()
    loss = DCGANLoss()
    assert loss.discriminator(real, fake).item() == pytest.approx(expected_d.item(), rel=1e-5)
    assert loss.generator(fake).item() == pytest.approx(expected_g.item(), rel=1e-5)
    d, gen = loss(real, fake, fake)
    assert (d.item(), gen.item()) == pytest.approx((expected_d.item(), expected_g.item()), rel=1e-5)


def test_undecided_discriminator_gives_log_two() -> None:
    zeros = torch.zeros(8)
    loss = DCGANLoss()
    assert loss.discriminator(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    assert loss.generator(zeros).item() == pytest.approx(math.log(2))


def test_confident_logits_stay_finite() -> None:
    """Saturated sigmoids would give log(0) in the naive formula; the logits form stays finite and exact."""
    loss = DCGANLoss()
    big = torch.full((4,), 200.0)
    assert loss.discriminator(big, -big).item() == pytest.approx(0.0, abs=1e-6)
    assert loss.generator(-big).item() == pytest.approx(200.0, rel=1e-6)  # -log sigmoid(-200) = 200
    assert torch.isfinite(loss.discriminator(-big, big))

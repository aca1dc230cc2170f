"""The seed article's loss (section 5.4) against a direct float64 formula, plus stability checks."""

from __future__ import annotations

import math

import pytest
import torch

from workbench.losses import SeedContrastiveLoss


def seed_direct(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    """L = mean_i -log exp(sim(z1_i, z2_i)/tau) / sum_k exp(sim(z1_i, z2_k)/tau), sim = cosine (article 4.1.2)."""
    a = [v / v.norm() for v in z1.double()]
    c = [v / v.norm() for v in z2.double()]
    n = len(a)
    total = 0.0
    for i in range(n):
        denominator = sum(math.exp(float(a[i] @ c[k]) / tau) for k in range(n))
        total += -math.log(math.exp(float(a[i] @ c[i]) / tau) / denominator)
    return total / n


@pytest.mark.parametrize("n", [2, 3, 8])
@pytest.mark.parametrize("tau", [0.05, 0.1, 0.5, 1.0])
def test_matches_direct_formula(n: int, tau: float) -> None:
    g = torch.Generator().manual_seed(n * 100 + int(tau * 100))
    z1, z2 = torch.randn(n, 5, generator=g), torch.randn(n, 5, generator=g)
    assert SeedContrastiveLoss(tau)(z1, z2).item() == pytest.approx(seed_direct(z1, z2, tau), rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("n", [2, 3, 8])
def test_equal_embeddings_give_log_n(n: int) -> None:
    z = torch.full((n, 4), 3.0)
    assert SeedContrastiveLoss(0.1)(z, z.clone()).item() == pytest.approx(math.log(n), rel=1e-5)


def test_stable_where_the_seed_code_overflows() -> None:
    z1 = torch.randn(8, 16) * 1e4
    z2 = z1 + torch.randn(8, 16)
    # The seed's exp(z1 @ z2.T / tau) is inf here; the fixed loss stays finite with finite gradients.
    assert not torch.isfinite(torch.exp(z1 @ z2.T / 0.05)).all()
    z1.requires_grad_(True)
    loss = SeedContrastiveLoss(0.05)(z1, z2)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z1.grad).all()


def test_finite_under_bf16_autocast_and_fp16_inputs() -> None:
    w = torch.randn(16, 16, requires_grad=True)
    x1, x2 = torch.randn(8, 16) * 50, torch.randn(8, 16) * 50
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = SeedContrastiveLoss(0.05)(x1 @ w, x2 @ w)
    loss.backward()
    assert loss.dtype == torch.float32
    assert torch.isfinite(loss) and torch.isfinite(w.grad).all()
    assert torch.isfinite(SeedContrastiveLoss(0.05)((x1 * 100).half(), (x2 * 100).half()))


@pytest.mark.parametrize("tau", [0.0, -1.0])
def test_rejects_bad_temperature(tau: float) -> None:
    with pytest.raises(ValueError, match=str(tau)):
        SeedContrastiveLoss(tau)

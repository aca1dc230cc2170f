"""NT-Xent against a direct float64 transcription of SimCLR's eq. (1), plus stability checks."""

from __future__ import annotations

import math

import pytest
import torch

from workbench.losses import NTXentLoss


def ntxent_direct(z0: torch.Tensor, z1: torch.Tensor, tau: float) -> float:
    """Chen et al. 2020, Algorithm 1, with explicit loops: l(i, j) = -log exp(s_ij/tau) / sum_{k != i} exp(s_ik/tau)."""
    z = [v / v.norm() for v in torch.cat([z0, z1]).double()]
    n2 = len(z)
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        j = (i + n) % n2  # the other view of the same image
        sim = [float(z[i] @ z[k]) for k in range(n2)]
        denominator = sum(math.exp(sim[k] / tau) for k in range(n2) if k != i)
        total += -math.log(math.exp(sim[j] / tau) / denominator)
    return total / n2


@pytest.mark.parametrize("n", [2, 3, 8])
@pytest.mark.parametrize("tau", [0.05, 0.1, 0.5, 1.0])
def test_matches_direct_formula(n: int, tau: float) -> None:
    g = torch.Generator().manual_seed(n * 100 + int(tau * 100))
    z0, z1 = torch.randn(n, 5, generator=g), torch.randn(n, 5, generator=g)
    assert NTXentLoss(tau)(z0, z1).item() == pytest.approx(ntxent_direct(z0, z1, tau), rel=1e-5, abs=1e-5)


def test_symmetric_in_views() -> None:
    z0, z1 = torch.randn(6, 8), torch.randn(6, 8)
    loss = NTXentLoss(0.2)
    assert loss(z0, z1).item() == pytest.approx(loss(z1, z0).item(), rel=1e-6)


@pytest.mark.parametrize("n", [2, 3, 8])
def test_equal_embeddings_give_log_2n_minus_1(n: int) -> None:
    z = torch.ones(n, 4)
    assert NTXentLoss(0.1)(z, z.clone()).item() == pytest.approx(math.log(2 * n - 1), rel=1e-5)


def test_scale_invariant_and_perfect_pairs_give_low_loss() -> None:
    z0 = torch.eye(4)
    loss = NTXentLoss(0.05)
    # Rows are L2-normalised, so scaling does not change the loss.
    assert loss(z0, z0 * 7).item() == pytest.approx(loss(z0, z0).item(), rel=1e-6)
    assert loss(z0, z0).item() < 1e-3  # orthogonal images, identical views: near-perfect


def test_no_overflow_at_low_temperature_with_large_inputs() -> None:
    z0 = torch.randn(8, 16) * 1e4
    z1 = z0 + torch.randn(8, 16) * 1e3
    z0.requires_grad_(True)
    loss = NTXentLoss(0.05)(z0, z1)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(z0.grad).all()


def test_finite_under_bf16_autocast_and_fp16_inputs() -> None:
    w = torch.randn(16, 16, requires_grad=True)
    x0, x1 = torch.randn(8, 16) * 50, torch.randn(8, 16) * 50
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z0, z1 = x0 @ w, x1 @ w  # bf16 under autocast
        loss = NTXentLoss(0.05)(z0, z1)
    assert loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(w.grad).all()

    h0, h1 = (x0 * 100).half(), (x1 * 100).half()
    loss16 = NTXentLoss(0.05)(h0, h1)
    assert torch.isfinite(loss16)
    assert loss16.item() == pytest.approx(ntxent_direct(h0.float(), h1.float(), 0.05), rel=1e-4)


def test_gradient_is_finite_and_nonzero() -> None:
    z0 = torch.randn(4, 8, requires_grad=True)
    z1 = torch.randn(4, 8, requires_grad=True)
    NTXentLoss(0.5)(z0, z1).backward()
    for g in (z0.grad, z1.grad):
        assert torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.parametrize("tau", [0.0, -0.1, float("nan"), float("inf")])
def test_rejects_bad_temperature(tau: float) -> None:
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(tau)


def test_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        NTXentLoss()(torch.randn(4, 8), torch.randn(3, 8))

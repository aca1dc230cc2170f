"""Barlow Twins against a direct float64 transcription of the paper's eq. (1)-(2) and Algorithm 1."""

from __future__ import annotations

import math

import pytest
import torch

from workbench.losses import BarlowTwinsLoss


def barlow_direct(z1: torch.Tensor, z2: torch.Tensor, lam: float, eps: float = 1e-5) -> float:
    """C_ij = sum_b z1n[b, i] z2n[b, j] / N with z standardised per dimension over the batch (BatchNorm, biased
    variance); L = sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2."""
    n, d = z1.shape

    def standardise(z: torch.Tensor) -> list[list[float]]:
        cols = []
        for j in range(d):
            col = [float(z[b, j]) for b in range(n)]
            mean = sum(col) / n
            var = sum((x - mean) ** 2 for x in col) / n
            cols.append([(x - mean) / math.sqrt(var + eps) for x in col])
        return cols  # [dimension][batch]

    a, b = standardise(z1.double()), standardise(z2.double())
    loss = 0.0
    for i in range(d):
        for j in range(d):
            c = sum(a[i][k] * b[j][k] for k in range(n)) / n
            loss += (1 - c) ** 2 if i == j else lam * c**2
    return loss


@pytest.mark.parametrize("n", [2, 5, 16])
@pytest.mark.parametrize("lam", [0.0, 5e-3, 0.5])
def test_matches_direct_formula(n: int, lam: float) -> None:
    g = torch.Generator().manual_seed(n * 10 + int(lam * 1000))
    z1, z2 = torch.randn(n, 6, generator=g) * 3 + 1, torch.randn(n, 6, generator=g)
    assert BarlowTwinsLoss(lam)(z1, z2).item() == pytest.approx(barlow_direct(z1, z2, lam), rel=1e-4, abs=1e-4)


def test_terms_and_default_lambda() -> None:
    z1, z2 = torch.randn(32, 8), torch.randn(32, 8)
    loss = BarlowTwinsLoss()
    assert loss.lambda_param == 5e-3
    on_diag, off_diag = loss.terms(z1, z2)
    assert loss(z1, z2).item() == pytest.approx(on_diag.item() + 5e-3 * off_diag.item(), rel=1e-6)


def test_zero_for_identical_decorrelated_views() -> None:
    # Orthogonal columns with zero mean: the standardised cross-correlation is the identity.
    z = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    assert BarlowTwinsLoss(0.5)(z, z.clone()).item() == pytest.approx(0.0, abs=1e-4)


def test_finite_under_bf16_autocast_with_gradients() -> None:
    w = torch.randn(8, 16, requires_grad=True)
    x1, x2 = torch.randn(12, 8), torch.randn(12, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = BarlowTwinsLoss()(x1 @ w, x2 @ w)
    assert loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


@pytest.mark.parametrize("lam", [-1.0, float("nan"), float("inf")])
def test_rejects_bad_lambda(lam: float) -> None:
    with pytest.raises(ValueError, match="lambda_param"):
        BarlowTwinsLoss(lam)


def test_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        BarlowTwinsLoss()(torch.randn(4, 8), torch.randn(4, 7))
    with pytest.raises(ValueError, match="at least 2"):
        BarlowTwinsLoss()(torch.randn(1, 8), torch.randn(1, 8))

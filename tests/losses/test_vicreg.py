"""VICReg against a direct float64 transcription of the paper's eq. (1)-(6) (as in the authors' code)."""

from __future__ import annotations

import math

import pytest
import torch

from workbench.losses import VICRegLoss


def vicreg_direct(za: torch.Tensor, zb: torch.Tensor, lam: float, mu: float, nu: float, eps: float = 1e-4) -> float:
    n, d = za.shape
    a, b = za.double().tolist(), zb.double().tolist()
    # s: invariance, the mean squared difference over all N x D entries
    s = sum((a[k][j] - b[k][j]) ** 2 for k in range(n) for j in range(d)) / (n * d)

    def var_cov(z: list[list[float]]) -> tuple[float, float]:
        means = [sum(z[k][j] for k in range(n)) / n for j in range(d)]
        cov = [
            [sum((z[k][i] - means[i]) * (z[k][j] - means[j]) for k in range(n)) / (n - 1) for j in range(d)]
            for i in range(d)
        ]
        # v: hinge max(0, 1 - S) on S = sqrt(Var + eps), averaged over dimensions
        v = sum(max(0.0, 1 - math.sqrt(cov[j][j] + eps)) for j in range(d)) / d
        # c: squared off-diagonal covariances, divided by the dimension
        c = sum(cov[i][j] ** 2 for i in range(d) for j in range(d) if i != j) / d
        return v, c

    va, ca = var_cov(a)
    vb, cb = var_cov(b)
    return lam * s + mu * (va + vb) / 2 + nu * (ca + cb)


@pytest.mark.parametrize("n", [2, 5, 16])
@pytest.mark.parametrize("weights", [(25.0, 25.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)])
@pytest.mark.parametrize("scale", [0.1, 3.0])  # below and above the variance hinge
def test_matches_direct_formula(n: int, weights: tuple[float, float, float], scale: float) -> None:
    g = torch.Generator().manual_seed(n)
    za = torch.randn(n, 6, generator=g) * scale
    zb = za + 0.3 * torch.randn(n, 6, generator=g)
    expected = vicreg_direct(za, zb, *weights)
    assert VICRegLoss(*weights)(za, zb).item() == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_defaults_and_terms() -> None:
    loss = VICRegLoss()
    assert (loss.lambda_param, loss.mu_param, loss.nu_param, loss.eps) == (25.0, 25.0, 1.0, 1e-4)
    za, zb = torch.randn(16, 8), torch.randn(16, 8)
    s, v, c = loss.terms(za, zb)
    assert loss(za, zb).item() == pytest.approx(25 * s.item() + 25 * v.item() + c.item(), rel=1e-6)


def test_collapse_costs_the_full_variance_hinge() -> None:
    z = torch.ones(8, 4)  # every image the same embedding: std 0 in every dimension
    s, v, c = VICRegLoss().terms(z, z.clone())
    assert s.item() == 0 and c.item() == 0
    assert v.item() == pytest.approx(1 - math.sqrt(1e-4), rel=1e-6)


def test_gradient_finite_under_bf16_autocast() -> None:
    w = torch.randn(8, 16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = VICRegLoss()(torch.randn(12, 8) @ w, torch.randn(12, 8) @ w)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss) and torch.isfinite(w.grad).all()


def test_rejects_bad_weights_and_shapes() -> None:
    with pytest.raises(ValueError, match="mu_param"):
        VICRegLoss(mu_param=-1)
    with pytest.raises(ValueError, match="same shape"):
        VICRegLoss()(torch.randn(4, 8), torch.randn(5, 8))
    with pytest.raises(ValueError, match="at least 2"):
        VICRegLoss()(torch.randn(1, 8), torch.randn(1, 8))

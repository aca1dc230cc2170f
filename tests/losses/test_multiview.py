"""CMC's multi-view InfoNCE against a direct float64 transcription of the paper's full-graph loss."""

from __future__ import annotations

import math

import pytest
import torch

from workbench.losses import MultiViewInfoNCELoss, SeedContrastiveLoss


def cmc_direct(views: list[torch.Tensor], tau: float) -> float:
    """Mean over ordered pairs (i, j), i != j, of mean_n -log exp(s(z_i[n], z_j[n])/tau) / sum_m exp(s(z_i[n],
    z_j[m])/tau), with s the cosine similarity (CMC eq. (2)-(3); the seed article's 4.1.2 loss per pair)."""
    z = [[v / v.norm() for v in view.double()] for view in views]
    n_views, n = len(z), len(z[0])
    total, terms = 0.0, 0
    for i in range(n_views):
        for j in range(n_views):
            if i == j:
                continue
            for a in range(n):
                denominator = sum(math.exp(float(z[i][a] @ z[j][m]) / tau) for m in range(n))
                total += -math.log(math.exp(float(z[i][a] @ z[j][a]) / tau) / denominator)
                terms += 1
    return total / terms


@pytest.mark.parametrize("n_views", [2, 3, 4])
@pytest.mark.parametrize("n", [2, 5])
@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_matches_direct_formula(n_views: int, n: int, tau: float) -> None:
    g = torch.Generator().manual_seed(n_views * 10 + n)
    views = [torch.randn(n, 5, generator=g) for _ in range(n_views)]
    assert MultiViewInfoNCELoss(tau)(views).item() == pytest.approx(cmc_direct(views, tau), rel=1e-5, abs=1e-5)


def test_two_views_is_the_symmetrised_seed_loss() -> None:
    z1, z2 = torch.randn(6, 8), torch.randn(6, 8)
    seed = SeedContrastiveLoss(0.2)
    expected = 0.5 * (seed(z1, z2) + seed(z2, z1)).item()
    assert MultiViewInfoNCELoss(0.2)([z1, z2]).item() == pytest.approx(expected, rel=1e-6)


def test_equal_embeddings_give_log_n() -> None:
    z = torch.ones(5, 3)
    assert MultiViewInfoNCELoss(0.1)([z, z, z]).item() == pytest.approx(math.log(5), rel=1e-5)


def test_no_overflow_at_low_temperature() -> None:
    views = [torch.randn(8, 16, requires_grad=True) for _ in range(3)]
    loss = MultiViewInfoNCELoss(0.01)([v * 1e4 for v in views])
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(v.grad).all() for v in views)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2 views"):
        MultiViewInfoNCELoss()([torch.randn(4, 3)])
    with pytest.raises(ValueError, match="one shape"):
        MultiViewInfoNCELoss()([torch.randn(4, 3), torch.randn(5, 3)])
    with pytest.raises(ValueError, match="temperature"):
        MultiViewInfoNCELoss(0.0)

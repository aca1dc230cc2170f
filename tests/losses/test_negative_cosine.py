"""Negative cosine similarity (SimSiam's D) against its direct formula."""

from __future__ import annotations

import math

import pytest
import torch

from workbench.losses import NegativeCosineSimilarity


def ncs_direct(p: torch.Tensor, z: torch.Tensor) -> float:
    """SimSiam eq. (1): D(p, z) = -(p / ||p||) . (z / ||z||), averaged over the batch."""
    total = 0.0
    for a, b in zip(p.double(), z.double(), strict=True):
        total += -float(a @ b) / (math.sqrt(float(a @ a)) * math.sqrt(float(b @ b)))
    return total / len(p)


@pytest.mark.parametrize("n", [1, 3, 8])
def test_matches_direct_formula(n: int) -> None:
    g = torch.Generator().manual_seed(n)
    p, z = torch.randn(n, 7, generator=g), torch.randn(n, 7, generator=g)
    assert NegativeCosineSimilarity()(p, z).item() == pytest.approx(ncs_direct(p, z), rel=1e-6)


def test_range_and_scale_invariance() -> None:
    p = torch.randn(5, 4)
    loss = NegativeCosineSimilarity()
    assert loss(p, 3 * p).item() == pytest.approx(-1.0, abs=1e-6)
    assert loss(p, -p).item() == pytest.approx(1.0, abs=1e-6)


def test_stop_gradient_is_the_callers() -> None:
    p = torch.randn(4, 6, requires_grad=True)
    z = torch.randn(4, 6, requires_grad=True)
    NegativeCosineSimilarity()(p, z.detach()).backward()
    assert p.grad is not None and p.grad.abs().sum() > 0 and z.grad is None


def test_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        NegativeCosineSimilarity()(torch.randn(4, 8), torch.randn(4, 7))

import math

import numpy as np
import pytest
import torch

from workbench.analysis.health import alignment, effective_rank, health_metrics, normalized_std, uniformity


def sphere(n: int, d: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_alignment_is_zero_for_identical_views_and_scale_free():
    z = sphere(50, 8)
    assert alignment(z, z) == pytest.approx(0.0, abs=1e-6)
    assert alignment(z, 3 * z) == pytest.approx(0.0, abs=1e-6)  # views are L2-normalised first


def test_alignment_of_a_constructed_pair():
    # Orthogonal unit vectors are sqrt(2) apart; opposite ones 2 apart.
    z1 = np.array([[1.0, 0.0], [1.0, 0.0]])
    z2 = np.array([[0.0, 5.0], [-2.0, 0.0]])
    assert alignment(z1, z2) == pytest.approx((2 + 4) / 2)  # alpha=2: mean squared distance
    assert alignment(z1, z2, alpha=1) == pytest.approx((math.sqrt(2) + 2) / 2)


def test_uniformity_is_zero_for_collapse_and_negative_when_spread():
    collapsed = np.tile([[0.3, -1.0, 2.0]], (40, 1))
    assert uniformity(collapsed) == pytest.approx(0.0, abs=1e-6)
    spread = uniformity(sphere(400, 16))
    assert spread < -3.0
    # Two antipodal points: the one pair is 2 apart, so log exp(-t * 4) = -8 at t=2.
    assert uniformity(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(-8.0)


def test_uniformity_subsamples_large_inputs_consistently():
    z = sphere(3000, 8)
    full = uniformity(z)
    sampled = uniformity(z, max_samples=500)
    assert sampled == pytest.approx(full, abs=0.1)
    assert sampled == uniformity(z, max_samples=500)  # fixed seed: same subsample every call


def test_normalized_std_falls_to_zero_on_collapse():
    d = 64
    healthy = normalized_std(sphere(2000, d))
    assert healthy == pytest.approx(1 / math.sqrt(d), rel=0.05)
    assert normalized_std(np.tile(sphere(1, d), (100, 1))) == pytest.approx(0.0, abs=1e-6)


def test_effective_rank_counts_the_spread_directions():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(32, 3)))  # 3 orthonormal directions in 32-D
    rank3 = rng.normal(size=(2000, 3)) @ basis.T  # (2000, 32), isotropic within a 3-D subspace
    assert effective_rank(rank3) == pytest.approx(3.0, abs=0.1)
    assert effective_rank(np.eye(16)) == pytest.approx(16.0, rel=1e-3)
    assert effective_rank(np.eye(16)[:, :10].T) == pytest.approx(10.0, rel=1e-3)  # N < D takes the SVD path
    assert effective_rank(np.tile(sphere(1, 8), (50, 1))) == pytest.approx(1.0, abs=1e-3)


def test_health_metrics_accepts_torch_and_returns_floats():
    z1 = torch.from_numpy(sphere(100, 8))
    z2 = z1 + 0.01 * torch.randn(100, 8, generator=torch.Generator().manual_seed(0))
    both = health_metrics(z1, z2)
    assert set(both) == {"alignment", "uniformity", "std", "effective_rank"}
    assert all(isinstance(v, float) for v in both.values())
    assert both["alignment"] < 1e-3
    assert set(health_metrics(z1)) == {"uniformity", "std", "effective_rank"}


def test_bad_shapes_raise_value_errors():
    with pytest.raises(ValueError, match="same shape"):
        alignment(sphere(4, 3), sphere(5, 3))
    with pytest.raises(ValueError, match="at least 2 rows"):
        uniformity(sphere(1, 3))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        effective_rank(np.zeros(5))

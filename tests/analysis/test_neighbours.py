"""Cosine neighbours: one point's gallery and the all-points graph, against a brute-force formula."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analysis.neighbours import knn_graph, neighbours_of, normalize_rows
from workbench.errors import Cancelled


def _brute(x: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distance from row i to every other row, sorted (the definition, written out)."""
    dist = np.array([1 - x[i] @ x[j] / np.linalg.norm(x[i]) / np.linalg.norm(x[j]) for j in range(len(x))])
    dist[i] = np.inf
    order = np.argsort(dist, kind="stable")
    return order[:-1], dist[order[:-1]]


@pytest.fixture
def points() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)


def test_normalize_rows_makes_unit_rows_and_keeps_zero_rows_zero():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    unit = normalize_rows(x)
    np.testing.assert_allclose(unit, [[0.6, 0.8], [0.0, 0.0]])
    assert unit.dtype == np.float32
    with pytest.raises(ValueError, match="2-D"):
        normalize_rows(np.zeros(3))


@pytest.mark.parametrize("k", [1, 5, 49, 100])
def test_neighbours_of_a_row_match_brute_force_and_leave_the_row_out(points, k):
    unit = normalize_rows(points)
    idx, dist = neighbours_of(unit, 7, k)
    ref_idx, ref_dist = _brute(points, 7)
    assert 7 not in idx and len(idx) == min(k, 49)
    np.testing.assert_array_equal(idx, ref_idx[: len(idx)])
    np.testing.assert_allclose(dist, ref_dist[: len(idx)], atol=1e-5)
    assert np.all(np.diff(dist) >= 0)  # nearest first


def test_neighbours_of_a_vector_is_scale_free(points):
    unit = normalize_rows(points)
    a, da = neighbours_of(unit, points[3] * 10, 4)
    assert a[0] == 3 and da[0] == pytest.approx(0.0, abs=1e-6)  # a vector finds its own row first
    with pytest.raises(IndexError):
        neighbours_of(unit, 50, 3)
    with pytest.raises(ValueError, match="k must be"):
        neighbours_of(unit, 0, 0)


def test_knn_graph_matches_per_row_neighbours_across_batches(points):
    idx, dist = knn_graph(points, 5, batch_size=16)  # several batches, one partial
    unit = normalize_rows(points)
    for i in (0, 15, 16, 33, 49):
        ref_idx, ref_dist = neighbours_of(unit, i, 5)
        np.testing.assert_array_equal(idx[i], ref_idx)
        np.testing.assert_allclose(dist[i], ref_dist, atol=1e-5)
    assert not np.any(idx == np.arange(50)[:, None])  # never its own neighbour


def test_knn_graph_clips_k_reports_progress_and_cancels(points):
    idx, _ = knn_graph(points[:3], 10)
    assert idx.shape == (3, 2)
    assert knn_graph(points[:1], 3)[0].shape == (1, 0)
    seen = []
    knn_graph(points, 2, batch_size=20, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(20, 50), (40, 50), (50, 50)]
    with pytest.raises(Cancelled):
        knn_graph(points, 2, should_stop=lambda: True)

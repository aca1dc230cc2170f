"""The large-N UMAP plan (analysis/umap_scale.py): a precomputed graph, LARGE_EPOCHS epochs from a PCA start, and a
map that still separates what the graph separates."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analysis import umap_scale
from workbench.analysis.umap_scale import UmapPlan, pca_start, plan_umap


def _exact_graph(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force cosine k-NN of x, the row itself first (as umap counts it)."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    distances = 1 - unit @ unit.T
    np.fill_diagonal(distances, -1)  # the row itself first, whatever ties
    indices = np.argsort(distances, axis=1)[:, :k]
    return indices, np.maximum(np.take_along_axis(distances, indices, axis=1), 0).astype(np.float32)


def _three_clusters(n: int = 600, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    centres = rng.normal(size=(3, dim)) * 3
    return (centres[labels] + rng.normal(size=(n, dim))).astype(np.float32), labels


def test_a_large_graph_gets_the_pca_start_and_fewer_epochs_and_the_map_says_so():
    graph = (np.zeros((1_000_000, 15), np.int64), np.zeros((1_000_000, 15), np.float32))  # 16 with the row itself
    big = plan_umap(1_000_000, 15, graph)
    assert (big.strategy, big.init, big.n_epochs, big.seeded) == ("graph", "pca", umap_scale.LARGE_EPOCHS, False)
    epochs = umap_scale.LARGE_EPOCHS
    assert (
        big.sentence()
        == f"UMAP of 1,000,000 points on the precomputed neighbour graph, {epochs} epochs from a PCA start."
    )
    small = plan_umap(50_000, 15, (graph[0][:50_000], graph[1][:50_000]))
    assert (small.strategy, small.init, small.n_epochs, small.seeded) == ("graph", "spectral", None, True)
    assert small.sentence() == "UMAP of 50,000 points on the precomputed neighbour graph."
    assert plan_umap(1_000_000, 15).init == "spectral"  # the sample plan fits 100,000 rows: umap's own start
    restored = UmapPlan(**big.to_dict())  # what the layout cache keeps and umap_note reads back
    assert restored == big and UmapPlan("graph", 5, 5, 100, False).init == "spectral"  # older caches: no init field


def test_pca_start_is_the_centred_pca_of_the_unit_rows(tmp_path):
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(1)
    scales = np.r_[6.0, 3.0, np.full(18, 0.7)]  # two main axes well apart, so that a sample finds the same ones
    x = (rng.normal(size=(3000, 20)) * scales + 2).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    start = pca_start(mapped, sample_rows=3000)  # every row: the exact PCA
    assert start.shape == (3000, 2) and start.dtype == np.float32
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    reference = PCA(n_components=2, svd_solver="full").fit_transform(unit)
    for axis in range(2):  # the same axes up to sign, centred as PCA centres
        assert abs(np.corrcoef(start[:, axis], reference[:, axis])[0, 1]) > 0.9999
    np.testing.assert_allclose(start.mean(axis=0), 0, atol=1e-4)
    sampled = pca_start(x, sample_rows=500)  # axes from 500 evenly spread rows, applied to all 3000
    assert min(abs(np.corrcoef(sampled[:, a], reference[:, a])[0, 1]) for a in range(2)) > 0.99
    np.testing.assert_array_equal(sampled, pca_start(x, sample_rows=500))  # deterministic


@pytest.mark.slow
def test_the_large_plan_starts_from_pca_never_solves_the_spectral_problem_and_keeps_clusters_apart(monkeypatch):
    import umap.umap_

    from workbench.analysis import project

    x, labels = _three_clusters()
    monkeypatch.setattr(umap_scale, "LARGE_ROWS", 100)  # 600 rows count as large
    monkeypatch.setattr(umap.umap_, "spectral_layout", lambda *a, **k: pytest.fail("spectral start computed"))
    starts = []
    make_reducer = project.make_reducer
    monkeypatch.setattr(
        project, "make_reducer", lambda *a, **kw: starts.append(kw.get("init")) or make_reducer(*a, **kw)
    )
    xy, plan = umap_scale.umap_layout(x, n_neighbors=15, knn=_exact_graph(x, 16))
    assert (plan.strategy, plan.init, plan.n_epochs) == ("graph", "pca", umap_scale.LARGE_EPOCHS)
    np.testing.assert_array_equal(starts[0], pca_start(x))
    assert xy.shape == (600, 2) and np.isfinite(xy).all()
    centres = np.stack([xy[labels == c].mean(axis=0) for c in range(3)])
    nearest = np.linalg.norm(xy[:, None] - centres[None], axis=2).argmin(axis=1)
    assert (nearest == labels).all()  # each point nearest its own cluster's centre
    spread = max(np.linalg.norm(xy[labels == c] - centres[c], axis=1).mean() for c in range(3))
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2)[np.triu_indices(3, 1)]
    assert gaps.min() > 3 * spread  # the clusters are apart, not merely touching

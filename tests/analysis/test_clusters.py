"""k-means clusters: separated groups are recovered, numbered by size, deterministically."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analysis.clusters import kmeans_clusters


def _blobs(sizes: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    directions = np.eye(8)[: len(sizes)] * 10
    x = np.concatenate([d + rng.normal(size=(s, 8)) for d, s in zip(directions, sizes, strict=True)])
    truth = np.repeat(np.arange(len(sizes)), sizes)
    return x, truth


def test_recovers_separated_groups_numbered_by_size():
    x, truth = _blobs([10, 30, 20])
    labels = kmeans_clusters(x, 3)
    assert labels.dtype == np.int64 and labels.shape == (60,)
    # the largest group (truth 1) is cluster 0, then truth 2, then truth 0
    assert (labels[truth == 1] == 0).all() and (labels[truth == 2] == 1).all() and (labels[truth == 0] == 2).all()
    np.testing.assert_array_equal(labels, kmeans_clusters(x, 3))  # deterministic


def test_k_is_validated():
    x, _ = _blobs([5, 5])
    assert kmeans_clusters(x, 1).tolist() == [0] * 10
    with pytest.raises(ValueError, match="k must be between 1 and the number of points"):
        kmeans_clusters(x, 11)

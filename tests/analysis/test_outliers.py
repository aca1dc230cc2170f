"""Outlier score = mean cosine distance to the k nearest neighbours; a planted odd one out scores highest."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analysis.outliers import outlier_scores, score_bands


def test_outlier_score_is_the_mean_distance_to_the_k_nearest():
    x = np.array([[1.0, 0.0], [1.0, 0.1], [1.0, -0.1], [0.0, 1.0]])
    scores = outlier_scores(x, k=2)
    cos = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)  # noqa: E731
    for i in range(4):
        d = sorted(1 - cos(x[i], x[j]) for j in range(4) if j != i)
        assert scores[i] == pytest.approx(np.mean(d[:2]), abs=1e-6)
    assert np.argmax(scores) == 3


def test_a_planted_outlier_scores_highest_among_clusters():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 16)) * 5
    x = np.concatenate([c + rng.normal(size=(40, 16)) * 0.3 for c in centres])
    x = np.concatenate([x, rng.normal(size=(1, 16)) * 5])  # far from every cluster
    scores = outlier_scores(x, k=5)
    assert scores.shape == (121,) and scores.dtype == np.float32
    assert np.argmax(scores) == 120


def test_k_is_clipped_and_validated():
    assert outlier_scores(np.ones((1, 3))).tolist() == [0.0]
    assert outlier_scores(np.eye(3), k=10).tolist() == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="k must be"):
        outlier_scores(np.eye(3), k=0)


def test_score_bands_follow_the_percentiles():
    scores = np.arange(1000, dtype=float)
    bands, names = score_bands(scores)
    assert names[-1] == "top 1 %" and len(names) == 4
    assert np.bincount(bands).tolist() == [500, 400, 90, 10]
    assert bands[999] == 3 and bands[0] == 0
    assert score_bands(np.zeros(0))[0].size == 0

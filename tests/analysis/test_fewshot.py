"""analysis/fewshot.py against brute-force references: propagation, margins, rankings and k-center greedy."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analysis.fewshot import k_center_greedy, margins, propagate, rank_outliers, rank_uncertain
from workbench.errors import Cancelled


def _clusters(seed: int = 0, per: int = 40, d: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(d)[:3] * 10.0
    x = np.concatenate([c + rng.normal(0, 0.5, (per, d)) for c in centres]).astype(np.float32)
    return x, np.repeat(np.arange(3), per)


@pytest.mark.parametrize("method", ["probe", "knn"])
def test_two_labels_per_separable_cluster_predict_every_row(method):
    x, truth = _clusters()
    ids = np.full(len(x), -1)
    for c in range(3):
        ids[np.flatnonzero(truth == c)[:2]] = c
    out = propagate(x, ids, method, k=3)
    assert (out.predicted == truth).all()
    np.testing.assert_allclose(out.probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out.confidence, out.probabilities.max(axis=1))
    assert out.probabilities.shape == (len(x), 3)


def test_knn_probabilities_equal_a_brute_force_weighted_vote():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 5)).astype(np.float32)
    ids = np.full(30, -1)
    ids[:12] = rng.integers(0, 3, 12)
    ids[:3] = [0, 1, 2]
    k, t = 4, 0.5
    out = propagate(x, ids, "knn", k=k, temperature=t, num_classes=4)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    expected = np.zeros((30, 4))
    for i in range(30):
        sims = sorted(((float(unit[i] @ unit[j]), j) for j in range(12)), reverse=True)[:k]
        for s, j in sims:
            expected[i, ids[j]] += np.exp(s / t)
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out.probabilities, expected, atol=1e-5)
    assert (out.probabilities[:, 3] == 0).all()  # a class without labelled rows


def test_propagation_needs_two_classes_and_can_be_cancelled():
    x, _ = _clusters()
    with pytest.raises(ValueError, match="2 classes"):
        propagate(x, np.r_[np.zeros(5, int), -np.ones(len(x) - 5, int)])
    ids = np.r_[0, 1, -np.ones(len(x) - 2, int)]
    with pytest.raises(Cancelled):
        propagate(x, ids, "knn", should_stop=lambda: True)


def test_margins_and_the_uncertainty_ranking_equal_a_manual_computation():
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(4), size=25)
    manual = np.array([sorted(row)[-1] - sorted(row)[-2] for row in p])
    np.testing.assert_allclose(margins(p), manual, atol=1e-6)
    ids = np.full(25, -1)
    ids[[0, 5, 7]] = 1
    expected = [i for _, i in sorted((manual[i], i) for i in range(25) if ids[i] < 0)]
    assert rank_uncertain(p, ids).tolist() == expected
    assert rank_uncertain(p, ids >= 0, count=4).tolist() == expected[:4]


def test_the_outlier_ranking_puts_the_highest_unlabelled_scores_first_ties_by_row():
    scores = np.array([0.1, 0.9, 0.5, 0.9, 0.7, 0.2])
    labelled = np.array([False, False, False, False, True, False])
    assert rank_outliers(scores, labelled).tolist() == [1, 3, 2, 5, 0]


def _naive_k_center(x: np.ndarray, count: int, labelled: list[int]) -> list[int]:
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    dist = 1.0 - unit @ unit.T  # all pairs: fine for a reference
    centres = list(labelled)
    if not centres:
        mean = unit.mean(axis=0)
        centres = [int(np.argmax(unit @ (mean / np.linalg.norm(mean))))]
    picks = [] if labelled else list(centres)
    while len(picks) < count:
        best, best_d = -1, -1.0
        for i in range(len(x)):
            if i in centres:
                continue
            d = min(dist[i, j] for j in centres)
            if d > best_d:
                best, best_d = i, d
        centres.append(best)
        picks.append(best)
    return picks


@pytest.mark.parametrize("labelled", [[], [3], [0, 10, 20]])
def test_k_center_greedy_equals_a_naive_all_pairs_greedy(labelled):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 6)).astype(np.float64)
    ids = np.full(60, -1)
    ids[labelled] = 0
    picks = k_center_greedy(x, 12, ids)
    assert picks.tolist() == _naive_k_center(x, 12, labelled)
    assert not set(picks.tolist()) & set(labelled)


def test_k_center_greedy_stops_when_only_duplicates_remain():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    picks = k_center_greedy(x, 10)
    assert sorted(picks.tolist()) in ([0, 2], [1, 2])

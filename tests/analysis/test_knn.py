import math

import numpy as np
import pytest
import torch

from workbench.analysis.knn import knn_predict, knn_top1


def blobs(n_per_class: int, n_classes: int, dim: int, seed: int, spread: float = 0.1):
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:n_classes] * 5
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = centres[y] + spread * rng.normal(size=(len(y), dim))
    return x.astype(np.float32), y


def test_separable_clusters_are_classified_perfectly():
    xtr, ytr = blobs(30, 4, 8, seed=0)
    xte, yte = blobs(10, 4, 8, seed=1)
    assert knn_top1(xtr, ytr, xte, yte, k=5) == 1.0


def test_random_labels_give_chance_accuracy():
    rng = np.random.default_rng(0)
    xtr, xte = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    ytr, yte = rng.integers(0, 4, 600), rng.integers(0, 4, 600)
    assert abs(knn_top1(xtr, ytr, xte, yte, k=20) - 0.25) < 0.08


def test_weighted_vote_beats_majority_vote():
    # One very close neighbour of class 1 against two distant ones of class 0: a majority vote says 0,
    # exp(sim / T) weights say 1. Cosines to the query (1, 0): 1.0, 0.5, 0.5.
    train_x = np.array([[1.0, 0.0], [0.5, math.sqrt(3) / 2], [0.5, -math.sqrt(3) / 2]])
    train_y = np.array([1, 0, 0])
    query = np.array([[1.0, 0.0]])
    assert knn_predict(train_x, train_y, query, k=3, temperature=0.1).tolist() == [1]  # e^10 > 2 e^5
    # A huge temperature makes all weights ~1, so the majority wins: the weighting is what decides.
    assert knn_predict(train_x, train_y, query, k=3, temperature=100.0).tolist() == [0]
    # Hand-computed threshold: class 1 wins iff e^(1/T) > 2 e^(0.5/T), i.e. T < 0.5 / ln 2 = 0.72.
    assert knn_predict(train_x, train_y, query, k=3, temperature=0.7).tolist() == [1]
    assert knn_predict(train_x, train_y, query, k=3, temperature=0.75).tolist() == [0]


def test_similarity_is_cosine_so_feature_scale_does_not_matter():
    train_x = np.array([[10.0, 0.0], [0.0, 0.1]])
    query = np.array([[0.01, 0.0], [0.0, 50.0]])
    assert knn_predict(train_x, [0, 1], query, k=1).tolist() == [0, 1]


def test_k_larger_than_train_set_and_small_temperature_work():
    xtr, ytr = blobs(2, 2, 4, seed=0)
    xte, yte = blobs(5, 2, 4, seed=1)
    assert knn_top1(xtr, ytr, xte, yte, k=100, temperature=0.001) == 1.0


def test_negative_labels_are_ignored_in_train_and_test():
    xtr, ytr = blobs(10, 2, 4, seed=0)
    # Unlabelled train rows sitting right on the class-1 centre would flip every class-1 vote if counted.
    decoys = np.tile(np.eye(4)[1] * 5, (50, 1)).astype(np.float32)
    xtr = np.concatenate([xtr, decoys])
    ytr = np.concatenate([ytr, np.full(50, -1)])
    xte, yte = blobs(5, 2, 4, seed=1)
    # A test row labelled -1 with a "wrong" position must not count against accuracy.
    xte = np.concatenate([xte, np.eye(4)[:1] * 5])
    yte = np.concatenate([yte, [-1]])
    assert knn_top1(xtr, ytr, xte, yte, k=5) == 1.0
    assert set(knn_predict(xtr, ytr, xte, k=60).tolist()) <= {0, 1}


def test_torch_inputs_batches_and_num_classes():
    xtr, ytr = blobs(10, 3, 6, seed=0)
    xte, _ = blobs(7, 3, 6, seed=1)
    whole = knn_predict(xtr, ytr, xte, k=5)
    batched = knn_predict(torch.from_numpy(xtr), torch.from_numpy(ytr), torch.from_numpy(xte), k=5, batch_size=4)
    assert batched.dtype == np.int64 and batched.shape == (21,)
    np.testing.assert_array_equal(whole, batched)
    np.testing.assert_array_equal(whole, knn_predict(xtr, ytr, xte, k=5, num_classes=10))


def test_bad_inputs_raise_value_errors_naming_the_problem():
    x, y = blobs(3, 2, 4, seed=0)
    with pytest.raises(ValueError, match="k must"):
        knn_predict(x, y, x, k=0)
    with pytest.raises(ValueError, match="temperature"):
        knn_predict(x, y, x, temperature=0)
    with pytest.raises(ValueError, match="features"):
        knn_predict(x, y, x[:, :3])
    with pytest.raises(ValueError, match="labelled training"):
        knn_predict(x, np.full(len(y), -1), x)
    with pytest.raises(ValueError, match="labelled test"):
        knn_top1(x, y, x, np.full(len(y), -1))

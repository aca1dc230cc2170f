import time

import numpy as np
import pytest

from workbench.analysis.probe import linear_probe_top1


def linear_classes(n: int, seed: int, dim: int = 32, classes: int = 3):
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(99).normal(size=(dim, classes))  # the same true classifier for train and test
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x, (x @ w).argmax(axis=1)


def test_linearly_separable_features_are_probed_near_perfectly():
    xtr, ytr = linear_classes(600, seed=0)
    xte, yte = linear_classes(200, seed=1)
    assert linear_probe_top1(xtr, ytr, xte, yte) >= 0.95


@pytest.mark.slow
def test_the_probe_of_800_features_takes_seconds_not_minutes():
    """A wall-clock bound, generous (about 30x a typical run) so a loaded machine does not fail it."""
    xtr, ytr = linear_classes(600, seed=0)
    xte, yte = linear_classes(200, seed=1)
    start = time.perf_counter()
    linear_probe_top1(xtr, ytr, xte, yte)
    assert time.perf_counter() - start < 30.0


def test_features_without_label_information_probe_near_chance():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 16)), rng.integers(0, 2, 400)
    xt, yt = rng.normal(size=(400, 16)), rng.integers(0, 2, 400)
    assert abs(linear_probe_top1(x, y, xt, yt) - 0.5) < 0.1


def test_unlabelled_rows_are_left_out():
    xtr, ytr = linear_classes(300, seed=0)
    xte, yte = linear_classes(100, seed=1)
    noise = np.random.default_rng(5).normal(size=(100, 32)).astype(np.float32) * 100
    xtr2, ytr2 = np.concatenate([xtr, noise]), np.concatenate([ytr, np.full(100, -1)])
    xte2, yte2 = np.concatenate([xte, noise]), np.concatenate([yte, np.full(100, -1)])
    assert linear_probe_top1(xtr2, ytr2, xte2, yte2) == linear_probe_top1(xtr, ytr, xte, yte)


def test_bad_inputs_raise_value_errors():
    x, y = linear_classes(20, seed=0)
    with pytest.raises(ValueError, match="2 classes"):
        linear_probe_top1(x, np.zeros(20, dtype=int), x, y)
    with pytest.raises(ValueError, match="features"):
        linear_probe_top1(x, y, x[:, :5], y)
    with pytest.raises(ValueError, match="c "):
        linear_probe_top1(x, y, x, y, c=0)

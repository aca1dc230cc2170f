"""Weighted k-nearest-neighbour classification of frozen features (Wu et al. 2018; DINO's eval_knn).

Each test feature votes among its k most cosine-similar training features, each neighbour weighing
exp(sim / temperature). No training, so it is the cheap accuracy shown during and after a run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def _features(x: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x), dtype=torch.float32)
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, D), got shape {tuple(t.shape)}.")
    return t


def _labels(y: Any, n: int, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y)).long().reshape(-1)
    if t.shape[0] != n:
        raise ValueError(f"{name} has {t.shape[0]} labels for {n} feature rows.")
    return t


def knn_predict(
    train_x: Any,
    train_y: Any,
    test_x: Any,
    *,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    batch_size: int = 1024,
) -> np.ndarray:
    """Predicted class (int64 (M,)) of each test row by a similarity-weighted vote of its k nearest train rows.

    train_x: (N, D), train_y: (N,) ints (rows labelled < 0 are ignored), test_x: (M, D); numpy or torch.
    k is clipped to the number of labelled train rows.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    train = _features(train_x, "train_x")
    labels = _labels(train_y, train.shape[0], "train_y")
    test = _features(test_x, "test_x")
    if train.shape[1] != test.shape[1]:
        raise ValueError(f"train_x has {train.shape[1]} features but test_x has {test.shape[1]}.")
    keep = labels >= 0
    train, labels = F.normalize(train[keep], dim=1), labels[keep]
    if train.shape[0] == 0:
        raise ValueError("knn needs at least one labelled training row (all train_y < 0).")
    classes = int(labels.max()) + 1 if num_classes is None else num_classes
    if classes <= int(labels.max()):
        raise ValueError(f"num_classes={num_classes} but train_y holds label {int(labels.max())}.")
    k = min(k, train.shape[0])

    preds = []
    for start in range(0, test.shape[0], batch_size):
        query = F.normalize(test[start : start + batch_size], dim=1)  # (B, D)
        sim, idx = (query @ train.T).topk(k, dim=1)  # (B, k) cosine similarities, sorted
        # Shift by the row's best similarity before exp: same ratios, no overflow at small temperatures.
        weight = torch.exp((sim - sim[:, :1]) / temperature)  # (B, k)
        votes = torch.zeros(query.shape[0], classes).scatter_add_(1, labels[idx], weight)  # (B, C)
        preds.append(votes.argmax(dim=1))
    if not preds:
        return np.zeros(0, dtype=np.int64)
    return torch.cat(preds).numpy()


def knn_top1(train_x: Any, train_y: Any, test_x: Any, test_y: Any, *, k: int = 20, temperature: float = 0.07) -> float:
    """Top-1 accuracy in [0, 1] of `knn_predict` on the test rows whose label is >= 0."""
    test = _features(test_x, "test_x")
    truth = _labels(test_y, test.shape[0], "test_y")
    keep = truth >= 0
    if not bool(keep.any()):
        raise ValueError("knn_top1 needs at least one labelled test row (all test_y < 0).")
    pred = knn_predict(train_x, train_y, test[keep], k=k, temperature=temperature)
    return float((torch.from_numpy(pred) == truth[keep]).float().mean())

"""Nearest neighbours in embedding space by cosine similarity: one point's gallery, or every point's k nearest.

Cosine, not Euclidean, because contrastive training (NT-Xent and friends) compares L2-normalised features:
the angle is what the loss shaped. Distances returned here are cosine distances, 1 - cos(a, b), in [0, 2].
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from workbench.errors import Cancelled


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """(N, D) -> float32 (N, D) with unit rows; an all-zero row stays zero (its similarity to anything is 0)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D (N, D), got shape {x.shape}.")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def neighbours_of(unit: np.ndarray, query: int | np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k rows of `unit` (L2-normalised, (N, D)) most cosine-similar to `query`, nearest first.

    query: a row index (that row itself is left out) or a (D,) vector. Returns (indices int64 (k',),
    cosine distances float32 (k',)) with k' = min(k, rows available).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    if isinstance(query, int | np.integer):
        if not 0 <= query < unit.shape[0]:
            raise IndexError(f"row {query} is out of range for {unit.shape[0]} points.")
        sim = unit @ unit[int(query)]  # (N,)
        sim[int(query)] = -np.inf  # not its own neighbour
        available = unit.shape[0] - 1
    else:
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        sim = unit @ (q / max(float(np.linalg.norm(q)), 1e-12))
        available = unit.shape[0]
    k = min(k, available)
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    top = np.argpartition(-sim, k - 1)[:k] if k < sim.shape[0] else np.arange(sim.shape[0])
    top = top[np.argsort(-sim[top], kind="stable")]
    return top.astype(np.int64), (1.0 - sim[top]).astype(np.float32)


def knn_graph(
    x: np.ndarray,
    k: int,
    *,
    batch_size: int = 1024,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every row's k nearest other rows by cosine similarity: (indices int64 (N, k'), distances float32 (N, k')),
    nearest first, k' = min(k, N - 1). Exact (batched matrix products with torch.topk); `should_stop` is polled
    between batches and raises Cancelled."""
    import torch

    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    unit = torch.from_numpy(normalize_rows(x))
    n = unit.shape[0]
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0), dtype=np.float32)
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, n, batch_size):
            if should_stop is not None and should_stop():
                raise Cancelled("Nearest neighbours were cancelled.")
            stop = min(start + batch_size, n)
            sim = unit[start:stop] @ unit.T  # (B, N) cosine similarities
            rows = torch.arange(stop - start)
            sim[rows, rows + start] = -float("inf")  # leave each point out of its own neighbours
            top_sim, top_idx = sim.topk(k, dim=1)  # (B, k), most similar first
            indices[start:stop] = top_idx.numpy()
            distances[start:stop] = (1.0 - top_sim).numpy()
            if progress is not None:
                progress(stop, n)
    return indices, distances

"""Outlier score: the mean cosine distance from each point to its k nearest neighbours (the seed article's
anomaly detection). A point far from all of its neighbours is an odd one out: a mislabelled, corrupted or rare
image. Scores are comparable within one embedding only.

`outliers_from_graph` reads the scores off a neighbour graph already built (analysis/graph.py); `outlier_scores`
builds that graph first (exact up to graph.EXACT_MAX_ROWS rows, approximate above)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DEFAULT_K = 10


def outlier_scores(
    x: np.ndarray,
    k: int = DEFAULT_K,
    *,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """float32 (N,): mean cosine distance (1 - cos) to the k nearest other rows; k is clipped to N - 1, and a
    single row scores 0."""
    from workbench.analysis.graph import build_graph

    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    _, distances = build_graph(x, k, progress=progress, should_stop=should_stop)
    return outliers_from_graph(distances, k)


def outliers_from_graph(distances: np.ndarray, k: int = DEFAULT_K) -> np.ndarray:
    """float32 (N,): the mean of each row's first k graph distances (cosine, nearest first; (N, k') with k' >= k,
    or k' = N - 1 for a small set). O(N k): no neighbour search. A graph without columns (one row) scores 0."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    distances = np.asarray(distances, dtype=np.float32)
    if distances.shape[1] == 0:
        return np.zeros(distances.shape[0], dtype=np.float32)
    return distances[:, :k].mean(axis=1, dtype=np.float64).astype(np.float32)


def score_bands(scores: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Group scores into bands by percentile, for colouring and a legend: (band int64 (N,), band names).

    Bands: below the median, 50-90 %, 90-99 %, the top 1 %. Ties at a boundary go to the lower band.
    """
    scores = np.asarray(scores, dtype=np.float64)
    names = ["lowest 50 %", "50–90 %", "90–99 %", "top 1 %"]
    if scores.size == 0:
        return np.zeros(0, dtype=np.int64), names
    edges = np.percentile(scores, [50, 90, 99])
    return np.searchsorted(edges, scores, side="left").astype(np.int64), names

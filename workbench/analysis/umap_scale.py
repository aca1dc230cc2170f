"""UMAP at any size: which plan a layout of N rows follows, and the layout under that plan.

umap-learn's cost is its neighbour graph (NN-descent) plus `n_epochs` passes of stochastic layout over the graph's
edges; seeded, it runs on one thread. Measured on 2 cores, a full seeded fit is fine up to ~100k rows but not at 1M,
so above LARGE_ROWS the plan changes (and the map states which, from `UmapPlan.sentence`):

- "full": below LARGE_ROWS without a graph: umap_2d as always (seeded, reproducible).
- "graph": a precomputed k-NN graph (indices, cosine distances) is given: UMAP skips NN-descent
  (`precomputed_knn`); above LARGE_ROWS with LARGE_EPOCHS epochs instead of umap's 200, on all cores.
- "sample": above LARGE_ROWS without a graph: fit on SAMPLE_ROWS evenly drawn rows, then place the others with
  `UMAP.transform` (their neighbours among the sample, then a few epochs with the sample fixed), in chunks, on all
  cores. The sample's layout is the map's shape; the rest joins it.
The large plans are unseeded (umap's parallel layout is not reproducible); the layout is cached, so the app and the
CLI still share one.

umap is imported inside functions (through analysis.project).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np

LARGE_ROWS = 200_000
SAMPLE_ROWS = 100_000
LARGE_EPOCHS = 100
TRANSFORM_CHUNK = 100_000


@dataclass(frozen=True)
class UmapPlan:
    strategy: str  # "full", "graph" or "sample"
    rows: int
    fit_rows: int  # rows UMAP fitted on (the rest placed by transform)
    n_epochs: int | None  # None: umap-learn's default
    seeded: bool

    def sentence(self) -> str:
        if self.strategy == "sample":
            return (
                f"UMAP fitted on {self.fit_rows:,} of {self.rows:,} points; the others were placed on that map "
                "(umap transform)."
            )
        if self.strategy == "graph":
            epochs = f", {self.n_epochs} epochs" if self.n_epochs else ""
            return f"UMAP of {self.rows:,} points on the precomputed neighbour graph{epochs}."
        return f"UMAP of {self.rows:,} points."

    def to_dict(self) -> dict:
        return asdict(self)


def plan_umap(
    n_rows: int, n_neighbors: int, knn: tuple[np.ndarray, np.ndarray] | None = None, seed: int | None = 0
) -> UmapPlan:
    """The plan `umap_layout` follows for `n_rows` rows and an optional graph `knn`. A graph with fewer neighbours
    per row than n_neighbors (the row itself counted, as umap counts it) cannot be used and is ignored."""
    large = n_rows > LARGE_ROWS
    if knn is not None and n_rows >= 4 and _graph_k(knn) >= min(n_neighbors, n_rows - 1):
        return UmapPlan("graph", n_rows, n_rows, LARGE_EPOCHS if large else None, seeded=not large and seed is not None)
    if large:
        return UmapPlan("sample", n_rows, SAMPLE_ROWS, None, seeded=False)
    return UmapPlan("full", n_rows, n_rows, None, seeded=seed is not None)


def _graph_k(knn: tuple[np.ndarray, np.ndarray]) -> int:
    indices = np.asarray(knn[0])
    has_self = indices.ndim == 2 and np.array_equal(indices[:, 0], np.arange(len(indices)))
    return indices.shape[1] + (0 if has_self else 1) if indices.ndim == 2 else 0


def knn_with_self(indices: np.ndarray, distances: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """umap's precomputed_knn form: (N, k) int64 indices with each row itself first (distance 0), float32 distances.
    A graph that leaves the row itself out (column 0 is not 0..N-1) gets it prepended; extra columns are cut."""
    indices, distances = np.asarray(indices), np.asarray(distances, dtype=np.float32)
    if indices.ndim != 2 or indices.shape != distances.shape:
        raise ValueError(f"knn indices {indices.shape} and distances {distances.shape} must be the same (N, k).")
    n = len(indices)
    if not np.array_equal(indices[:, 0], np.arange(n)):
        indices = np.concatenate([np.arange(n)[:, None], indices], axis=1)
        distances = np.concatenate([np.zeros((n, 1), np.float32), distances], axis=1)
    return np.ascontiguousarray(indices[:, :k], dtype=np.int64), np.ascontiguousarray(distances[:, :k])


def umap_layout(
    x: np.ndarray,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "cosine",
    seed: int | None = 0,
    knn: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, UmapPlan]:
    """(N, D) -> (float32 (N, 2) layout, the plan it followed). knn: an optional (indices, distances) graph of x
    (N, k), cosine distances 1 - cos, the row itself included or not, used in place of UMAP's own."""
    from workbench.analysis.project import make_reducer, umap_2d, wait_for_warm_up

    n = len(x)
    plan = plan_umap(n, n_neighbors, knn, seed)
    if plan.strategy == "full":
        return umap_2d(x, n_neighbors=n_neighbors, min_dist=min_dist, metric=metric, seed=seed), plan
    seed = seed if plan.seeded else None
    k = min(n_neighbors, n - 1)
    if plan.strategy == "graph":
        indices, distances = knn_with_self(knn[0], knn[1], k)
        extra = {"n_epochs": plan.n_epochs} if plan.n_epochs else {}
        xy = umap_2d(
            x, n_neighbors=k, min_dist=min_dist, metric=metric, seed=seed, precomputed_knn=(indices, distances), **extra
        )
        return xy, plan
    sample = np.linspace(0, n - 1, plan.fit_rows).round().astype(np.int64)  # evenly spread: no seed needed
    rest = np.setdiff1d(np.arange(n), sample, assume_unique=True)
    wait_for_warm_up(n)
    reducer = make_reducer(k, min_dist, metric, seed)
    out = np.empty((n, 2), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out[sample] = reducer.fit_transform(np.asarray(x[sample], dtype=np.float32))
        for s in range(0, len(rest), TRANSFORM_CHUNK):
            rows = rest[s : s + TRANSFORM_CHUNK]
            out[rows] = reducer.transform(np.asarray(x[rows], dtype=np.float32))
    return out, plan

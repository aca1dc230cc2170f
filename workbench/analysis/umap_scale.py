"""UMAP at any size: which plan a layout of N rows follows, and the layout under that plan.

umap-learn's cost is its neighbour graph (NN-descent), its start (a spectral embedding of the graph: eigenvectors
of its Laplacian, one eigenproblem per connected component) and `n_epochs` passes of stochastic layout over the
graph's edges; seeded, it runs on one thread. Above LARGE_ROWS the plan changes (and the map states which, from
`UmapPlan.sentence`):

- "full": below LARGE_ROWS without a graph: umap_2d as always (seeded, reproducible).
- "graph": a precomputed k-NN graph (indices, cosine distances) is given: UMAP skips NN-descent
  (`precomputed_knn`); above LARGE_ROWS with LARGE_EPOCHS epochs instead of umap's 200, on all cores, started from
  `pca_start` (the unit rows' two main principal axes) instead of the spectral embedding.
- "sample": above LARGE_ROWS without a graph: fit on SAMPLE_ROWS evenly drawn rows, then place the others with
  `UMAP.transform` (their neighbours among the sample, then a few epochs with the sample fixed), in chunks, on all
  cores. The sample's layout is the map's shape; the rest joins it.
The large plans are unseeded (umap's parallel layout is not reproducible); the layout is cached, so the app and the
CLI still share one.

Where the time goes (benchmarks/umap_large.py: umap's phases timed inside this module's layout, all cores, unseeded;
a shared 2-core machine, so CPU seconds of all threads; on a quiet machine the parallel epochs take about half that
in wall time). Quality on 10,000 rows: knn_recall (a row's 15 graph neighbours among its 15 nearest on the map;
near chance for isotropic clusters, whose neighbours are noise) and label_purity (its 15 nearest on the map in its
own cluster):
  rows, clusters               start:epochs   fuzzy set   start                epochs   knn_recall  label_purity
  50k, 10 in 8-d latent        spectral:200   0.4         6.2 (2 components)    38.8    0.067       0.992
  50k, 10 in 8-d latent        spectral:100   0.4         6.2                   20.5    0.062       0.992
  50k, 10 in 8-d latent        pca:100        0.5         0.1                   22.8    0.063       0.992
  50k, 10 in 8-d latent        pca:50         0.5         0.1                   10.8    0.056       0.992
  200k, 10 isotropic 128-d     spectral:100   1.7         10.5 (10 components) 102.5    chance      1.000
  200k, 10 isotropic 128-d     pca:100        1.7         0.2                  121.4    chance      1.000
  200k, 10 isotropic 128-d     pca:50         1.7         0.2                   47.7    chance      1.000
  The spectral start alone on a connected graph (the benchmark's graphs joined by 0.5% random edges: one
  component, as features whose clusters touch give): 25k 1.1, 50k 4.4, 100k 14.6, 200k 54.8 CPU s: ~N^1.9.
The epochs dominate wherever the graph falls into small components; they grow about linearly (4-6 CPU us per row
and epoch from 50k to 200k), so at 1M LARGE_EPOCHS = 100 are ~550-700 CPU s, about 5-6 minutes on 2 quiet cores,
plus ~20 s for the rest (fuzzy set ~10 CPU s, PCA start, umap's input copies and hash). 50 epochs halve that but
lose knn_recall (0.056 against 0.063); the PCA start matches the spectral one at the same epochs.
Why the PCA start above LARGE_ROWS: umap's spectral start (ARPACK eigsh on the graph's N-node Laplacian, with
sqrt(N) Lanczos vectors) is the one phase that grows faster than N: extrapolated, ~1,100 CPU s at 1M for a connected
graph, more than the whole 10-minute budget, and its 1,000 float64 Lanczos vectors of 1M rows are 8 GB, the app's
whole memory budget. A PCA start costs seconds and one pass over the features, and the epochs pull the graph's
clusters out of it.

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
PCA_INIT_ROWS = 20_000  # rows the PCA start's two axes are fitted on (all rows are then projected on them)


@dataclass(frozen=True)
class UmapPlan:
    strategy: str  # "full", "graph" or "sample"
    rows: int
    fit_rows: int  # rows UMAP fitted on (the rest placed by transform)
    n_epochs: int | None  # None: umap-learn's default
    seeded: bool
    init: str = "spectral"  # the layout's start: umap's spectral embedding of the graph, or "pca" (pca_start)

    def sentence(self) -> str:
        if self.strategy == "sample":
            return (
                f"UMAP fitted on {self.fit_rows:,} of {self.rows:,} points; the others were placed on that map "
                "(umap transform)."
            )
        if self.strategy == "graph":
            epochs = f", {self.n_epochs} epochs" if self.n_epochs else ""
            start = " from a PCA start" if self.init == "pca" else ""
            return f"UMAP of {self.rows:,} points on the precomputed neighbour graph{epochs}{start}."
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
        if large:
            return UmapPlan("graph", n_rows, n_rows, LARGE_EPOCHS, seeded=False, init="pca")
        return UmapPlan("graph", n_rows, n_rows, None, seeded=seed is not None)
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
        if plan.init == "pca":
            extra["init"] = pca_start(x)
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


def pca_start(x: np.ndarray, sample_rows: int | None = None) -> np.ndarray:
    """float32 (N, 2): the unit rows of x (the cosine metric's geometry) on their two main principal axes, centred,
    fitted on an evenly spread sample of `sample_rows` rows (default PCA_INIT_ROWS) and applied to all rows a chunk
    at a time (a memory map is never copied whole). Deterministic: no random draw, and each axis's sign fixed (its
    largest loading positive)."""
    from workbench.analysis.graph_reduce import project
    from workbench.analysis.neighbours import normalize_rows
    from workbench.analysis.project import principal_axes

    n = x.shape[0]
    rows = np.unique(np.linspace(0, n - 1, min(sample_rows or PCA_INIT_ROWS, n)).round().astype(np.int64))
    mean, axes = principal_axes(normalize_rows(np.asarray(x[rows], dtype=np.float32)))
    axes = np.ascontiguousarray(axes, dtype=np.float32)
    return project(x, axes) - (mean @ axes).astype(np.float32)

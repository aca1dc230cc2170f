"""The approximate neighbour graph of wide features: NN-descent on a principal-component projection, then every
row's candidates re-ranked by their exact cosine in the full width (graph.py says when, and why).

- `principal_axes(x, dims)`: the top `dims` right singular vectors (D, P) of the L2-normalised rows, from an evenly
  spread sample of PCA_SAMPLE_ROWS rows (randomized SVD, seeded). Not centred: the projections' inner products
  then approximate the rows' cosines themselves (the best rank-P approximation of their Gram matrix), where
  centring would rank by the angle about the mean instead; ReLU features have a large mean, which the first axis
  keeps.
- `project(x, axes)`: unit rows times the axes, CHUNK_BYTES of rows at a time, straight from a memory map: the peak
  is the (N, P) float32 result plus one chunk, never a copy of the (N, D) features.
- `rerank(x, candidates, k)`: each row's NN-descent candidates (found in P dimensions) scored by their exact cosine
  distance in all D dimensions (a numba kernel reads the rows in place, a chunk of rows per call), nearest k kept.
  The distances the app shows (the near-duplicate threshold 0.995, outlier scores) are therefore exact full-width
  cosines, and a true neighbour the projection ranked 30th still comes back first.

`project` and `rerank` poll should_stop between chunks (Cancelled) and report (rows done, rows) to progress.
numba is imported inside a function: the GUI imports graph.py at start-up.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from workbench.analysis.neighbours import normalize_rows
from workbench.errors import Cancelled

PCA_SAMPLE_ROWS = 20_000  # rows the axes are fitted on: a 1M x 2048 cache reads 160 MB of it
POWER_ITERATIONS = 2  # of the randomized SVD; the re-rank, not the axes, makes the distances exact
CHUNK_BYTES = 64 * 2**20  # features read per step when projecting or re-ranking (memory held beyond the result)

Progress = Callable[[int, int], None] | None
ShouldStop = Callable[[], bool] | None


def principal_axes(
    x: np.ndarray, dims: int, *, sample_rows: int | None = None, seed: int = 0, should_stop: ShouldStop = None
) -> np.ndarray:
    """float32 (D, P) orthonormal axes, P = min(dims, D, rows sampled): the top right singular vectors of the unit
    rows of an evenly spread sample of x (N, D) (sample_rows, default PCA_SAMPLE_ROWS), uncentred; deterministic
    under `seed`. Randomized SVD (Halko et al. 2011, algorithm 4.4) in numpy: torch's QR and SVD run 60-300x
    slower in a process where numba's OpenMP pool has run (pynndescent's has, by the second build), numpy's not."""
    n, d = x.shape
    sample_rows = PCA_SAMPLE_ROWS if sample_rows is None else sample_rows
    rows = np.unique(np.linspace(0, n - 1, min(sample_rows, n)).round().astype(np.int64))
    a = normalize_rows(x[rows])  # (S, D): a fancy index reads only these rows of a memory map
    p = min(dims, d, len(rows))
    q = min(p + 10, d, len(rows))  # a few extra columns sharpen the range found
    y = a @ np.random.default_rng(seed).standard_normal((d, q), dtype=np.float32)  # (S, q)
    for _ in range(POWER_ITERATIONS):  # re-orthonormalised: the top singular directions stand out
        _check(should_stop)
        z, _ = np.linalg.qr((np.linalg.qr(y)[0].T @ a).T)  # (D, q); (Q^T A)^T: faster than A^T Q in OpenBLAS
        y = a @ z
    basis = np.linalg.qr(y)[0]  # (S, q) orthonormal, spanning a's top q left singular vectors
    _, _, vt = np.linalg.svd(basis.T @ a, full_matrices=False)  # (q, D), singular values descending
    return np.ascontiguousarray(vt[:p].T, dtype=np.float32)


def project(
    x: np.ndarray, axes: np.ndarray, *, progress: Progress = None, should_stop: ShouldStop = None
) -> np.ndarray:
    """float32 (N, P): the unit rows of x (N, D) times axes (D, P), a chunk of rows at a time."""
    n, d = x.shape
    out = np.empty((n, axes.shape[1]), dtype=np.float32)
    step = _chunk_rows(d)
    for start in range(0, n, step):
        _check(should_stop)
        stop = min(start + step, n)
        out[start:stop] = normalize_rows(x[start:stop]) @ axes  # (B, D) @ (D, P)
        if progress is not None:
            progress(stop, n)
    return out


def rerank(
    x: np.ndarray,
    candidates: np.ndarray,
    k: int,
    *,
    progress: Progress = None,
    should_stop: ShouldStop = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k nearest among its candidates (N, C) (other rows; -1 for an empty slot), by the exact cosine
    distance in x (N, D): (indices int64 (N, k), distances float32 (N, k)), nearest first, ties by candidate order.
    An empty slot sorts last with distance 2 (k <= C, and NN-descent fills every slot once N > C).

    The cost is reading N * C rows of D floats at random (1M x 49 x 2048: 400 GB through memory). A numba kernel
    reads them in place (x itself, a memory map included: no gathered copy, no second pass) and forms each cosine in
    that one read: 12,000 x 32 x 2048 in 0.5 s on one busy core, 8x torch's gather + batched product."""
    n, d = x.shape
    c = candidates.shape[1]
    data = np.ascontiguousarray(x, dtype=np.float32)  # float32 C-order (the embeddings cache): a view, no copy
    kernel = _cosine_kernel()
    out_idx = np.empty((n, k), dtype=np.int64)
    out_dist = np.empty((n, k), dtype=np.float32)
    step = max(1, _chunk_rows(d) // (c + 1))  # rows a step: Cancel and progress between kernel calls
    sims = np.empty((step, c), dtype=np.float32)
    for start in range(0, n, step):
        _check(should_stop)
        stop = min(start + step, n)
        cand = np.ascontiguousarray(candidates[start:stop], dtype=np.int64)  # (B, C)
        kernel(data, start, cand, sims[: stop - start])  # (B, C) exact cosines, 0 for an empty slot
        dist = np.clip(1.0 - sims[: stop - start], 0.0, 2.0)
        dist[cand < 0] = np.inf
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        out_idx[start:stop] = np.take_along_axis(cand, order, axis=1)
        out_dist[start:stop] = np.minimum(np.take_along_axis(dist, order, axis=1), 2.0)
        if progress is not None:
            progress(stop, n)
    return out_idx, out_dist


_kernel: Callable | None = None


def _cosine_kernel() -> Callable:
    """numba kernel (x (N, D) float32, start, cand (B, C) int64, out (B, C) float32): out[i, j] = the cosine of
    rows start + i and cand[i, j] (0 where cand < 0 or a row is all zero, as normalize_rows has it). Parallel over
    rows, GIL released; compiled on first use (~2-5 s), after pynndescent's own kernels."""
    global _kernel
    if _kernel is None:
        import numba

        @numba.njit(parallel=True, nogil=True, fastmath=True, cache=False)
        def cosines(x, start, cand, out):  # pragma: no cover - compiled
            rows, columns = cand.shape
            d = x.shape[1]
            for i in numba.prange(rows):
                r = start + i
                rr = np.float32(0.0)
                for t in range(d):
                    rr += x[r, t] * x[r, t]
                for j in range(columns):
                    o = cand[i, j]
                    if o < 0:
                        out[i, j] = 0.0
                        continue
                    ro = np.float32(0.0)
                    oo = np.float32(0.0)
                    for t in range(d):  # one read of the other row: its dot and its norm together
                        ro += x[r, t] * x[o, t]
                        oo += x[o, t] * x[o, t]
                    out[i, j] = ro / (max(np.sqrt(rr), 1e-12) * max(np.sqrt(oo), 1e-12))

        _kernel = cosines
    return _kernel


def _chunk_rows(dim: int) -> int:
    return max(1, CHUNK_BYTES // (4 * max(dim, 1)))


def _check(should_stop: ShouldStop) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled("The neighbour graph was cancelled.")

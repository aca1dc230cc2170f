"""2-D projections of embeddings for the scatter view: PCA (instant) and UMAP (after a numba warm-up).

umap is imported only inside functions: importing it takes seconds and compiling its numba kernels ~20 s
more, so `warm_up_umap` does both on a daemon thread before the first real request.
"""

from __future__ import annotations

import logging
import threading
import warnings

import numpy as np

log = logging.getLogger(__name__)

# Wider rows get their principal axes by subspace iteration: a full eigendecomposition of a 2048 x 2048 covariance
# takes ~1 s on 2 cores, the iteration ~20 ms.
EXACT_AXES_WIDTH = 512
POWER_ITERATIONS = 7

# umap-learn computes exact neighbours below this many rows and compiles pynndescent only above it.
_EXACT_ROWS = 4096

_warm_up_lock = threading.Lock()
_warm_up_thread: threading.Thread | None = None
_exact_ready = threading.Event()  # set once the warm-up has compiled what inputs below _EXACT_ROWS need


def _check(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must be (N, D) with at least one row, got shape {x.shape}.")
    return x


def principal_axes(sample: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), axes (D, k)) float64 of the rows `sample` (M, D): the top-k eigenvectors of their covariance,
    each axis's sign fixed so that its largest loading is positive (sklearn's convention); missing axes are zeros.

    Our own (an eigendecomposition of the D x D covariance) rather than sklearn's PCA: importing sklearn takes
    1.5 s of mostly Python on a quiet machine and several seconds during an embed, holding the GIL in long
    stretches while the window draws its first map; numpy's LAPACK call releases it."""
    a = np.asarray(sample, dtype=np.float64)
    m, d = a.shape
    mean = a.mean(axis=0)
    axes = np.zeros((d, k))
    usable = min(k, m - 1, d)
    if usable >= 1:
        centred = a - mean
        if d <= EXACT_AXES_WIDTH:
            _, vectors = np.linalg.eigh(centred.T @ centred)  # eigenvalues ascending
            top = vectors[:, ::-1][:, :usable]
        else:
            top = _top_directions(centred, usable)
        top *= np.where(top[np.abs(top).argmax(axis=0), np.arange(usable)] < 0, -1.0, 1.0)
        axes[:, :usable] = top
    return mean, axes


def _top_directions(a: np.ndarray, k: int) -> np.ndarray:
    """(D, k): the top-k right singular vectors of `a` (M, D) by randomized subspace iteration (Halko et al. 2011,
    as sklearn's randomized PCA: POWER_ITERATIONS passes, 10 extra directions) from a fixed seed."""
    rng = np.random.default_rng(0)
    q = rng.standard_normal((a.shape[1], k + 10))
    for _ in range(POWER_ITERATIONS):
        q, _ = np.linalg.qr(a.T @ (a @ q))
    _, _, vt = np.linalg.svd(a @ q, full_matrices=False)
    return q @ vt[:k].T


def pca_2d(x: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, 2) float32 coordinates along the two main principal axes of all rows; deterministic (no
    random draw, fixed signs). Missing axes (N < 3 or D < 2) are zeros."""
    x = _check(x)
    mean, axes = principal_axes(x)
    return ((x - mean.astype(np.float32)) @ axes.astype(np.float32)).astype(np.float32)


def umap_2d(
    x: np.ndarray,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "cosine",
    seed: int | None = 0,
    **umap_kwargs,
) -> np.ndarray:
    """(N, D) -> (N, 2) float32 UMAP layout (McInnes et al. 2018) via umap-learn.

    n_neighbors is clipped to N - 1; below 4 rows UMAP is ill-defined and PCA is returned instead.
    A fixed `seed` makes the layout reproducible (and single-threaded); None lets UMAP use all cores.
    umap_kwargs go to umap.UMAP (precomputed_knn, n_epochs: see analysis.umap_scale).
    Waits for a running `warm_up_umap` rather than compiling the same kernels twice.
    """
    x = _check(x)
    if n_neighbors < 2:
        raise ValueError(f"n_neighbors must be at least 2, got {n_neighbors}.")
    if not 0.0 <= min_dist <= 1.0:
        raise ValueError(f"min_dist must be in [0, 1], got {min_dist}.")
    if x.shape[0] < 4:
        return pca_2d(x)
    wait_for_warm_up(x.shape[0])
    n_neighbors = min(n_neighbors, x.shape[0] - 1)
    return _fit_umap(x, n_neighbors=n_neighbors, min_dist=min_dist, metric=metric, seed=seed, **umap_kwargs)


def wait_for_warm_up(n_rows: int) -> None:
    """Wait for a running `warm_up_umap` (if any) as far as an input of `n_rows` needs it."""
    thread = _warm_up_thread
    if thread is not None and thread is not threading.current_thread():
        # A small input needs only the warm-up's first phase; a large one also its nearest-neighbour phase.
        if n_rows < _EXACT_ROWS:
            _exact_ready.wait()  # set by the warm-up even when it fails
        else:
            thread.join()


def _fit_umap(x: np.ndarray, *, n_neighbors: int, min_dist: float, metric: str, seed: int | None, **kw) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # see make_reducer
        return np.asarray(make_reducer(n_neighbors, min_dist, metric, seed, **kw).fit_transform(x), dtype=np.float32)


def make_reducer(n_neighbors: int, min_dist: float, metric: str, seed: int | None, **kw):
    """The umap.UMAP every layout here uses (2-D; one thread when seeded). Callers silence its UserWarnings: tiny or
    duplicate-heavy inputs warn about spectral init / disconnected graphs, a precomputed graph without a search index
    about transform; the layout is still usable and the scatter is the place to judge it."""
    import umap

    return umap.UMAP(
        n_components=2,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        metric=metric,
        random_state=seed,
        n_jobs=1 if seed is not None else -1,  # a seed forces one thread anyway; saying so avoids UMAP's warning
        **kw,
    )


def _warm_up() -> None:
    try:
        x = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
        # Phase 1 (~15 s): exact neighbours + layout, all that inputs below _EXACT_ROWS use.
        _fit_umap(x, n_neighbors=5, min_dist=0.1, metric="cosine", seed=0, n_epochs=10)
        _exact_ready.set()
        # Phase 2 (~30 s more): the approximate-neighbour kernels (pynndescent) that larger inputs use.
        _fit_umap(
            x, n_neighbors=5, min_dist=0.1, metric="cosine", seed=0, n_epochs=10, force_approximation_algorithm=True
        )
    except Exception:  # the first real umap_2d call will raise the same problem where a user sees it
        log.warning("UMAP warm-up failed", exc_info=True)
    finally:
        _exact_ready.set()


def warm_up_umap() -> threading.Thread:
    """Start (once per process) a daemon thread that imports umap and compiles its numba kernels on a tiny
    random array; later calls return the same thread. `umap_2d` waits for it (for inputs below 4096 rows
    only for its first, exact-neighbour phase) instead of compiling the same kernels a second time."""
    global _warm_up_thread
    with _warm_up_lock:
        if _warm_up_thread is None:
            _warm_up_thread = threading.Thread(target=_warm_up, name="umap-warm-up", daemon=True)
            _warm_up_thread.start()
        return _warm_up_thread

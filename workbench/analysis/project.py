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


def pca_2d(x: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, 2) float32 coordinates along the two main principal axes; deterministic (fixed signs
    and solver seed). Missing axes (N < 3 or D < 2) are zeros."""
    from sklearn.decomposition import PCA

    x = _check(x)
    out = np.zeros((x.shape[0], 2), dtype=np.float32)
    n_components = min(2, x.shape[0] - 1, x.shape[1])
    if n_components >= 1:
        out[:, :n_components] = PCA(n_components=n_components, random_state=0).fit_transform(x)
    return out


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

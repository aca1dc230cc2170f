"""One k-nearest-neighbour graph (cosine) per embedding, and what is read off it without comparing all pairs.

`build_graph(x, k)` -> (indices int64 (N, k'), cosine distances float32 (N, k')), each row's k' = min(k, N - 1)
nearest OTHER rows, nearest first. Outlier scores (outliers.py), near-duplicate pairs (duplicates.py), a clicked
point's neighbours (`graph_neighbours`) and UMAP's `precomputed_knn` (umap_scale.knn_with_self) are all read off
this one graph.

Exact below EXACT_MAX_ROWS rows (or while N^2 * D stays under EXACT_MAX_MACS), approximate above:
- Exact (`neighbours.knn_graph`: batched matrix products + top-k in torch) is O(N^2) work but costs seconds at
  20,000 rows, has no compile step and no approximation, so small folders (the demo, most test sets) get the true
  graph, and the tests have a reference.
- Above that, pynndescent (NN-descent, Dong et al. 2011, random-projection-tree seeded): a well-kept library that
  umap-learn itself uses for its graph (so it is already installed and its recall is well studied), deterministic
  under `random_state`, about O(N^1.14) in practice. Its recall@10 against the exact graph is measured by
  benchmarks/neighbours.py (goal >= 0.95) and tested in tests/analysis/test_graph.py.

Wide rows (D > REDUCE_ABOVE_DIM = 128: small-cnn's default stage3-grid 2048-d, its final 256-d, resnet18's 512-d)
go to NN-descent as their REDUCED_DIM principal components, and every row's MIN_DESCENT_NEIGHBOURS - 1 candidates
come back re-ranked by their exact cosine in all D dimensions (graph_reduce.py). Why: NN-descent's work is distance
evaluations, O(D) each, so 1M x 2048 would take ~16x the 251 s of 1M x 128 (over an hour), and pynndescent keeps its
own unit-row copy of what it is given (8 GB at 1M x 2048, in RAM even when x is a memory map). Projected, it is given
N x 128 (512 MB at 1M), read from x a chunk at a time. The re-rank makes the graph's distances exact full-width
cosines (what the duplicates threshold and outlier scores read) and recovers the true order the projection blurred.
Measured on real features (SimCLR small-cnn run, Fashion-MNIST train + test, 12,000 rows; benchmarks/neighbours.py
--features; busy shared 2-core machine, times rough), recall@10 against the exact graph, NN-descent's own order in
P dimensions -> after the re-rank of its 49 candidates:
  stage3-grid 2048-d: full 1.000 (28 s); P=256 0.943 -> 1.000 (14 s); P=128 0.903 -> 1.000 (7.3 s: 2.6 reduce,
  4.0 descent, 0.6 re-rank); P=64 0.838 -> 0.9999 (5.6 s); P=32 0.735 -> 0.997 (5.3 s). Re-ranking only the first
  16 candidates: 0.9945 at P=128, 0.969 at P=64.
  final 256-d: full 1.000 (5.8 s); P=128 0.982 -> 1.000 (7.1 s); P=64 0.951 -> 1.000 (5.8 s).
  The train folder alone (10,000 rows), untrained encoder 2048-d: full 1.000 (5.1 s), P=128 0.874 -> 1.000 (3.6 s);
  raw pixels 3072-d: full 1.000 (18.8 s), P=128 0.866 -> 0.9999 (11.3 s).
128 components hold 97.8% of the stage3-grid rows' squared norm. Not for every feature: isotropic Gaussian clusters
(benchmarks' synthetic rows, 20,000 x 512), whose within-cluster neighbours are decided by noise in all 512
dimensions, fall to 0.244 -> 0.665 at P=128 (full: 0.998); encoder features, of low intrinsic dimension, are not
like them. Not measured here: 1M rows of real features.

Cancellation: an NNDescent call cannot be interrupted and reports no progress. It therefore runs on a daemon
thread (numba releases the GIL in its kernels, so the caller keeps polling) while the caller polls `should_stop`
every POLL_S and raises Cancelled at once; the abandoned build runs on to its end (it holds the cores until then,
minutes at most at 1M rows) and a later request for the same array and k attaches to it instead of starting a
second build (only while it runs: a finished build that nobody collected is dropped). Not a child process (as UMAP
is): numba would compile pynndescent's kernels again in every fresh process, and the N x D features would have to be
copied across. Progress is reported as indeterminate (0 of 0) meanwhile; the projection before it and the re-rank
after it run in the caller, poll should_stop between chunks and report rows done.

The first approximate build in a process compiles pynndescent's numba kernels: ~50 s on two cores, up to 4 minutes
measured on a busy shared machine (compilation holds the GIL part of the time, so a GUI slows meanwhile).
A later build in the same process starts at once.

pynndescent and torch are imported inside functions: the GUI imports this module at start-up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from workbench.analysis import graph_reduce
from workbench.analysis.neighbours import knn_graph, neighbours_of
from workbench.errors import Cancelled

EXACT_MAX_ROWS = 20_000  # exact (torch) at or below this many rows, pynndescent above ...
# ... unless the exact graph is still cheaper than pynndescent's first build, whose numba compilation alone takes
# ~50 s on two cores: N^2 * D multiply-adds at ~15-25 G/s (torch matmul + top-k, 2 cores, AVX2) is 20-35 s at this
# many; so 60,000 rows of 128-d or 30,000 of 512-d are exact too.
EXACT_MAX_MACS = 5e11
GRAPH_SEED = 0
POLL_S = 0.1  # how often a caller waiting for pynndescent checks should_stop
# Candidates per row NN-descent keeps (at least k + 1). Recall@10 on synthetic clustered rows (benchmarks/neighbours.py,
# quiet 2-core machine): 1M x 128: 0.700 with 20 (79 s), 0.866 with 30 (133 s), 0.973 with 50 (251 s); 100k x 512:
# 0.930 with 20, 0.985 with 30. 50 meets the 0.95 goal at 1M within the 10-minute one.
MIN_DESCENT_NEIGHBOURS = 50
# Rows wider than REDUCE_ABOVE_DIM are searched in REDUCED_DIM principal components, and all MIN_DESCENT_NEIGHBOURS - 1
# candidates NN-descent finds there re-ranked by their exact full-width cosine (graph_reduce.py; measured in the
# module docstring). 128: the width whose 1M-row build was measured, so no wider search is ever timed out.
REDUCE_ABOVE_DIM = 128
REDUCED_DIM = 128

Graph = tuple[np.ndarray, np.ndarray]  # (indices int64 (N, k), cosine distances float32 (N, k)), nearest first


def build_graph(
    x: np.ndarray,
    k: int,
    *,
    exact_max_rows: int | None = None,
    seed: int = GRAPH_SEED,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Graph:
    """Every row's k nearest other rows of x (N, D) by cosine distance: exact when `is_exact(N, D)` (or, when
    given, N <= exact_max_rows), else approximate (pynndescent). Raises ValueError for k < 1 and Cancelled when
    should_stop() turns True."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    if np.ndim(x) != 2:  # not np.asarray(x): a memory-mapped x must stay the same object (see approximate_graph)
        raise ValueError(f"features must be 2-D (N, D), got shape {np.shape(x)}.")
    exact = is_exact(*x.shape) if exact_max_rows is None else x.shape[0] <= exact_max_rows
    if exact:
        return knn_graph(x, k, progress=progress, should_stop=should_stop)
    return approximate_graph(x, k, seed=seed, progress=progress, should_stop=should_stop)


def is_exact(rows: int, dim: int) -> bool:
    """Whether build_graph computes the exact graph for `rows` x `dim` features (see EXACT_MAX_MACS)."""
    return rows <= EXACT_MAX_ROWS or float(rows) * rows * dim <= EXACT_MAX_MACS


# The one build in flight, so that a cancelled-and-requested-again build is not run twice.
_flight_lock = threading.Lock()
_flight: tuple[np.ndarray, tuple[int, int, int], Future] | None = None


def reduced_dim(dim: int) -> int:
    """The width NN-descent searches in for `dim`-wide features: `dim` itself up to REDUCE_ABOVE_DIM, else
    min(REDUCED_DIM, dim) principal components (graph_reduce.py)."""
    return dim if dim <= REDUCE_ABOVE_DIM else min(REDUCED_DIM, dim)


def approximate_graph(
    x: np.ndarray,
    k: int,
    *,
    seed: int = GRAPH_SEED,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Graph:
    """pynndescent's k nearest other rows (cosine), the same layout as `knn_graph`; wide rows are searched in their
    principal components and re-ranked in full (see the module docstring, also for how Cancel returns promptly
    although NN-descent itself cannot be interrupted)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    n, dim = x.shape
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0), dtype=np.float32)
    width = reduced_dim(dim)
    reduce = width < dim
    # Reduced: NN-descent returns all its candidates (drop_self leaves MIN_DESCENT_NEIGHBOURS - 1), re-ranked below.
    columns = min(max(k, MIN_DESCENT_NEIGHBOURS - 1), n - 1) if reduce else k
    key = (columns, seed, width)
    future = _attached(x, key)
    if future is None:
        data = x
        if reduce:
            axes = graph_reduce.principal_axes(x, width, seed=seed, should_stop=should_stop)
            data = graph_reduce.project(x, axes, progress=progress, should_stop=should_stop)
        future = _started(x, key, data)
    if progress is not None:
        progress(0, 0)  # indeterminate: NN-descent reports nothing while it runs
    while True:
        try:
            indices, distances = future.result(timeout=POLL_S)
            break
        except TimeoutError:
            if should_stop is not None and should_stop():
                raise Cancelled("The neighbour graph was cancelled.") from None
    if reduce:
        indices, distances = graph_reduce.rerank(x, indices, k, progress=progress, should_stop=should_stop)
    if progress is not None:
        progress(n, n)
    return indices, distances


def _attached(x: np.ndarray, key: tuple[int, int, int]) -> Future | None:
    """The build of the same features and key still running, if any (wait for it rather than start again)."""
    with _flight_lock:
        if _flight is not None and _flight[0] is x and _flight[1] == key:
            return _flight[2]
    return None


def _started(x: np.ndarray, key: tuple[int, int, int], data: np.ndarray) -> Future:
    """NN-descent of `data` (x itself, or its projection) with key[0] columns on a daemon thread, as the flight."""
    global _flight
    future: Future = Future()
    with _flight_lock:
        _flight = (x, key, future)
    threading.Thread(
        target=_run_descent, args=(future, data, key[0], key[1]), name="workbench-nndescent", daemon=True
    ).start()
    return future


def _run_descent(future: Future, data: np.ndarray, k: int, seed: int) -> None:
    global _flight
    try:
        future.set_result(_descent(data, k, seed))
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
        future.set_exception(exc)
    finally:
        with _flight_lock:
            if _flight is not None and _flight[2] is future:
                _flight = None  # ended: hold neither the features nor a result nobody may collect


def _descent(x: np.ndarray, k: int, seed: int) -> Graph:
    from pynndescent import NNDescent

    # No copy for float32 C-order rows, a memory map included (a view of it); pynndescent then keeps ONE unit-row
    # copy of its own (its cosine normalises into a new array): N x D float32 in RAM while it runs.
    data = np.ascontiguousarray(x, dtype=np.float32)
    search = max(k + 1, MIN_DESCENT_NEIGHBOURS)  # +1: NN-descent lists each row among its own neighbours
    index = NNDescent(
        data, metric="cosine", n_neighbors=search, random_state=seed, low_memory=True, compressed=True, verbose=False
    )
    indices, distances = index.neighbor_graph
    return drop_self(indices, distances, k)


def drop_self(indices: np.ndarray, distances: np.ndarray, k: int) -> Graph:
    """Remove each row's own index from its neighbour list (wherever it sits: an exact copy ties with it at
    distance 0) and keep the first k others: (int64 (N, k), float32 (N, k)), nearest first."""
    n = indices.shape[0]
    indices = np.asarray(indices, dtype=np.int64)
    distances = np.asarray(distances, dtype=np.float32)
    keep = (indices != np.arange(n)[:, None]) & (indices >= 0)  # -1: a slot NN-descent could not fill
    # Stable order of the kept columns: sort by "dropped" (False first) keeps the nearest-first order.
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    out_idx = np.take_along_axis(indices, order, axis=1)
    out_dist = np.take_along_axis(distances, order, axis=1)
    # pynndescent's cosine distance can come out a hair below 0 for parallel vectors.
    return out_idx, np.clip(out_dist, 0.0, 2.0).astype(np.float32)


def graph_neighbours(
    graph: Graph | None, unit: np.ndarray | Callable[[], np.ndarray], row: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """A row's k nearest other rows: the graph's row when it holds k columns (no work at all), otherwise the exact
    one-against-all `neighbours_of(unit, row, k)` (O(N) per click). unit: L2-normalised features (N, D), or a
    function returning them (called only when needed: at 1M rows they are gigabytes)."""
    if graph is not None and k <= graph[0].shape[1] and 0 <= row < graph[0].shape[0]:
        return graph[0][row, :k].copy(), graph[1][row, :k].copy()
    return neighbours_of(unit() if callable(unit) else unit, int(row), k)


def recall_at(approx: np.ndarray, exact: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each row's true k nearest (exact (M, >=k)) found among the approximate k (M, >=k)."""
    a, e = approx[:, :k], exact[:, :k]
    if e.size == 0:
        return 1.0
    hits = sum(len(np.intersect1d(a[i], e[i], assume_unique=True)) for i in range(e.shape[0]))
    return hits / e.size

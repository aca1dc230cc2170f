"""The neighbour graph of an Embedding (analysis/graph.py), built once and cached beside its embeddings.

Cache: RUN/embeddings/<embeddings stem>.knn-<k>.npz (indices, distances, and the row count), written atomically.
Like the UMAP layouts (maps.py), the file is named after the embeddings' cache stem, so a stale embeddings file takes
its graphs with it (embeddings.py removes every file of an older stem), and embeddings that are not cached (their
run folder lies inside the image folder, or caching was off) get a graph in memory only: nothing is ever written
inside the image folder.

One graph serves every k up to its own: `neighbour_graph(emb, k)` reads the smallest cached graph with at least k
columns (and returns its first k), else builds one with `graph_k(k)` columns (enough for UMAP's default n_neighbors
15, which counts the point itself, and the outliers' k 10) and caches it, removing the smaller graphs it replaces.
The last graph used is also kept in memory (for the one embedding on screen), so Explore's outliers, duplicates,
clicks and the UMAP map do not read the file again.
"""

from __future__ import annotations

import io
import re
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import Cancelled, WriteError
from workbench.files import atomic_write_bytes, is_inside
from workbench.results.embeddings import EMBEDDINGS_DIR, Embedding

if TYPE_CHECKING:
    from workbench.analysis.graph import Graph
    from workbench.engine.report import Reporter

UMAP_NEIGHBOURS = 15  # maps.UmapParams' default n_neighbors
_GRAPH_FILE = re.compile(r"\.knn-(\d+)\.npz$")


def graph_k(k: int = 0) -> int:
    """The columns to build for a request of k: k, and at least 16, enough for UMAP's default n_neighbors 15 with a
    column to spare (UMAP counts each point among its own neighbours) and for the outliers' k 10."""
    return max(k, UMAP_NEIGHBOURS + 1)


def graph_cache_path(emb: Embedding, k: int) -> Path | None:
    """Where the k-column graph of `emb` is cached; None when `emb` is not cached itself (or its run folder lies
    inside its image folder)."""
    if not emb.key or emb.run_dir is None or is_inside(emb.run_dir / EMBEDDINGS_DIR, emb.root):
        return None
    return emb.run_dir / EMBEDDINGS_DIR / f"{emb.key}.knn-{k}.npz"


class _Memo:
    """The graph of the embedding last asked about (identity, not equality: the arrays are not compared)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one build at a time; a second caller waits (and can be cancelled meanwhile)
        self.emb: weakref.ref[Embedding] | None = None  # weak: the features of embeddings left behind are freed
        self.graph: Graph | None = None

    def get(self, emb: Embedding, k: int) -> Graph | None:
        graph, ref = self.graph, self.emb
        if ref is not None and ref() is emb and graph is not None and graph[0].shape[1] >= min(k, len(emb) - 1):
            return graph
        return None

    def put(self, emb: Embedding, graph: Graph) -> None:
        self.emb, self.graph = weakref.ref(emb), graph


_memo = _Memo()


def in_memory(emb: Embedding, k: int) -> Graph | None:
    """The graph of `emb` if it is in memory with at least k columns (its first k), else None; never builds."""
    graph = _memo.get(emb, k)
    return None if graph is None else (graph[0][:, :k], graph[1][:, :k])


def forget() -> None:
    """Drop the graph kept in memory (memory back; the cache files stay)."""
    _memo.emb, _memo.graph = None, None


def neighbour_graph(
    emb: Embedding,
    k: int = 0,
    reporter: Reporter | None = None,
    *,
    build: Callable[..., Graph] | None = None,
) -> Graph:
    """(indices int64 (N, k'), cosine distances float32 (N, k')) of `emb`, k' = min(k, N - 1) (k=0: graph_k()):
    from memory, the run's cache, or built (progress and Cancel through `reporter`) and then cached. `build` is
    analysis.graph.build_graph (replaceable in tests). Raises Cancelled; a cache that cannot be written is reported
    and skipped."""
    want = k if k > 0 else graph_k()
    graph = _memo.get(emb, want)
    if graph is None:
        graph = _locked(emb, want, reporter, build)
    return graph[0][:, :want], graph[1][:, :want]


def _locked(emb: Embedding, want: int, reporter: Reporter | None, build: Callable[..., Graph] | None) -> Graph:
    should_stop = reporter.should_stop if reporter is not None else (lambda: False)
    while not _memo.lock.acquire(timeout=0.1):  # another task is building: wait for it, cancellably
        if should_stop():
            raise Cancelled("The neighbour graph was cancelled.")
    try:
        graph = _memo.get(emb, want)  # the other task may have built just this
        if graph is None:
            graph = load_cached_graph(emb, want)
            if graph is None:
                graph = _build_and_cache(emb, graph_k(want), reporter, build)
            elif reporter is not None:
                reporter.message(f"Loaded the cached neighbour graph of {len(emb):,} points.")
            _memo.put(emb, graph)
        return graph
    finally:
        _memo.lock.release()


def _build_and_cache(emb: Embedding, k: int, reporter: Reporter | None, build: Callable[..., Graph] | None) -> Graph:
    from workbench.analysis import graph as graphs

    build = build or graphs.build_graph
    n = len(emb)
    if reporter is not None:
        how = "exact" if graphs.is_exact(n, emb.features.shape[1]) else "approximate, NN-descent"
        reporter.message(f"Finding each point's {k} nearest neighbours among {n:,} ({how}) …")
    graph = build(
        emb.features,
        k,
        progress=reporter.progress if reporter is not None else None,
        should_stop=reporter.should_stop if reporter is not None else None,
    )
    try:
        save_cached_graph(emb, graph)
    except WriteError as exc:  # a cache is a convenience: say so, and use the graph anyway
        if reporter is not None:
            reporter.message(f"The neighbour graph was not cached: {exc}")
    return graph


def load_cached_graph(emb: Embedding, k: int) -> Graph | None:
    """The smallest cached graph of `emb` with at least min(k, N - 1) columns, whole; None when there is none (or it
    does not fit the embeddings: another row count, a damaged file)."""
    n = len(emb)
    for columns, path in _cached_graphs(emb):
        if columns < min(k, n - 1):
            continue
        try:
            with np.load(path, allow_pickle=False) as f:
                indices, distances = f["indices"].astype(np.int64), f["distances"].astype(np.float32)
                rows = int(f["rows"])
        except (OSError, ValueError, KeyError):
            continue  # damaged: rebuilt (and replaced)
        if rows == n and indices.shape == distances.shape == (n, min(columns, n - 1)):
            return indices, distances
    return None


def save_cached_graph(emb: Embedding, graph: Graph) -> Path | None:
    """Write the graph beside the embeddings (atomically) and remove the smaller graphs it makes redundant."""
    indices, distances = graph
    k = indices.shape[1]
    path = graph_cache_path(emb, k)
    if path is None:
        return None
    buffer = io.BytesIO()
    small = np.int32 if len(emb) < 2**31 else np.int64  # half the file for any folder there is
    np.savez(buffer, indices=indices.astype(small), distances=distances.astype(np.float32), rows=np.int64(len(emb)))
    atomic_write_bytes(path, buffer.getbuffer())
    for columns, old in _cached_graphs(emb):
        if columns < k:
            old.unlink(missing_ok=True)
    return path


def _cached_graphs(emb: Embedding) -> list[tuple[int, Path]]:
    """(columns, path) of the cached graphs of `emb`, fewest columns first."""
    probe = graph_cache_path(emb, 0)
    if probe is None or not probe.parent.is_dir():
        return []
    found = []
    for path in probe.parent.glob(f"{emb.key}.knn-*.npz"):
        match = _GRAPH_FILE.search(path.name)
        if match and path.name == f"{emb.key}.knn-{match.group(1)}.npz":
            found.append((int(match.group(1)), path))
    return sorted(found)

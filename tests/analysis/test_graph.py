"""The neighbour graph and what is read off it, held to brute force written out in numpy: outlier scores,
near-duplicate pairs and a row's neighbours on the exact path; recall@10 and planted finds on the approximate
(pynndescent) path, wide rows through principal components and an exact re-rank (from a memory map without copying
it); Cancel returns promptly although NN-descent cannot be interrupted."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest

from workbench.analysis import graph as graphs
from workbench.analysis import graph_reduce
from workbench.analysis.duplicates import DuplicatePair, duplicates_from_graph
from workbench.analysis.graph import build_graph, drop_self, graph_neighbours, recall_at
from workbench.analysis.neighbours import normalize_rows
from workbench.analysis.outliers import outlier_scores, outliers_from_graph
from workbench.analysis.umap_scale import knn_with_self
from workbench.errors import Cancelled


def _clustered(n: int, d: int, seed: int = 0, clusters: int = 20, noise: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d))
    return (centres[rng.integers(0, clusters, n)] + noise * rng.normal(size=(n, d))).astype(np.float32)


def _brute_sims(x: np.ndarray) -> np.ndarray:
    """(N, N) cosine similarities in float64, self excluded (-inf)."""
    x = x.astype(np.float64)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    return sims


def _brute_knn(x: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-_brute_sims(x), axis=1, kind="stable")[:, :k]


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    return _clustered(300, 12, seed=1, clusters=6, noise=0.4)


def test_exact_graph_matches_brute_force(points):
    idx, dist = build_graph(points, 7)
    sims = _brute_sims(points)
    np.testing.assert_array_equal(idx, _brute_knn(points, 7))  # continuous data: no ties
    np.testing.assert_allclose(dist, 1 - np.take_along_axis(sims, idx, 1), atol=1e-5)
    assert idx.dtype == np.int64 and dist.dtype == np.float32


def test_outliers_from_the_graph_equal_the_mean_distance_to_the_k_nearest(points):
    idx, dist = build_graph(points, 16)
    sims = np.sort(_brute_sims(points), axis=1)[:, ::-1]  # most similar first
    for k in (1, 5, 10):
        expected = (1 - sims[:, :k]).mean(axis=1)
        np.testing.assert_allclose(outliers_from_graph(dist, k), expected, atol=1e-5)
        np.testing.assert_allclose(outlier_scores(points, k), expected, atol=1e-5)
    with pytest.raises(ValueError):
        outliers_from_graph(dist, 0)
    assert outliers_from_graph(np.zeros((1, 0), np.float32)).tolist() == [0.0]


def test_duplicates_from_the_graph_equal_every_pair_above_the_threshold():
    rng = np.random.default_rng(2)
    x = _clustered(200, 16, seed=2, clusters=8, noise=0.4)
    copies = rng.choice(200, size=6, replace=False)
    x = np.vstack([x, x[copies] * 3 + 1e-3 * rng.normal(size=(6, 16))]).astype(np.float32)  # near copies
    x[5] = x[4]  # and one exact copy
    sims = _brute_sims(x)
    idx, dist = build_graph(x, 16)
    for threshold in (0.999, 0.95):
        i, j = np.nonzero(np.triu(sims >= threshold, 1))
        expected = set(zip(i.tolist(), j.tolist(), strict=True))
        pairs = duplicates_from_graph(idx, dist, threshold)
        found = [(p.first, p.second) for p in pairs]
        assert len(found) == len(set(found)) and set(found) == expected and len(expected) >= 7  # each pair once
        np.testing.assert_allclose([p.similarity for p in pairs], [sims[p] for p in found], atol=1e-5)
        # most similar first; equal (float32) similarities by index
        assert [(-p.similarity, p.first, p.second) for p in pairs] == sorted(
            (-p.similarity, *q) for p, q in zip(pairs, found, strict=True)
        )
        assert all(isinstance(p, DuplicatePair) and p.first < p.second for p in pairs)
    assert (4, 5) in {(p.first, p.second) for p in duplicates_from_graph(idx, dist, 0.999)}
    capped = duplicates_from_graph(idx, dist, -1.0, max_pairs=7)  # every edge qualifies: the 7 most similar
    assert len(capped) == 7 and [p.similarity for p in capped] == sorted((p.similarity for p in capped), reverse=True)
    with pytest.raises(ValueError):
        duplicates_from_graph(idx, dist, 1.5)


def test_graph_neighbours_use_the_graph_row_and_fall_back_to_one_exact_pass(points):
    graph = build_graph(points, 5)
    unit = normalize_rows(points)
    expected = _brute_knn(points, 12)
    rows, dist = graph_neighbours(graph, unit, 7, 4)
    assert rows.tolist() == expected[7, :4].tolist() and np.shares_memory(rows, graph[0]) is False
    rows, dist = graph_neighbours(graph, unit, 7, 12)  # more than the graph holds: the exact one-against-all pass
    assert rows.tolist() == expected[7].tolist() and dist.shape == (12,)
    assert graph_neighbours(None, lambda: unit, 7, 3)[0].tolist() == expected[7, :3].tolist()
    assert graph_neighbours(graph, lambda: pytest.fail("not needed"), 7, 5)[0].tolist() == expected[7, :5].tolist()


def test_drop_self_wherever_it_sits_and_umap_layout():
    idx = np.array([[0, 2, 1], [0, 1, 2], [2, 1, 0]])  # row 1's exact copy (row 0) tied ahead of itself
    dist = np.array([[0.0, 0.1, 0.2], [0.0, 0.0, 0.3], [-1e-7, 0.4, 0.5]], np.float32)
    out_idx, out_dist = drop_self(idx, dist, 2)
    assert out_idx.tolist() == [[2, 1], [0, 2], [1, 0]]
    np.testing.assert_allclose(out_dist, [[0.1, 0.2], [0.0, 0.3], [0.4, 0.5]])
    u_idx, u_dist = knn_with_self(out_idx, out_dist, 2)  # what UMAP is given: each row first
    assert u_idx.tolist() == [[0, 2], [1, 0], [2, 1]] and u_dist[:, 0].tolist() == [0, 0, 0]


def _low_rank(n: int, d: int, latent: int, seed: int, noise: float = 0.05, clusters: int = 40) -> np.ndarray:
    """Wide rows of low intrinsic dimension, as encoder features are: clustered `latent`-d codes mapped linearly to
    d dimensions, made non-negative-ish by an offset (ReLU features share a large mean), plus isotropic noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, latent))
    z = centres[rng.integers(0, clusters, n)] + 0.5 * rng.normal(size=(n, latent))
    mix = rng.normal(size=(latent, d)) / np.sqrt(latent)
    return (z @ mix + 1.0 + noise * rng.normal(size=(n, d))).astype(np.float32)


def test_principal_axes_keep_the_cosines_of_rows_that_span_few_dimensions(tmp_path, monkeypatch):
    x = _low_rank(400, 300, latent=12, seed=6, noise=0.0)  # rank 13 (the offset adds one): 13 axes hold everything
    axes = graph_reduce.principal_axes(x, 13)
    assert axes.shape == (300, 13) and axes.dtype == np.float32
    np.testing.assert_allclose(axes.T @ axes, np.eye(13), atol=1e-5)
    proj = graph_reduce.project(x, axes)
    unit = normalize_rows(x).astype(np.float64)
    np.testing.assert_allclose(proj @ proj.T, unit @ unit.T, atol=1e-4)  # uncentred: the inner products themselves
    path = tmp_path / "x.npy"
    np.save(path, x)
    monkeypatch.setattr(graph_reduce, "CHUNK_BYTES", 300 * 4 * 7)  # 7 rows a step: the last chunk is short
    seen = []
    chunked = graph_reduce.project(np.load(path, mmap_mode="r"), axes, progress=lambda d, t: seen.append((d, t)))
    np.testing.assert_allclose(chunked, proj, atol=1e-6)
    assert seen[0] == (7, 400) and seen[-1] == (400, 400) and len(seen) == 58


def test_rerank_orders_each_rows_candidates_by_the_exact_full_width_cosine():
    x = _clustered(200, 300, seed=7, clusters=5, noise=0.5)
    sims = _brute_sims(x)
    truth = _brute_knn(x, 20)
    rng = np.random.default_rng(8)
    shuffled = np.stack([rng.permutation(row) for row in truth])  # the right candidates, in the wrong order
    candidates = np.concatenate([shuffled, np.full((200, 1), -1)], axis=1)  # and an empty slot
    idx, dist = graph_reduce.rerank(x, candidates, 6)
    np.testing.assert_array_equal(idx, truth[:, :6])
    np.testing.assert_allclose(dist, 1 - np.take_along_axis(sims, idx, 1), atol=1e-5)
    idx, dist = graph_reduce.rerank(x, candidates, 21)  # every slot: the empty one last, at distance 2
    assert (idx[:, -1] == -1).all() and (dist[:, -1] == 2).all() and (np.diff(dist, axis=1) >= 0).all()


def test_wide_rows_go_to_nn_descent_as_principal_components_and_come_back_reranked(monkeypatch):
    x = _low_rank(300, 512, latent=16, seed=9)
    truth = _brute_knn(x, 60)
    calls = []

    def fake_descent(data, k, seed):  # an NN-descent that returns the true k nearest, scrambled
        calls.append((data.shape, k))
        order = np.random.default_rng(seed).permutation(k)
        return truth[:, order], np.zeros((len(data), k), np.float32)

    monkeypatch.setattr(graphs, "_descent", fake_descent)
    assert graphs.reduced_dim(512) == graphs.REDUCED_DIM < 512
    assert graphs.reduced_dim(graphs.REDUCE_ABOVE_DIM) == graphs.REDUCE_ABOVE_DIM  # no wider: searched as it is
    seen = []
    idx, dist = build_graph(x, 10, exact_max_rows=0, progress=lambda d, t: seen.append((d, t)))
    assert calls == [((300, graphs.REDUCED_DIM), graphs.MIN_DESCENT_NEIGHBOURS - 1)]
    sims = _brute_sims(x)
    assert recall_at(idx, truth, 10) == 1.0  # the true 10 nearest, although NN-descent's order was scrambled ...
    np.testing.assert_allclose(dist, 1 - np.take_along_axis(sims, truth[:, :10], 1), atol=1e-5)  # ... nearest first
    np.testing.assert_allclose(dist, 1 - np.take_along_axis(sims, idx, 1), atol=1e-5)  # (float32 near-ties may swap)
    assert (0, 0) in seen and seen[-1] == (300, 300)

    with pytest.raises(Cancelled):  # cancelled while projecting: NN-descent never starts
        build_graph(x, 10, exact_max_rows=0, should_stop=lambda: True)
    assert len(calls) == 1
    with pytest.raises(Cancelled):  # cancelled once NN-descent has run: the re-rank stops
        build_graph(x, 10, exact_max_rows=0, should_stop=lambda: len(calls) > 1)
    assert len(calls) == 2


# The approximate path compiles pynndescent's numba kernels on its first call in a process: ~1 minute on two quiet
# cores, several on a busy machine. These two tests therefore are slow (the first one pays the compile).
COMPILE_TIMEOUT_S = 1200


@pytest.mark.slow
@pytest.mark.timeout(COMPILE_TIMEOUT_S)
def test_approximate_graph_recall_at_10_against_brute_force():
    x = _clustered(3000, 64, seed=3, clusters=30, noise=0.5)
    idx, dist = build_graph(x, 10, exact_max_rows=100)  # forced onto pynndescent
    assert idx.shape == (3000, 10) and not (idx == np.arange(3000)[:, None]).any()
    assert recall_at(idx, _brute_knn(x, 10), 10) >= 0.95
    sims = _brute_sims(x)
    np.testing.assert_allclose(dist, 1 - np.take_along_axis(sims, idx, 1), atol=1e-4)  # true distances of its edges
    again = build_graph(x, 10, exact_max_rows=100)
    np.testing.assert_array_equal(again[0], idx)  # deterministic under the fixed seed


@pytest.mark.slow  # NN-descent on 5,000 rows of 128 components, and a float64 brute force of 5,000 x 1,024
@pytest.mark.timeout(COMPILE_TIMEOUT_S)
def test_wide_low_rank_rows_through_principal_components_and_a_memory_map(tmp_path, monkeypatch):
    n, d = 5000, 1024
    x = _low_rank(n, d, latent=32, seed=10)
    assert graphs.reduced_dim(d) < d
    monkeypatch.setattr(graph_reduce, "PCA_SAMPLE_ROWS", 500)  # a sample smaller than the rows, as at 1M rows
    monkeypatch.setattr(graph_reduce, "CHUNK_BYTES", 2**20)  # 256 rows of 1,024 a step: many chunks
    idx, dist = build_graph(x, 10, exact_max_rows=0)
    sims = _brute_sims(x)
    assert recall_at(idx, _brute_knn(x, 10), 10) >= 0.95
    np.testing.assert_allclose(dist, 1 - np.take_along_axis(sims, idx, 1), atol=1e-5)  # exact full-width cosines
    assert not (idx == np.arange(n)[:, None]).any()

    path = tmp_path / "features.npy"
    np.save(path, x)
    mapped = np.load(path, mmap_mode="r")  # as the app reads its embeddings cache: read-only, never copied whole
    again = build_graph(mapped, 10, exact_max_rows=0)  # also compiles the re-rank kernel for read-only input
    np.testing.assert_array_equal(again[0], idx)
    np.testing.assert_array_equal(again[1], dist)
    peaks, real_descent = [], graphs._descent

    def descent_not_traced(data, k, seed):  # pynndescent's own working memory (GBs traced even here) is not ours
        peaks.append(tracemalloc.get_traced_memory()[1])  # projecting: the sample, a chunk, the (N, P) result
        try:
            return real_descent(data, k, seed)
        finally:
            tracemalloc.reset_peak()

    monkeypatch.setattr(graphs, "_descent", descent_not_traced)
    tracemalloc.start()  # numpy's allocations are traced (numba's kernels' and torch's are not)
    try:
        build_graph(mapped, 10, exact_max_rows=0)
        peaks.append(tracemalloc.get_traced_memory()[1])  # re-ranking: a chunk of candidates, the (N, k) result
    finally:
        tracemalloc.stop()
    assert len(peaks) == 2 and max(peaks) < x.nbytes / 2  # a copy of x would be 20 MB alone; ~5 MB measured


@pytest.mark.slow  # NN-descent on 50,000 rows: ~20 s on two busy cores once compiled
@pytest.mark.timeout(COMPILE_TIMEOUT_S)
def test_a_planted_duplicate_and_outlier_are_found_at_50000_rows_through_the_approximate_path():
    n = 50_000
    x = _clustered(n, 32, seed=4, clusters=50, noise=0.3)
    rng = np.random.default_rng(99)  # not _clustered's seed: its first draws are the cluster centres
    x[123] = x[40_000] * 2 + 1e-4 * rng.normal(size=32)  # a near copy (another scale: the same direction)
    x[777] = rng.normal(size=32) * 0.5  # far from every cluster
    assert n > graphs.EXACT_MAX_ROWS
    idx, dist = build_graph(x, 16, exact_max_rows=graphs.EXACT_MAX_ROWS)  # approximate (N^2 D alone would be exact)
    pairs = duplicates_from_graph(idx, dist, 0.9999)
    assert (123, 40_000) in {(p.first, p.second) for p in pairs}
    scores = outliers_from_graph(dist, 10)
    assert int(np.argmax(scores)) == 777


def test_cancel_returns_promptly_while_nn_descent_runs(monkeypatch):
    release, calls = threading.Event(), []

    def slow_descent(x, k, seed):
        calls.append(k)
        release.wait(10)  # an NN-descent that cannot be interrupted
        return np.arange(len(x) * k).reshape(len(x), k), np.zeros((len(x), k), np.float32)

    monkeypatch.setattr(graphs, "_descent", slow_descent)
    x = np.random.default_rng(5).normal(size=(50, 4)).astype(np.float32)
    asked = threading.Event()

    def should_stop() -> bool:
        asked.set()
        return True

    seen = []
    try:
        with pytest.raises(Cancelled):
            build_graph(x, 3, exact_max_rows=10, should_stop=should_stop, progress=lambda d, t: seen.append((d, t)))
        assert asked.is_set() and seen == [(0, 0)]  # indeterminate progress while it ran

        def let_it_finish() -> bool:
            release.set()
            return False

        # asked again while the abandoned build still runs: it waits for that build rather than start a second one
        idx, _ = build_graph(x, 3, exact_max_rows=10, should_stop=let_it_finish)
        assert calls == [3] and idx.tolist() == np.arange(150).reshape(50, 3).tolist()
        with pytest.raises(Cancelled):
            build_graph(x[:20], 3, should_stop=lambda: True)  # the exact path cancels between batches
    finally:
        release.set()

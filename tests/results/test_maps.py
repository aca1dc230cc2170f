"""2-D maps: the quick PCA map, UMAP parameters, the UMAP cache next to the embeddings (shared by the app and the
CLI), and the UMAP child process (cancel ends it)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from workbench.engine.report import NullReporter
from workbench.errors import Cancelled, WorkbenchError
from workbench.results import maps
from workbench.results.embeddings import Embedding
from workbench.results.maps import UmapParams, quick_map, umap_map
from workbench.results.umap_process import UmapProcess


def _tiny(tmp_path, key: str = "raw-x-y") -> Embedding:
    return Embedding(
        tmp_path,
        ["a.png", "b.png"],
        np.array([-1, -1]),
        [],
        np.ones((2, 3), np.float32),
        "raw",
        key=key,
        run_dir=tmp_path,
    )


def test_quick_map_is_pca_for_small_inputs_and_a_subset_fit_for_large_ones(monkeypatch):
    from workbench.analysis.project import pca_2d

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(400, 6)) * [8, 4, 1, 1, 1, 1]).astype(np.float32)
    np.testing.assert_array_equal(quick_map(x), pca_2d(x))
    monkeypatch.setattr(maps, "PCA_FIT_FLOPS", 100 * 36)
    monkeypatch.setattr(maps, "PCA_MIN_FIT_ROWS", 100)
    xy = quick_map(x)  # axes fitted on 100 rows, every row projected
    assert xy.shape == (400, 2) and xy.dtype == np.float32
    ref = pca_2d(x)
    for axis in range(2):
        assert abs(np.corrcoef(xy[:, axis], ref[:, axis])[0, 1]) > 0.97  # the same map up to sampling noise


def test_umap_params_are_validated():
    for bad in (UmapParams(n_neighbors=1), UmapParams(min_dist=2.0), UmapParams(metric="hamming!")):
        with pytest.raises(WorkbenchError):
            bad.validate()
    assert UmapParams().suffix() == "umap-15-0.1-cosine"


def test_umap_cache_round_trip(tmp_path):
    emb = _tiny(tmp_path)
    params = UmapParams(n_neighbors=5)
    assert maps.load_cached_umap(emb, params) is None
    maps.save_cached_umap(emb, params, np.array([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(maps.load_cached_umap(emb, params), [[1, 2], [3, 4]])
    assert maps.load_cached_umap(emb, UmapParams(n_neighbors=6)) is None


class _Fit:
    """Stands in for the UMAP fit: this tests the cache around it, not the projection (tested below)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x: np.ndarray, params: UmapParams) -> np.ndarray:
        self.calls += 1
        return np.full((len(x), 2), float(params.n_neighbors))


def test_umap_map_fits_once_then_reads_the_cache_and_caches_nothing_when_cancelled(tmp_path):
    emb, fit = _tiny(tmp_path), _Fit()
    first = umap_map(emb, UmapParams(n_neighbors=3), fit)
    again = umap_map(emb, UmapParams(n_neighbors=3), fit)
    assert fit.calls == 1 and first.dtype == np.float32 and first.shape == (2, 2)
    np.testing.assert_array_equal(again, first)
    with pytest.raises(WorkbenchError, match="n_neighbors"):
        umap_map(emb, UmapParams(n_neighbors=1), fit)

    class Stopped(NullReporter):
        def should_stop(self) -> bool:
            return True

    with pytest.raises(Cancelled):
        umap_map(emb, UmapParams(n_neighbors=4), fit, reporter=Stopped())
    assert maps.load_cached_umap(emb, UmapParams(n_neighbors=4)) is None
    uncached = _tiny(tmp_path, key="")  # embeddings that were not cached: neither are their maps
    umap_map(uncached, UmapParams(n_neighbors=3), fit)
    umap_map(uncached, UmapParams(n_neighbors=3), fit)
    assert fit.calls == 4


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def test_cancelling_a_umap_fit_ends_the_child_process_at_once():
    service = UmapProcess()
    x = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    started = time.monotonic()
    with pytest.raises(Cancelled):
        service.run(x, UmapParams(), should_stop=lambda: time.monotonic() - started > 1.0)  # still compiling
    assert time.monotonic() - started < 10
    assert not service.is_running()
    service.start()
    pid = service.pid
    assert _alive(pid)
    service.stop()
    assert not _alive(pid) and service.pid is None


@pytest.mark.slow
def test_umap_in_the_child_process_matches_umap_2d_in_process():
    """The app's UMAP path gives umap_2d's layout (same seed), computed in another process, and so the CLI's
    (fit_umap): the two share one cache."""
    from workbench.analysis.project import umap_2d

    x = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    service = UmapProcess()
    try:
        xy = service.run(x, UmapParams(n_neighbors=5))
    finally:
        service.stop()
    assert xy.shape == (60, 2) and np.isfinite(xy).all()
    np.testing.assert_allclose(xy, umap_2d(x, n_neighbors=5), atol=1e-3)
    np.testing.assert_allclose(xy, maps.fit_umap(x, UmapParams(n_neighbors=5)), atol=1e-3)


def test_features_reach_the_umap_child_as_a_file_reference_or_shared_memory(tmp_path):
    import pickle

    from workbench.results.umap_process import open_shared, share_array

    x = np.random.default_rng(1).normal(size=(500, 64)).astype(np.float32)
    np.save(tmp_path / "f.npy", x)
    mapped = np.load(tmp_path / "f.npy", mmap_mode="r")
    for source, kind in ((mapped, "file"), (mapped[10:], "shm"), (x, "shm")):  # a slice keeps its parent's offset
        ref, shm = share_array(source)
        try:
            assert ref[0] == kind and len(pickle.dumps(ref)) < 1_000  # a reference, never the 128 KB of rows
            opened, handle = open_shared(ref)
            np.testing.assert_array_equal(opened, source)
            del opened
            if handle is not None:
                handle.close()
        finally:
            if shm is not None:
                shm.close()
                shm.unlink()


def test_knn_with_self_puts_each_row_first_and_cuts_to_k():
    from workbench.analysis.umap_scale import knn_with_self

    idx = np.array([[1, 2], [0, 2], [1, 0]])
    dist = np.array([[0.1, 0.2], [0.1, 0.3], [0.2, 0.4]])
    i, d = knn_with_self(idx, dist, 2)  # the row itself was missing: prepended at distance 0
    np.testing.assert_array_equal(i, [[0, 1], [1, 0], [2, 1]])
    np.testing.assert_allclose(d, [[0, 0.1], [0, 0.1], [0, 0.2]])
    i2, _ = knn_with_self(i, d, 2)  # already there: unchanged
    np.testing.assert_array_equal(i2, i)
    with pytest.raises(ValueError, match="same"):
        knn_with_self(idx, dist[:, :1], 2)


def test_the_plan_changes_above_the_large_threshold_and_the_map_says_which(tmp_path, monkeypatch):
    from workbench.analysis import umap_scale

    assert umap_scale.plan_umap(50_000, 15).strategy == "full"
    big = umap_scale.plan_umap(1_000_000, 15)
    assert (big.strategy, big.fit_rows, big.seeded) == ("sample", umap_scale.SAMPLE_ROWS, False)
    graph = (np.zeros((1_000_000, 15), np.int64), np.zeros((1_000_000, 15), np.float32))  # self excluded: 16 with it
    assert umap_scale.plan_umap(1_000_000, 15, graph).n_epochs == umap_scale.LARGE_EPOCHS
    assert umap_scale.plan_umap(1_000_000, 20, graph).strategy == "sample"  # too few neighbours: not usable
    monkeypatch.setattr(umap_scale, "LARGE_ROWS", 1)
    monkeypatch.setattr(umap_scale, "SAMPLE_ROWS", 1)
    emb = _tiny(tmp_path)
    calls = []
    umap_map(emb, UmapParams(n_neighbors=3), lambda x, p, *knn: calls.append(knn) or np.zeros((len(x), 2)))
    assert calls == [()] and maps.umap_note(emb, UmapParams(n_neighbors=3)).startswith("UMAP fitted on 1 of 2 points")
    five = Embedding(
        tmp_path, list("abcde"), np.full(5, -1), [], np.eye(5, dtype=np.float32), "raw", "raw-x-z", tmp_path
    )
    ring = (np.arange(5)[:, None] + np.arange(3)) % 5  # each row, then the next two
    graph = (ring, np.tile(np.float32([0, 0.2, 0.4]), (5, 1)))
    umap_map(five, UmapParams(n_neighbors=3), lambda x, p, *knn: calls.append(knn) or np.zeros((len(x), 2)), knn=graph)
    assert calls[1][0] is graph
    assert (
        maps.umap_note(five, UmapParams(n_neighbors=3))
        == "UMAP of 5 points on the precomputed neighbour graph, 100 epochs from a PCA start."
    )


@pytest.mark.slow
def test_a_precomputed_graph_replaces_umaps_own_and_shapes_the_layout(monkeypatch):
    """x is pure noise; the graph joins rows 0-99 among themselves and 100-199 among themselves. UMAP must not build
    its own graph (nearest_neighbors would raise), and the layout must show the graph's two groups."""
    import umap.umap_

    from workbench.analysis.umap_scale import umap_layout

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 16)).astype(np.float32)
    group = np.arange(200) // 100
    idx = np.stack([rng.choice(np.flatnonzero(group == g), 10, replace=False) for g in group])
    dist = np.sort(rng.uniform(0.1, 0.5, size=idx.shape).astype(np.float32), axis=1)

    def no_graph(*args, **kwargs):
        raise AssertionError("UMAP built its own neighbour graph")

    monkeypatch.setattr(umap.umap_, "nearest_neighbors", no_graph)
    xy, plan = umap_layout(x, n_neighbors=8, knn=(idx, dist))
    assert plan.strategy == "graph" and xy.shape == (200, 2)
    centres = np.stack([xy[group == g].mean(axis=0) for g in (0, 1)])
    nearest = np.linalg.norm(xy[:, None] - centres[None], axis=2).argmin(axis=1)
    assert (nearest == group).mean() > 0.95


@pytest.mark.slow
def test_the_sample_plan_places_the_rest_on_the_map_fitted_to_the_sample(monkeypatch):
    from workbench.analysis import umap_scale

    monkeypatch.setattr(umap_scale, "LARGE_ROWS", 300)
    monkeypatch.setattr(umap_scale, "SAMPLE_ROWS", 150)
    rng = np.random.default_rng(0)
    group = np.arange(400) % 2
    x = rng.normal(size=(400, 8)).astype(np.float32)
    x[:, 0] += 8 * (group == 0)  # two blobs in different directions: far apart in cosine distance too
    x[:, 1] += 8 * (group == 1)
    xy, plan = umap_scale.umap_layout(x, n_neighbors=10)
    assert plan.strategy == "sample" and plan.fit_rows == 150 and np.isfinite(xy).all()
    sample = np.linspace(0, 399, 150).round().astype(int)
    rest = np.setdiff1d(np.arange(400), sample)
    centres = np.stack([xy[sample][group[sample] == g].mean(axis=0) for g in (0, 1)])
    placed = np.linalg.norm(xy[rest][:, None] - centres[None], axis=2).argmin(axis=1)
    assert (placed == group[rest]).all()  # each placed row joins its own blob


@pytest.mark.slow
def test_the_umap_child_maps_the_features_file_and_exits_when_idle(tmp_path):
    x = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    np.save(tmp_path / "f.npy", x)
    features = np.load(tmp_path / "f.npy", mmap_mode="r")
    service = UmapProcess(idle_exit_s=0.5)
    try:
        xy = service.run(features, UmapParams(n_neighbors=5))
        pid = service.pid
        assert pid is not None and service.last_plan["strategy"] == "full"
        np.testing.assert_allclose(xy, maps.fit_umap(x, UmapParams(n_neighbors=5)), atol=1e-3)
        deadline = time.monotonic() + 30
        while (service.is_running() or _alive(pid)) and time.monotonic() < deadline:  # polled, not a fixed sleep
            time.sleep(0.05)
        assert not service.is_running() and not _alive(pid)
        again = service.run(features, UmapParams(n_neighbors=5))  # a fresh child answers the next request
        np.testing.assert_allclose(again, xy, atol=1e-3)
    finally:
        service.stop()

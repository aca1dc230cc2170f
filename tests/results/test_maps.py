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

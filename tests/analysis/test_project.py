import threading

import numpy as np
import pytest

from workbench.analysis import project
from workbench.analysis.project import pca_2d, umap_2d, warm_up_umap


def test_pca_2d_shape_dtype_and_dominant_direction():
    rng = np.random.default_rng(0)
    direction = np.zeros(10)
    direction[3] = 1.0
    t = rng.normal(size=200) * 10
    x = t[:, None] * direction + rng.normal(size=(200, 10)) * 0.1
    y = pca_2d(x)
    assert y.shape == (200, 2) and y.dtype == np.float32
    assert abs(np.corrcoef(y[:, 0], t)[0, 1]) > 0.999  # first axis follows the dominant direction
    assert y[:, 0].var() > 100 * y[:, 1].var()
    np.testing.assert_array_equal(y, pca_2d(x))  # deterministic, signs included


def test_pca_2d_equals_sklearns_full_pca_signs_included():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(1)
    x = (rng.normal(size=(500, 12)) * np.linspace(6, 0.5, 12) + rng.normal(size=12)).astype(np.float32)
    expected = PCA(n_components=2, svd_solver="full").fit_transform(x)
    np.testing.assert_allclose(pca_2d(x), expected, rtol=0, atol=1e-4 * np.abs(expected).max())


def test_wide_rows_get_the_exact_principal_axes_by_subspace_iteration():
    from workbench.analysis.project import EXACT_AXES_WIDTH, principal_axes

    rng = np.random.default_rng(2)
    d = EXACT_AXES_WIDTH + 300  # the iterative path
    basis = np.linalg.qr(rng.normal(size=(d, 20)))[0]  # 20 latent axes of falling spread, plus noise
    x = (rng.normal(size=(1500, 20)) * np.geomspace(10, 1, 20)) @ basis.T + rng.normal(size=(1500, d)) * 0.05
    mean, axes = principal_axes(x)
    centred = x - x.mean(axis=0)
    exact = np.linalg.eigh(centred.T @ centred)[1][:, ::-1][:, :2]
    np.testing.assert_allclose(mean, x.mean(axis=0))
    np.testing.assert_allclose(np.abs(np.sum(axes * exact, axis=0)), [1.0, 1.0], atol=1e-6)  # the same axes
    assert all(axes[np.abs(axes[:, j]).argmax(), j] > 0 for j in range(2))  # signs fixed as sklearn's


def test_pca_2d_handles_tiny_inputs():
    assert pca_2d(np.ones((1, 5))).tolist() == [[0.0, 0.0]]
    two = pca_2d(np.array([[0.0, 0.0], [2.0, 0.0]]))
    assert two.shape == (2, 2) and abs(two[0, 0] - two[1, 0]) == pytest.approx(2.0)
    assert pca_2d(np.arange(6.0).reshape(6, 1))[:, 1].tolist() == [0.0] * 6  # one feature: second axis is 0
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        pca_2d(np.zeros((0, 3)))


def test_umap_2d_falls_back_to_pca_below_four_rows():
    x = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    np.testing.assert_array_equal(umap_2d(x), pca_2d(x))


@pytest.fixture
def stub_warm_up(monkeypatch):
    """Replace the numba compilation with a warm-up that finishes when the test says so."""
    release = threading.Event()
    monkeypatch.setattr(project, "_warm_up_thread", None)
    monkeypatch.setattr(project, "_exact_ready", threading.Event())

    def fake_warm_up():
        release.wait(10)
        project._exact_ready.set()

    monkeypatch.setattr(project, "_warm_up", fake_warm_up)
    yield release
    release.set()


def test_warm_up_umap_starts_one_daemon_thread(stub_warm_up):
    first = warm_up_umap()
    assert first is warm_up_umap()
    assert first.daemon and first.is_alive()
    stub_warm_up.set()
    first.join(5)
    assert warm_up_umap() is first  # once per process, even after it finished


def test_umap_2d_waits_for_a_running_warm_up(stub_warm_up, monkeypatch):
    fitted = threading.Event()
    monkeypatch.setattr(project, "_fit_umap", lambda x, **kw: (fitted.set(), np.zeros((len(x), 2), np.float32))[1])
    warm_up_umap()
    caller = threading.Thread(target=umap_2d, args=(np.random.default_rng(0).normal(size=(10, 4)),))
    caller.start()
    assert not fitted.wait(0.3)  # blocked behind the warm-up
    stub_warm_up.set()
    caller.join(5)
    assert fitted.is_set()


@pytest.mark.slow
def test_umap_2d_separates_two_blobs():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(100, 16)) + 4 * np.eye(16)[0]
    b = rng.normal(size=(100, 16)) + 4 * np.eye(16)[1]
    y = umap_2d(np.concatenate([a, b]), seed=0)
    assert y.shape == (200, 2) and y.dtype == np.float32 and np.isfinite(y).all()
    ya, yb = y[:100], y[100:]
    gap = np.linalg.norm(ya.mean(0) - yb.mean(0))
    spread = (np.linalg.norm(ya - ya.mean(0), axis=1).mean() + np.linalg.norm(yb - yb.mean(0), axis=1).mean()) / 2
    assert gap > 3 * spread  # two compact islands, far apart
    # Each point's nearest neighbour in the layout comes from its own blob.
    d = np.linalg.norm(y[:, None] - y[None], axis=2)
    np.fill_diagonal(d, np.inf)
    assert (d.argmin(1) // 100 == np.arange(200) // 100).mean() > 0.98

"""The neighbour graph of an Embedding: built once, cached beside the embeddings (never inside the image folder),
reused for smaller k, removed with a stale embeddings file, and cancellable."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analysis import graph as graphs
from workbench.engine.report import NullReporter
from workbench.errors import Cancelled
from workbench.results import neighbour_graph as ng
from workbench.results.embeddings import EMBEDDINGS_DIR, Embedding, _remove_stale


def _emb(tmp_path, n: int = 60, key: str = "raw-abc-s1", seed: int = 0, run_dir=None) -> Embedding:
    rng = np.random.default_rng(seed)
    root = tmp_path / "images"
    root.mkdir(exist_ok=True)
    return Embedding(
        root,
        [f"{i}.png" for i in range(n)],
        np.full(n, -1),
        [],
        rng.normal(size=(n, 8)).astype(np.float32),
        "raw",
        key=key,
        run_dir=run_dir or tmp_path / "run",
    )


@pytest.fixture
def counting(monkeypatch):
    """Count the builds (and let them run for real)."""
    calls = []
    real = graphs.build_graph

    def build(x, k, **kw):
        calls.append(k)
        return real(x, k, **kw)

    monkeypatch.setattr(graphs, "build_graph", build)
    ng.forget()
    yield calls
    ng.forget()


def _brute(x, k):
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


def test_built_once_cached_beside_the_embeddings_and_reused_for_smaller_k(tmp_path, counting):
    emb = _emb(tmp_path)
    idx, dist = ng.neighbour_graph(emb, 10, NullReporter())
    assert idx.shape == (60, 10) and idx.tolist() == _brute(emb.features, 10).tolist()
    path = tmp_path / "run" / EMBEDDINGS_DIR / f"{emb.key}.knn-{ng.graph_k(10)}.npz"
    assert path.is_file() and counting == [16]
    assert not any((tmp_path / "images").iterdir())  # nothing inside the image folder
    ng.neighbour_graph(emb, 5)  # from memory
    ng.forget()
    again = _emb(tmp_path)  # the same embeddings loaded afresh: from the file
    idx5, _ = ng.neighbour_graph(again, 5)
    assert counting == [16] and idx5.tolist() == idx[:, :5].tolist()
    assert ng.neighbour_graph(again)[0].shape == (60, 16)
    big, _ = ng.neighbour_graph(again, 20)  # more than cached: built once more, and the smaller file goes
    assert counting == [16, 20] and big.tolist() == _brute(again.features, 20).tolist()
    assert not path.exists() and path.with_name(f"{emb.key}.knn-20.npz").is_file()


def test_a_changed_embeddings_file_removes_the_graph_and_rebuilds(tmp_path, counting):
    old = _emb(tmp_path, key="raw-abc-s1")
    ng.neighbour_graph(old)
    old_file = tmp_path / "run" / EMBEDDINGS_DIR / "raw-abc-s1.knn-16.npz"
    assert old_file.is_file()
    new = _emb(tmp_path, key="raw-abc-s2", seed=1)  # the folder or the checkpoint changed: a new state id
    _remove_stale(tmp_path / "run" / EMBEDDINGS_DIR, new.key)  # what compute_embeddings does: stale files go
    assert not old_file.exists()
    idx, _ = ng.neighbour_graph(new, 4)
    assert len(counting) == 2 and idx.tolist() == _brute(new.features, 4).tolist()


def test_a_damaged_or_mismatched_cache_is_rebuilt(tmp_path, counting):
    emb = _emb(tmp_path)
    ng.neighbour_graph(emb)
    ng.forget()
    path = ng.graph_cache_path(emb, 16)
    path.write_bytes(b"not an npz")
    assert ng.neighbour_graph(_emb(tmp_path))[0].tolist() == _brute(emb.features, 16).tolist()
    ng.forget()
    fewer = _emb(tmp_path, n=40)  # same key, other rows (cannot happen through compute_embeddings): not trusted
    assert ng.neighbour_graph(fewer)[0].shape == (40, 16) and len(counting) == 3


def test_uncached_embeddings_or_a_run_inside_the_image_folder_write_nothing(tmp_path, counting):
    emb = _emb(tmp_path, key="")
    assert ng.neighbour_graph(emb, 3)[0].shape == (60, 3) and not (tmp_path / "run").exists()
    inside = _emb(tmp_path, run_dir=tmp_path / "images" / "run")
    assert ng.graph_cache_path(inside, 16) is None
    ng.neighbour_graph(inside, 3)
    assert not (tmp_path / "images" / "run").exists()


def test_a_small_folder_has_n_minus_1_columns(tmp_path, counting):
    emb = _emb(tmp_path, n=5)
    idx, _ = ng.neighbour_graph(emb, 10)
    assert idx.shape == (5, 4)
    ng.forget()
    assert ng.neighbour_graph(_emb(tmp_path, n=5), 3)[0].shape == (5, 3) and len(counting) == 1  # the cached one


def test_cancel_raises_and_caches_nothing(tmp_path, counting):
    class Stop(NullReporter):
        def should_stop(self) -> bool:
            return True

    emb = _emb(tmp_path)
    with pytest.raises(Cancelled):
        ng.neighbour_graph(emb, 5, Stop())
    assert ng.graph_cache_path(emb, 16) is not None and not ng.graph_cache_path(emb, 16).exists()
    assert ng.in_memory(emb, 5) is None

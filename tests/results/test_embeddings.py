"""Explore's engine: embeddings of a folder per mode, cached in the run folder and recomputed when the checkpoint or
the folder changes; the quick PCA map; the UMAP child process (cancel ends it)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import write_class_folder
from workbench.config import ExperimentConfig
from workbench.engine.fit import fit
from workbench.engine.report import NullReporter
from workbench.errors import Cancelled, DataError, RunError, WorkbenchError
from workbench.results import embeddings
from workbench.results.embeddings import Embedding, UmapParams, compute_embeddings, quick_map
from workbench.results.evaluate import embed_folder
from workbench.results.umap_process import UmapProcess


def make_run(data: Path, run_dir: Path, steps: int = 2, image_size: int = 16) -> Path:
    """A real run, as small as it gets: small-cnn at 16 px, 2 steps, no monitoring, CPU."""
    config = ExperimentConfig()
    config.data.path = str(data)
    config.data.image_size = image_size
    config.model.encoder = "small-cnn"
    config.method.proj_hidden_dim = 32
    config.method.proj_output_dim = 16
    config.train.batch_size = 8
    config.train.max_steps = steps
    config.train.workers = 0
    config.train.device = "cpu"
    config.train.monitor_every_epochs = 0
    config.train.checkpoint_every_epochs = 0
    fit(config, run_dir)
    return run_dir


@pytest.fixture
def run(image_folder, tmp_path) -> Path:
    return make_run(image_folder, tmp_path / "run")


def _cache_files(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "embeddings").glob("*.npz"))


def test_trained_embeddings_match_embed_folder_and_are_cached(run, image_folder, one_torch_thread):
    emb = compute_embeddings(run, mode="trained", device="cpu")  # folder defaults to the training folder
    ref = embed_folder(run, image_folder, device="cpu")
    assert emb.root == image_folder.resolve() and len(emb) == 16 and not emb.cached
    assert [str(emb.path(i)) for i in range(16)] == [str(image_folder.resolve() / p) for p in ref["paths"]]
    np.testing.assert_allclose(emb.features, ref["embeddings"], atol=1e-5)
    assert emb.label(0) == "circle" and emb.label(15) == "square" and emb.class_names == ["circle", "square"]
    assert _cache_files(run) == [f"{emb.key}.npz"] and emb.key.startswith("trained-")
    again = compute_embeddings(run, image_folder, "trained", device="cpu")
    assert again.cached and again.key == emb.key and again.paths == emb.paths
    np.testing.assert_array_equal(again.features, emb.features)
    np.testing.assert_array_equal(again.labels, emb.labels)
    assert not any(p.suffix == ".npz" for p in image_folder.rglob("*"))  # nothing written in the image folder


def test_modes_differ_and_raw_is_the_pixels(run, image_folder, one_torch_thread):
    trained = compute_embeddings(run, image_folder, "trained", device="cpu")
    untrained = compute_embeddings(run, image_folder, "untrained", device="cpu")
    raw = compute_embeddings(run, image_folder, "raw", device="cpu")
    assert trained.features.shape == untrained.features.shape
    assert not np.allclose(trained.features, untrained.features)  # two steps of training changed the weights
    assert raw.features.shape == (16, 3 * 16 * 16) and 0 <= raw.features.min() and raw.features.max() <= 1
    assert len(_cache_files(run)) == 3
    with pytest.raises(ValueError, match="mode must be one of"):
        compute_embeddings(run, image_folder, "pixels")


def test_a_changed_checkpoint_or_folder_recomputes_and_replaces_the_stale_file(run, image_folder, one_torch_thread):
    first = compute_embeddings(run, image_folder, "trained", device="cpu")
    ckpt = run / "checkpoints" / "last.pt"
    state = torch.load(ckpt, weights_only=True)
    for name, tensor in state["model"].items():
        if name.startswith("encoder.") and tensor.is_floating_point():
            tensor.add_(0.5)  # new weights, as after more training
    torch.save(state, ckpt)
    second = compute_embeddings(run, image_folder, "trained", device="cpu")
    assert not second.cached and second.key != first.key
    assert not np.allclose(second.features, first.features)
    assert _cache_files(run) == [f"{second.key}.npz"]  # the stale file of this mode and folder is gone
    write_class_folder(image_folder, classes=("triangle",), per_class=2, seed=5)  # the folder changes
    third = compute_embeddings(run, image_folder, "trained", device="cpu")
    assert len(third) == 18 and not third.cached and "triangle" in third.class_names


def test_bad_input_raises_one_sentence(run, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        compute_embeddings(run, tmp_path / "nowhere", "trained", device="cpu")
    with pytest.raises(RunError, match="not a run folder"):
        compute_embeddings(tmp_path, mode="raw")
    (run / "checkpoints" / "last.pt").unlink()
    with pytest.raises(RunError, match="no trained weights yet"):
        compute_embeddings(run, mode="trained", device="cpu")
    assert len(compute_embeddings(run, mode="untrained", device="cpu")) == 16  # still possible without weights


class _StopAfterScan(NullReporter):
    def __init__(self):
        self.calls = 0

    def should_stop(self) -> bool:
        self.calls += 1
        return self.calls > 2


def test_cancel_stops_and_caches_nothing(run, image_folder):
    with pytest.raises(Cancelled):
        compute_embeddings(run, image_folder, "trained", device="cpu", reporter=_StopAfterScan())
    assert _cache_files(run) == []


def test_run_inside_the_image_folder_is_not_written_to(tmp_path, one_torch_thread):
    folder = write_class_folder(tmp_path / "photos", per_class=4)
    run = make_run(write_class_folder(tmp_path / "train", per_class=4), tmp_path / "train-run")
    inner = folder / "runs" / "r"
    inner.parent.mkdir()
    os.replace(run, inner)
    emb = compute_embeddings(inner, folder, "raw")
    assert len(emb) == 8 and emb.key == "" and not (inner / "embeddings").exists()


def test_quick_map_is_pca_for_small_inputs_and_a_subset_fit_for_large_ones(monkeypatch):
    from workbench.analysis.project import pca_2d

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(400, 6)) * [8, 4, 1, 1, 1, 1]).astype(np.float32)
    np.testing.assert_array_equal(quick_map(x), pca_2d(x))
    monkeypatch.setattr(embeddings, "PCA_FIT_FLOPS", 100 * 36)
    monkeypatch.setattr(embeddings, "PCA_MIN_FIT_ROWS", 100)
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
    emb = Embedding(
        tmp_path,
        ["a.png", "b.png"],
        np.array([-1, -1]),
        [],
        np.ones((2, 3), np.float32),
        "raw",
        key="raw-x-y",
        run_dir=tmp_path,
    )
    params = UmapParams(n_neighbors=5)
    assert embeddings.load_cached_umap(emb, params) is None
    embeddings.save_cached_umap(emb, params, np.array([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(embeddings.load_cached_umap(emb, params), [[1, 2], [3, 4]])
    assert embeddings.load_cached_umap(emb, UmapParams(n_neighbors=6)) is None


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
    """The app's UMAP path gives umap_2d's layout (same seed), computed in another process."""
    from workbench.analysis.project import umap_2d

    x = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    service = UmapProcess()
    try:
        xy = service.run(x, UmapParams(n_neighbors=5))
    finally:
        service.stop()
    assert xy.shape == (60, 2) and np.isfinite(xy).all()
    np.testing.assert_allclose(xy, umap_2d(x, n_neighbors=5), atol=1e-3)

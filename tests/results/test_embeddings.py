"""The one way to embed a folder with a run's encoder: embeddings per mode, equal to the encoder applied directly,
cached in the run folder and recomputed when the checkpoint or the folder changes; never written in the image folder.
The 2-D maps are tested in test_maps.py."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import write_class_folder
from workbench.config import ExperimentConfig
from workbench.engine.fit import fit
from workbench.engine.report import NullReporter
from workbench.errors import Cancelled, DataError, RunError
from workbench.results.embeddings import compute_embeddings
from workbench.results.evaluate import load_encoder


def make_run(data: Path, run_dir: Path, steps: int = 2, image_size: int = 16) -> Path:
    """A real run, as small as it gets: small-cnn at 16 px, 2 steps, no monitoring, CPU."""
    fit(tiny_config(data, steps, image_size), run_dir)
    return run_dir


def tiny_config(data: Path, steps: int = 2, image_size: int = 16) -> ExperimentConfig:
    config = ExperimentConfig()
    config.data.path = str(data)
    config.data.image_size = image_size
    config.model.encoder = "small-cnn"
    config.method.proj_hidden_dim = 32
    config.method.proj_output_dim = 16
    config.train.batch_size = 8
    config.train.max_steps = steps
    config.train.precision = "fp32"  # fine-tunes inherit it; see tests/engine/test_fit.py's tiny_config
    config.train.workers = 0
    config.train.device = "cpu"
    config.train.monitor_every_epochs = 0
    config.train.checkpoint_every_epochs = 0
    return config


@pytest.fixture
def run(image_folder, tmp_path) -> Path:
    return make_run(image_folder, tmp_path / "run")


def _cache_files(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "embeddings").glob("*.features.npy"))


def test_trained_embeddings_are_the_encoder_applied_directly_and_are_cached(run, image_folder, one_torch_thread):
    from workbench.analysis.embed import embed_images
    from workbench.data import load_images

    emb = compute_embeddings(run, mode="trained", device="cpu")  # folder defaults to the training folder
    config, encoder = load_encoder(run, device="cpu")
    data = load_images(image_folder, config.data.image_size, workers=0)
    ref = embed_images(encoder, data.images, config.augment, representation=config.model.representation)
    assert emb.root == image_folder.resolve() and len(emb) == 16 and not emb.cached
    assert [str(emb.path(i)) for i in range(16)] == [str(image_folder.resolve() / p) for p in data.paths]
    assert emb.features.dtype == np.float32
    np.testing.assert_allclose(emb.features, ref, atol=1e-5)
    assert emb.label(0) == "circle" and emb.label(15) == "square" and emb.class_names == ["circle", "square"]
    assert _cache_files(run) == [f"{emb.key}.features.npy"] and emb.key.startswith("trained-")
    again = compute_embeddings(run, image_folder, "trained", device="cpu")
    assert again.cached and again.key == emb.key and again.paths == emb.paths
    np.testing.assert_array_equal(again.features, emb.features)
    np.testing.assert_array_equal(again.labels, emb.labels)
    assert not any(p.suffix in (".npz", ".npy") for p in image_folder.rglob("*"))  # nothing written in the image folder


def test_modes_differ_and_raw_is_the_pixels(run, image_folder, one_torch_thread):
    trained = compute_embeddings(run, image_folder, "trained", device="cpu")
    untrained = compute_embeddings(run, image_folder, "untrained", device="cpu")
    raw = compute_embeddings(run, image_folder, "raw", device="cpu")
    assert trained.features.shape == untrained.features.shape
    assert not np.allclose(trained.features, untrained.features)  # two steps of training changed the weights
    assert raw.features.shape == (16, 3 * 16 * 16)
    np.testing.assert_allclose(raw.features.mean(axis=0), 0.0, atol=1e-5)  # centred on the folder's own mean
    assert len(_cache_files(run)) == 3
    with pytest.raises(ValueError, match="mode must be one of"):
        compute_embeddings(run, image_folder, "pixels")


def test_untrained_is_the_initial_checkpoint_and_its_cache_follows_init_pt(run, image_folder, one_torch_thread):
    from workbench.analysis.embed import embed_images
    from workbench.data import load_images
    from workbench.engine.trainer import build_method

    init_path = run / "checkpoints" / "init.pt"
    init = torch.load(init_path, weights_only=True)
    config = ExperimentConfig.from_dict(init["config"])
    with torch.random.fork_rng(devices=[]):
        method = build_method(config)
    method.load_state_dict(init["model"])
    data = load_images(image_folder, config.data.image_size, workers=0)
    ref = embed_images(method.encoder, data.images, config.augment, representation=config.model.representation)
    before = torch.get_rng_state()
    first = compute_embeddings(run, image_folder, "untrained", device="cpu")
    assert torch.equal(torch.get_rng_state(), before)
    np.testing.assert_allclose(first.features, ref, atol=1e-5)
    for name, tensor in init["model"].items():
        if name.startswith("encoder.") and tensor.is_floating_point():
            tensor.add_(0.5)
    torch.save(init, init_path)  # other initial weights: the cached untrained features are stale
    second = compute_embeddings(run, image_folder, "untrained", device="cpu")
    assert not second.cached and not np.allclose(second.features, first.features)


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
    assert _cache_files(run) == [f"{second.key}.features.npy"]  # the stale file of this mode and folder is gone
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


class _StopAt(NullReporter):
    """Asks to stop once `rows` rows are reported done (progress), and records the messages."""

    def __init__(self, rows: int | None = None):
        self.rows, self.done, self.messages = rows, 0, []

    def progress(self, done: int, total: int) -> None:
        self.done = done

    def message(self, text: str) -> None:
        self.messages.append(text)

    def should_stop(self) -> bool:
        return self.rows is not None and self.done >= self.rows


@pytest.fixture
def forty(tmp_path) -> tuple[Path, Path]:
    """A run and a 41-file folder (40 images and one broken file): five batches of 8 rows."""
    folder = write_class_folder(tmp_path / "forty", per_class=20, seed=3)
    (folder / "circle" / "c_broken.png").write_bytes(b"not a png")
    return make_run(write_class_folder(tmp_path / "train", per_class=4), tmp_path / "r"), folder


@pytest.mark.parametrize("mode", ["trained", "raw"])
def test_streaming_resumes_after_cancel_and_equals_an_uninterrupted_computation(
    forty, monkeypatch, mode, one_torch_thread
):
    from workbench.analysis.embed import embed_images, raw_pixels
    from workbench.data import decode, load_images
    from workbench.results import embedding_store

    run, folder = forty
    monkeypatch.setattr(embedding_store, "BATCH_ROWS", 8)
    whole = compute_embeddings(run, folder, mode, device="cpu", use_cache=False)  # uninterrupted
    with pytest.raises(Cancelled, match="kept for the next run"):
        compute_embeddings(run, folder, mode, device="cpu", reporter=_StopAt(rows=24))
    assert _cache_files(run) == [] and len(list((run / "embeddings").glob("*.progress.json"))) == 1
    decoded = []
    real = decode.decode_with_info
    monkeypatch.setattr(decode, "decode_with_info", lambda path, size: decoded.append(path.name) or real(path, size))
    reporter = _StopAt()
    resumed = compute_embeddings(run, folder, mode, device="cpu", reporter=reporter)
    assert any("Resuming the embedding at image" in m for m in reporter.messages)
    assert len(decoded) <= 41 - 16  # at least the first two batches were not decoded again
    assert isinstance(resumed.features, np.memmap) and resumed.features.dtype == np.float32
    assert resumed.paths == whole.paths and len(resumed) == 40
    np.testing.assert_array_equal(resumed.features, whole.features)  # bit for bit
    np.testing.assert_array_equal(resumed.labels, whole.labels)
    assert [p for p, _ in resumed.skipped] == ["circle/c_broken.png"]
    assert sorted(p.name.split(".", 1)[1] for p in (run / "embeddings").iterdir()) == ["features.npy", "meta.npz"]
    # An independent reference: every image decoded at once and embedded in one call.
    config, encoder = load_encoder(run, device="cpu")
    data = load_images(folder, config.data.image_size, workers=0)
    assert data.paths == resumed.paths
    if mode == "raw":
        ref = raw_pixels(data.images, config.augment)
    else:
        ref = embed_images(encoder, data.images, config.augment, representation=config.model.representation)
    np.testing.assert_allclose(resumed.features, ref, atol=1e-5)
    again = compute_embeddings(run, folder, mode, device="cpu")
    assert again.cached and again.skipped == resumed.skipped
    np.testing.assert_array_equal(again.features, whole.features)


def test_streaming_never_holds_the_whole_matrix_in_memory(tmp_path, monkeypatch):
    import tracemalloc

    from workbench.results import embedding_store

    folder = write_class_folder(tmp_path / "eighty", per_class=40, size=64, seed=3)
    run = make_run(folder, tmp_path / "r", image_size=64)  # raw rows of 3*64*64 floats: the matrix dominates
    monkeypatch.setattr(embedding_store, "BATCH_ROWS", 4)
    monkeypatch.setattr(embedding_store, "_COPY_BYTES", 4 * 3 * 64 * 64 * 4)  # centring: 4 rows at a time too
    compute_embeddings(run, folder, "raw", use_cache=False)  # imports and first-call costs out of the way
    tracemalloc.start()
    try:
        emb = compute_embeddings(run, folder, "raw", use_cache=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole = emb.features.shape[0] * emb.features.shape[1] * 4
    assert isinstance(emb.features, np.memmap) and whole == 80 * 3 * 64 * 64 * 4
    assert peak < whole / 2, (peak, whole)  # batches of 4 rows (and the one decoded ahead), not 80


def test_a_run_just_trained_opens_from_the_embeddings_of_its_training_images(image_folder, tmp_path, monkeypatch):
    """fit() trains on a decoded store; embed_after_training embeds that store (nothing decoded again) into the cache
    that Explore's compute_embeddings then finds, equal to a fresh computation from the files."""
    from workbench.data import decode
    from workbench.engine.fit import load_data
    from workbench.results.embeddings import embed_after_training

    config = tiny_config(image_folder)
    images = load_data(config, NullReporter())
    run = tmp_path / "just-trained"
    fit(config, run, images=images)

    def no_decoding(path, size):
        raise AssertionError(f"{path} was decoded again")

    monkeypatch.setattr(decode, "decode_with_info", no_decoding)
    reporter = _StopAt()
    assert embed_after_training(run, images, reporter) is not None
    assert any(m.startswith("Embedded the 16 training images for Explore in") for m in reporter.messages)
    opened = compute_embeddings(run)  # what Explore does when it opens the run: the training folder, trained
    assert opened.cached and len(opened) == 16
    monkeypatch.undo()
    fresh = compute_embeddings(run, use_cache=False)
    assert fresh.paths == opened.paths and not fresh.cached
    np.testing.assert_array_equal(opened.features, fresh.features)

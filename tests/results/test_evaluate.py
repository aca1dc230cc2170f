"""Evaluating a run against its baselines: the untrained encoder is the run's saved initial weights (loaded without
moving the global random generator), raw pixels are the encoder's input centred on the training folder, and the test
folder must share no image with the training folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import write_class_folder
from tests.engine.test_fit import tiny_config
from workbench.config import ExperimentConfig
from workbench.engine.fit import fit
from workbench.errors import DataError
from workbench.results.evaluate import evaluate_run, load_encoder


def short_run(data: Path, run_dir: Path, steps: int) -> Path:
    fit(tiny_config(data, max_steps=steps, monitor_every_epochs=0, checkpoint_every_epochs=0), run_dir)
    return run_dir


def encoder_part(model_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The encoder's tensors of a method's state dict ("encoder.<name>" -> "<name>")."""
    return {k.removeprefix("encoder."): v for k, v in model_state.items() if k.startswith("encoder.")}


def assert_equal_states(encoder: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    state = encoder.state_dict()
    assert state.keys() == expected.keys()
    for name, tensor in state.items():
        assert torch.equal(tensor, expected[name]), name


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    """Two disjoint labelled folders of the same learnable classes (different seeds)."""
    train = write_class_folder(tmp_path / "train", per_class=12, seed=0)
    test = write_class_folder(tmp_path / "test", per_class=8, seed=1)
    return train, test


@pytest.fixture
def run(folders, tmp_path) -> Path:
    return short_run(folders[0], tmp_path / "run", steps=2)


def test_untrained_is_the_saved_initial_state_and_leaves_the_global_generator_alone(run, folders, tmp_path):
    init = torch.load(run / "checkpoints" / "init.pt", weights_only=True)
    assert init["position"]["step"] == 0
    # init.pt holds the weights Trainer drew before the first step: the run's seed, then the method is built.
    from workbench.engine.trainer import build_method

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ExperimentConfig.from_dict(init["config"]).train.seed)
        fresh = build_method(ExperimentConfig.from_dict(init["config"]))
    assert_equal_states(fresh.encoder, encoder_part(init["model"]))

    torch.manual_seed(1234)
    before = torch.get_rng_state()
    _, untrained = load_encoder(run, trained=False)
    assert torch.equal(torch.get_rng_state(), before)
    assert_equal_states(untrained, encoder_part(init["model"]))
    _, trained = load_encoder(run)
    assert torch.equal(torch.get_rng_state(), before)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(trained.state_dict().values(), untrained.state_dict().values(), strict=True)
    )

    # A run from before init.pt: rebuilt from its seed, still without moving the global generator.
    (run / "checkpoints" / "init.pt").unlink()
    _, rebuilt = load_encoder(run, trained=False)
    assert torch.equal(torch.get_rng_state(), before)
    assert_equal_states(rebuilt, encoder_part(init["model"]))


def test_a_resumed_run_keeps_its_initial_weights(run, folders):
    init = (run / "checkpoints" / "init.pt").read_bytes()
    config = ExperimentConfig.from_dict(torch.load(run / "checkpoints" / "last.pt", weights_only=True)["config"])
    config.train.max_steps = 3
    fit(config, run, resume=True)
    assert (run / "checkpoints" / "init.pt").read_bytes() == init


def test_the_same_folder_is_refused(run, folders):
    with pytest.raises(DataError, match=r"same folder .* \(all 24 images shared\)"):
        evaluate_run(run, folders[0], folders[0], device="cpu")


def test_a_file_in_both_folders_is_refused_naming_how_many(run, folders):
    train, test = folders
    shutil.copy(train / "circle" / "003.png", test / "square" / "copy.png")  # other name, other class, same bytes
    with pytest.raises(DataError, match="shares 1 of its 17 images"):
        evaluate_run(run, train, test, device="cpu")


def brighter_copy(folder: Path, dest: Path, offset: int) -> Path:
    """The folder with `offset` added to every pixel value (none passes 255 in write_class_folder's images)."""
    for path in folder.rglob("*.png"):
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)
        assert pixels.max() + offset <= 255
        target = dest / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((pixels + offset).astype(np.uint8)).save(target)
    return dest


def test_evaluate_run_against_its_baselines(folders, tmp_path, one_torch_thread):
    from workbench.analysis.embed import embed_images
    from workbench.analysis.knn import knn_top1
    from workbench.data import load_images
    from workbench.engine.trainer import build_method

    train, test = folders
    run = short_run(train, tmp_path / "run", steps=40)
    result = evaluate_run(run, train, test, device="cpu")
    for key in ("knn_top1", "knn_top1_untrained", "knn_top1_raw", "linear_top1"):
        assert 0.0 <= result[key] <= 1.0, key
    assert result["train_images"] == 24 and result["test_images"] == 16
    assert result["knn_top1"] >= result["knn_top1_untrained"] - 0.02  # 40 steps do not make it worse

    # Untrained is the encoder with init.pt's weights, built here by hand.
    init = torch.load(run / "checkpoints" / "init.pt", weights_only=True)
    config = ExperimentConfig.from_dict(init["config"])
    with torch.random.fork_rng(devices=[]):
        method = build_method(config)
    method.load_state_dict(init["model"])
    tr, te = (load_images(f, config.data.image_size, workers=0) for f in (train, test))
    rep = config.model.representation

    def knn(model: torch.nn.Module) -> float:
        f_tr, f_te = (embed_images(model, d.images, config.augment, representation=rep) for d in (tr, te))
        return knn_top1(f_tr, tr.labels, f_te, te.labels)

    assert result["knn_top1_untrained"] == pytest.approx(knn(method.encoder))

    # Raw pixels: normalised input, flattened, centred on the training folder's mean image (numpy, by hand).
    mean, std = (np.array(v, dtype=np.float64)[None, :, None, None] for v in (config.augment.mean, config.augment.std))
    x_tr, x_te = (((d.images.numpy() / 255.0 - mean) / std).reshape(len(d), -1) for d in (tr, te))
    centre = x_tr.mean(axis=0)
    assert result["knn_top1_raw"] == pytest.approx(knn_top1(x_tr - centre, tr.labels, x_te - centre, te.labels))

    # A brightness shared by every image drops out of the centred raw pixels.
    lighter = evaluate_run(
        run,
        brighter_copy(train, tmp_path / "train+30", 30),
        brighter_copy(test, tmp_path / "test+30", 30),
        device="cpu",
    )
    assert lighter["knn_top1_raw"] == result["knn_top1_raw"]

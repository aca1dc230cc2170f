"""Live previews of generative methods: fit() saves preview.png and reports the same image, throttled."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor

from tests.engine.test_fit import tiny_config
from workbench.config import MethodConfig
from workbench.engine.fit import fit
from workbench.engine.monitor import monitor_indices
from workbench.engine.previews import PREVIEW_FILE, Previewer, tile_rows
from workbench.engine.report import NullReporter
from workbench.methods import Method, StepOutput, base, register_method

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Recorder(NullReporter):
    def __init__(self):
        self.previews: list[tuple[int, np.ndarray]] = []

    def preview(self, epoch: int, image: np.ndarray) -> None:
        self.previews.append((epoch, image))


@pytest.fixture
def mirror_method():
    """A tiny generative method registered for one test: its preview shows the inputs and their mirror images."""

    class Mirror(Method):
        name = "test-mirror"
        description = "Test only: shows inputs and mirrored inputs."
        n_views = 1
        generative = True
        modes: list[bool] = []

        def step(self, views: list[Tensor]) -> StepOutput:
            return StepOutput(self.encoder(views[0]).pow(2).mean())

        def preview(self, images: Tensor) -> list[Tensor]:
            type(self).modes.append(self.training)
            assert not torch.is_grad_enabled()
            return [images, images.flip(-1)[:3]]

    register_method(Mirror)
    yield Mirror
    base._REGISTRY.pop(Mirror.name)


def test_fit_saves_and_reports_the_preview(mirror_method, image_folder, tmp_path) -> None:
    config = tiny_config(image_folder, max_steps=2, monitor_every_epochs=0)
    config.data.image_size = 16
    config.method = MethodConfig(name="test-mirror")
    reporter = Recorder()
    fit(config, tmp_path / "run", reporter=reporter)
    # the first step previews at once; the end of the run previews the final weights
    assert [epoch for epoch, _ in reporter.previews] == [1, 1]
    assert mirror_method.modes == [False, False]  # eval mode during the preview (then back to training)
    epoch, image = reporter.previews[-1]
    assert image.dtype == np.uint8 and image.shape == (2 * 16 + 2, 8 * 16 + 7 * 2, 3)
    saved = np.asarray(Image.open(tmp_path / "run" / PREVIEW_FILE).convert("RGB"))
    np.testing.assert_array_equal(saved, image)
    # row 1 holds the un-augmented images of the monitor subset, denormalised back to their pixels
    from workbench.data import load_images

    data = load_images(image_folder, 16)
    first = data.images[monitor_indices(len(data), config.train.seed)[0]].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(image[:16, :16].astype(int), first.astype(int), atol=1)
    np.testing.assert_allclose(image[18:, :16].astype(int), first[:, ::-1].astype(int), atol=1)
    assert (image[18:, 3 * 18 :] == 255).all()  # the shorter second row is padded with background


def test_previews_are_throttled(mirror_method, image_folder, tmp_path) -> None:
    from workbench.data import load_images
    from workbench.engine.runs import RunDir
    from workbench.models import create_encoder

    config = tiny_config(image_folder)
    data = load_images(image_folder, 16)
    method = mirror_method(create_encoder("small-cnn", image_size=16), MethodConfig(name="test-mirror"))
    run = RunDir.create(tmp_path / "run", config)
    reporter = Recorder()
    previewer = Previewer(method, data, config.augment, 0, torch.device("cpu"), run, reporter, main=True, every_s=10)
    assert previewer.maybe(1, 0.5) and not previewer.maybe(1, 5.0) and previewer.maybe(2, 10.6)
    assert not previewer.maybe(2, 11.0) and previewer.maybe(2, 11.0, force=True)
    assert [e for e, _ in reporter.previews] == [1, 2, 2]


def test_non_generative_methods_make_no_preview(image_folder, tmp_path) -> None:
    reporter = Recorder()
    fit(tiny_config(image_folder, max_steps=1, monitor_every_epochs=0), tmp_path / "run", reporter=reporter)
    assert reporter.previews == [] and not (tmp_path / "run" / PREVIEW_FILE).exists()


def test_tile_rows_lays_out_rows_with_gaps() -> None:
    rows = [torch.full((2, 3, 4, 4), 10, dtype=torch.uint8), torch.full((1, 3, 4, 4), 20, dtype=torch.uint8)]
    image = tile_rows(rows, gap=1)
    assert image.shape == (9, 9, 3)
    assert (image[:4, :4] == 10).all() and (image[:4, 5:] == 10).all() and (image[5:, :4] == 20).all()
    assert (image[4] == 255).all() and (image[5:, 5:] == 255).all()
    with pytest.raises(ValueError):
        tile_rows([])

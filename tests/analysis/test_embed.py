import numpy as np
import pytest
import torch
from torch import nn

from workbench.analysis.embed import embed_images, raw_pixels
from workbench.augment.spec import AugmentSpec
from workbench.errors import Cancelled


class StandIn(nn.Module):
    """Minimal encoder with the project's contract: represent(x, name) -> (B, D), representation_dim(name)."""

    dims = {"final": 6, "pooled": 4}

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3, 6)
        self.modes_seen: list[bool] = []
        self.sizes_seen: list[tuple[int, ...]] = []

    def represent(self, x: torch.Tensor, name: str = "final") -> torch.Tensor:
        self.modes_seen.append(self.training)
        self.sizes_seen.append(tuple(x.shape))
        h = self.norm(x).mean(dim=(2, 3)) + x.mean(dim=(2, 3))  # (B, 3)
        z = self.fc(h)  # (B, 6)
        return z if name == "final" else z[:, : self.dims[name]]

    def representation_dim(self, name: str = "final") -> int:
        return self.dims[name]


def images(n: int, size: int = 16) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_features_have_one_float32_row_per_image_and_match_unbatched():
    enc, x = StandIn(), images(10)
    z = embed_images(enc, x, AugmentSpec(), batch_size=4)
    assert z.shape == (10, 6) and z.dtype == np.float32
    # Eval mode: BatchNorm uses running statistics, so batching does not change a row.
    np.testing.assert_allclose(z, embed_images(enc, x, AugmentSpec(), batch_size=10), rtol=1e-5, atol=1e-6)
    assert embed_images(enc, x, AugmentSpec(), representation="pooled").shape == (10, 4)


def test_images_are_prepared_with_the_spec_output_size():
    enc = StandIn()
    embed_images(enc, images(3), AugmentSpec(output_size=8))
    assert enc.sizes_seen == [(3, 3, 8, 8)]


def test_encoder_runs_in_eval_and_its_mode_is_restored():
    enc = StandIn().train()
    embed_images(enc, images(5), AugmentSpec(), batch_size=2)
    assert enc.modes_seen == [False, False, False]
    assert enc.training and enc.norm.training
    enc.eval()
    embed_images(enc, images(2), AugmentSpec())
    assert not enc.training


def test_progress_reports_every_batch():
    calls = []
    embed_images(StandIn(), images(10), AugmentSpec(), batch_size=4, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(4, 10), (8, 10), (10, 10)]


def test_should_stop_raises_cancelled_and_restores_train_mode():
    enc = StandIn().train()
    polls = iter([False, True])
    with pytest.raises(Cancelled):
        embed_images(enc, images(10), AugmentSpec(), batch_size=4, should_stop=lambda: next(polls))
    assert len(enc.modes_seen) == 1  # stopped before the second batch
    assert enc.training


def test_empty_input_gives_zero_rows_of_the_representation_width():
    z = embed_images(StandIn(), images(0), AugmentSpec())
    assert z.shape == (0, 6) and z.dtype == np.float32


def test_raw_pixels_are_the_normalised_input_centred_on_the_given_mean():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(5, 3, 4, 4), dtype=np.uint8)
    spec = AugmentSpec(mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    normalised = (x / 255.0 - np.array(spec.mean)[:, None, None]) / np.array(spec.std)[:, None, None]
    flat = normalised.reshape(5, -1)
    p = raw_pixels(torch.from_numpy(x), spec)
    assert p.shape == (5, 48) and p.dtype == np.float32
    np.testing.assert_allclose(p, flat - flat.mean(axis=0), atol=1e-5)  # default: centred on its own mean
    train_mean = rng.normal(size=48)
    np.testing.assert_allclose(raw_pixels(torch.from_numpy(x), spec, train_mean), flat - train_mean, atol=1e-5)
    with pytest.raises(ValueError, match="uint8"):
        raw_pixels(torch.from_numpy(x).float(), spec)


def test_raw_pixels_are_resized_to_the_encoders_input_size():
    x = torch.full((2, 3, 8, 8), 128, dtype=torch.uint8)
    assert raw_pixels(x, AugmentSpec(output_size=16)).shape == (2, 3 * 16 * 16)


def test_a_brightness_shared_by_every_image_leaves_the_raw_pixel_knn_unchanged():
    from workbench.analysis.knn import knn_top1

    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.integers(0, 200, size=(40, 3, 6, 6), dtype=np.uint8))
    y = rng.integers(0, 2, size=40)
    x[y == 1, 0] = torch.clamp(x[y == 1, 0], 0, 100) + 90  # class 1 redder: something to find
    spec = AugmentSpec()

    def raw_knn(images: torch.Tensor) -> float:
        train = raw_pixels(images[:30], spec)  # centred on its own mean, the training mean
        mean = raw_pixels(images[:30], spec, np.zeros(3 * 36)).mean(axis=0)
        test = raw_pixels(images[30:], spec, mean)
        return knn_top1(train, y[:30], test, y[30:], k=5)

    brighter = x + 50  # no value passes 255
    assert raw_knn(brighter) == raw_knn(x)
    # Uncentred, the same offset changes every cosine similarity: the centring is what removes it.
    uncentred = raw_pixels(x, spec, np.zeros(3 * 36)), raw_pixels(brighter, spec, np.zeros(3 * 36))
    assert not np.allclose(
        uncentred[0] / np.linalg.norm(uncentred[0], axis=1, keepdims=True),
        uncentred[1] / np.linalg.norm(uncentred[1], axis=1, keepdims=True),
        atol=1e-3,
    )

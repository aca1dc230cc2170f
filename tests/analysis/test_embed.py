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


def test_raw_pixels_flattens_to_unit_range():
    x = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    x[1] = 255
    p = raw_pixels(x)
    assert p.shape == (2, 48) and p.dtype == np.float32
    assert p[0].max() == 0.0 and p[1].min() == 1.0
    with pytest.raises(ValueError, match="uint8"):
        raw_pixels(x.float())

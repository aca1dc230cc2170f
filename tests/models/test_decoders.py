"""The decoders of the generative methods: sizes from 8 px up, DCGAN's layout and initialisation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from workbench.models import create_encoder
from workbench.models.decoders import ConvDecoder, DCGANGenerator, encoder_image_size, upsampling_plan

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZES = [8, 9, 16, 28, 30, 32, 33, 64]


@pytest.mark.parametrize(("size", "plan"), [(8, (4, 1)), (16, (4, 2)), (28, (7, 2)), (32, (4, 3)), (64, (4, 4))])
def test_upsampling_plan_known_sizes(size: int, plan: tuple[int, int]) -> None:
    assert upsampling_plan(size) == plan


@pytest.mark.parametrize("size", [*SIZES, 96, 100, 224])
def test_upsampling_plan_covers_the_size_with_little_waste(size: int) -> None:
    s0, k = upsampling_plan(size)
    assert s0 * 2**k >= size > (s0 - 1) * 2**k  # one row fewer at the start would be too small
    assert 4 <= s0 <= 8


def test_upsampling_plan_refuses_tiny_images() -> None:
    with pytest.raises(ValueError, match="at least 8 px"):
        upsampling_plan(4)


@pytest.mark.parametrize("size", SIZES)
def test_conv_decoder_output_size(size: int) -> None:
    decoder = ConvDecoder(48, size, width=8)
    out = decoder(torch.randn(3, 48))
    assert out.shape == (3, 3, size, size)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("size", SIZES)
def test_dcgan_generator_output_size_and_range(size: int) -> None:
    generator = DCGANGenerator(16, size, width=8)
    out = generator(torch.randn(3, 16))
    assert out.shape == (3, 3, size, size)
    assert out.abs().max() < 1  # tanh


def test_dcgan_generator_follows_the_paper_layout() -> None:
    generator = DCGANGenerator(100, 32)
    layers = list(generator.net)
    convs = [m for m in layers if isinstance(m, nn.ConvTranspose2d)]
    # 1x1 noise -> 4x4 (kernel 4), then three stride-2 doublings to 32 px; channels halve as the map doubles.
    assert [(c.in_channels, c.out_channels, c.stride) for c in convs] == [
        (100, 256, (1, 1)),
        (256, 128, (2, 2)),
        (128, 64, (2, 2)),
        (64, 3, (2, 2)),
    ]
    assert isinstance(layers[-1], nn.Tanh) and layers[-2] is convs[-1]  # no BatchNorm on the output
    assert sum(isinstance(m, nn.BatchNorm2d) for m in layers) == 3
    assert not any(isinstance(m, nn.Linear | nn.MaxPool2d) for m in layers)  # all-convolutional
    # DCGAN section 4: weights from N(0, 0.02).
    weights = torch.cat([c.weight.flatten() for c in convs])
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)


def test_dcgan_generator_rejects_wrong_noise() -> None:
    generator = DCGANGenerator(16, 16)
    with pytest.raises(ValueError, match=r"\(B, 16\)"):
        generator(torch.randn(2, 8))
    with pytest.raises(ValueError, match="latent_dim"):
        DCGANGenerator(0, 16)


def test_decoders_learn_to_reconstruct() -> None:
    """A real decoder, not a shape adapter: it fits a fixed image from a fixed code."""
    torch.manual_seed(0)
    decoder = ConvDecoder(8, 16, width=8)
    code, target = torch.randn(4, 8), torch.rand(4, 3, 16, 16)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        loss = (decoder(code) - target).pow(2).mean()
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.2 * first


def test_encoder_image_size_is_recorded_by_create_encoder() -> None:
    assert encoder_image_size(create_encoder("small-cnn", image_size=28)) == 28
    assert encoder_image_size(create_encoder("vit-tiny", image_size=16)) == 16
    with pytest.raises(ValueError, match="create_encoder"):
        encoder_image_size(nn.Linear(2, 2))

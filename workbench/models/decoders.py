"""Image decoders for the generative methods: a convolutional decoder (features -> image, for the autoencoder)
and a DCGAN generator (noise -> image, for the GAN).

Both grow a small s0 x s0 map by k transposed convolutions (kernel 4, stride 2, padding 1: each doubles the
size), as in DCGAN (Radford, Metz, Chintala 2016, figure 1), and centre-crop to S when s0 * 2^k overshoots it
(odd sizes). `upsampling_plan(S)` picks s0 in [4, 8]: 32 px -> 4 x 2^3, 28 px -> 7 x 2^2,
64 px -> 4 x 2^4, 16 px -> 4 x 2^2.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from workbench.models.encoders import MIN_IMAGE_SIZE


def upsampling_plan(image_size: int) -> tuple[int, int]:
    """(s0, k): k = floor(log2(S / 4)) doublings (>= 1 from 8 px) of an s0 x s0 start, s0 = ceil(S / 2^k) in [4, 8],
    so s0 * 2^k >= S overshoots by fewer than 2^k pixels (centre-cropped)."""
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"Decoders need images of at least {MIN_IMAGE_SIZE} px, got {image_size}.")
    k = max(0, int(math.floor(math.log2(image_size / 4))))
    return math.ceil(image_size / 2**k), k


def _channels(width: int, k: int, max_width: int) -> list[int]:
    """Channel counts of the k + 1 maps from s0 to s0 * 2^k: halving as the map doubles, ending at `width`."""
    return [min(width * 2 ** (k - i), max_width) for i in range(k + 1)]


def _up_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]


def _centre_crop(x: Tensor, size: int) -> Tensor:
    extra = x.shape[-1] - size
    if extra == 0:
        return x
    top = extra // 2
    return x[..., top : top + size, top : top + size]


class ConvDecoder(nn.Module):
    """Features (B, in_dim) -> images (B, 3, S, S), unbounded (the targets are normalised images).

    Linear -> (c0, s0, s0) -> BN-ReLU, then k blocks of ConvTranspose(4, 2, 1)-BN-ReLU halving the channels, then
    a 3x3 conv to 3 channels. `width` is the channel count at full resolution (at most `max_width` anywhere).
    At 32 px with width 32: 256 x 4x4 -> 128 x 8x8 -> 64 x 16x16 -> 32 x 32x32 -> 3 x 32x32.
    """

    def __init__(self, in_dim: int, image_size: int, width: int = 32, max_width: int = 256) -> None:
        super().__init__()
        if in_dim < 1 or width < 1:
            raise ValueError(f"ConvDecoder needs positive in_dim and width, got {in_dim} and {width}.")
        self.image_size = image_size
        self.s0, k = upsampling_plan(image_size)
        channels = _channels(width, k, max_width)
        self.c0 = channels[0]
        self.fc = nn.Linear(in_dim, self.c0 * self.s0 * self.s0, bias=False)
        layers: list[nn.Module] = [nn.BatchNorm2d(self.c0), nn.ReLU(True)]
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers += _up_block(c_in, c_out)
        layers.append(nn.Conv2d(channels[-1], 3, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        x = self.fc(features).view(-1, self.c0, self.s0, self.s0)  # (B, c0, s0, s0)
        return _centre_crop(self.net(x), self.image_size)


class DCGANGenerator(nn.Module):
    """Noise (B, latent_dim) -> images (B, 3, S, S) in (-1, 1) (tanh), DCGAN's generator.

    ConvTranspose(latent -> c0, kernel s0) maps the 1x1 noise to s0 x s0, then BN-ReLU and k - 1 blocks of
    ConvTranspose(4, 2, 1)-BN-ReLU halving the channels, and a last ConvTranspose(4, 2, 1) to 3 channels with
    tanh (no BN on the output, as in the paper). Weights are initialised N(0, 0.02), BN scales N(1, 0.02).
    At 32 px with width 64: 256 x 4x4 -> 128 x 8x8 -> 64 x 16x16 -> 3 x 32x32.
    """

    def __init__(self, latent_dim: int, image_size: int, width: int = 64, max_width: int = 512) -> None:
        super().__init__()
        if latent_dim < 1 or width < 1:
            raise ValueError(f"DCGANGenerator needs positive latent_dim and width, got {latent_dim} and {width}.")
        self.image_size = image_size
        self.latent_dim = latent_dim
        s0, k = upsampling_plan(image_size)  # k >= 1 from 8 px up
        channels = _channels(width, k - 1, max_width)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, channels[0], s0, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(True),
        ]
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers += _up_block(c_in, c_out)
        layers += [nn.ConvTranspose2d(channels[-1], 3, 4, stride=2, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"DCGANGenerator expects noise (B, {self.latent_dim}), got {tuple(z.shape)}.")
        return _centre_crop(self.net(z[:, :, None, None]), self.image_size)


def _dcgan_init(module: nn.Module) -> None:
    """DCGAN section 4: all weights from N(0, 0.02); BatchNorm scales N(1, 0.02), shifts 0."""
    if isinstance(module, nn.ConvTranspose2d | nn.Conv2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def encoder_image_size(encoder: nn.Module) -> int:
    """The input size an encoder was built for (`create_encoder` records it); decoders produce that size."""
    size = getattr(encoder, "image_size", None)
    if not isinstance(size, int):
        raise ValueError(
            f"{type(encoder).__name__} does not record the image size it was built for; build it with create_encoder."
        )
    return size

"""Encoders (backbones) and their registry, timm-style: `@register_encoder` fills a dict, `create_encoder` builds.

Every encoder maps images (B, 3, H, W) to features (B, feature_dim); the projection or prediction heads that
a method puts on top live in `heads.py`. `represent(x, name)` gives the features used for kNN, UMAP and
export, taken from the layer named in `ModelConfig.representation`.

This module holds the base classes, the registry and the two plain CNNs (`seed-cnn`, `small-cnn`);
`resnet.py` and `vit.py` register the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.errors import ConfigError

EncoderFactory = Callable[[int, "bool | None"], "Encoder"]
MIN_IMAGE_SIZE = 8


class Encoder(nn.Module):
    """Base class: `forward` gives the head's input, `represent` any of the named feature sets.

    Subclasses set `feature_dim`, `representations` (first is "final", the forward output) and fill
    `_representation_dims`, and implement `forward` and `_represent` for names other than "final".
    """

    feature_dim: int
    image_size: int | None = None  # input size it was built for (set by create_encoder; decoders need it)
    representations: tuple[str, ...] = ("final",)
    default_representation: str = "final"  # what "auto" means for this encoder (measured, see README)

    def __init__(self) -> None:
        super().__init__()
        self._representation_dims: dict[str, int] = {}

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, H, W) -> (B, feature_dim)
        raise NotImplementedError

    def represent(self, x: Tensor, name: str = "final") -> Tensor:
        """Features (B, representation_dim(name)) from the layer `name` ("auto": the encoder's default), for kNN,
        UMAP and export."""
        name = self.resolve_representation(name)
        return self(x) if name == "final" else self._represent(x, name)

    def representation_dim(self, name: str = "final") -> int:
        name = self.resolve_representation(name)
        return self.feature_dim if name == "final" else self._representation_dims[name]

    def resolve_representation(self, name: str) -> str:
        """The concrete representation for `name`; "auto" becomes `default_representation`."""
        name = self.default_representation if name == "auto" else name
        self._check_representation(name)
        return name

    def _represent(self, x: Tensor, name: str) -> Tensor:
        raise NotImplementedError

    def _check_representation(self, name: str) -> None:
        if name not in self.representations:
            raise ConfigError(
                f"Unknown representation '{name}' for {type(self).__name__}; "
                f"choose one of: {', '.join(self.representations)}."
            )


def _gap(x: Tensor) -> Tensor:
    """Global average pool (B, C, H, W) -> (B, C); flatten, not view, so channels_last inputs work."""
    return F.adaptive_avg_pool2d(x, 1).flatten(1)


class StagedConvEncoder(Encoder):
    """A convolutional encoder made of `stem` then four `stages`, with a `head` turning the last stage
    into the forward output. Provides the "stages", "grid" and "stage3" representations for free.

    - "stages": concatenated global-average-pooled outputs of every stage, (B, sum(stage_widths)).
    - "grid": the last stage average-pooled to 2x2 and flattened, keeping coarse layout, (B, 4 * last width).
    - "stage3": global-average-pooled third stage, (B, stage_widths[2]).
    - "stage3-grid": the third stage average-pooled to 4x4 and flattened: mid-level features that keep the
      layout, (B, 16 * stage_widths[2]). On small images these beat both raw pixels and the last layer after short
      training (benchmarks/RESULTS.md).
    """

    representations = ("final", "stages", "grid", "stage3", "stage3-grid")

    def __init__(
        self,
        stem: nn.Module,
        stages: list[nn.Module],
        stage_widths: list[int],
        head: nn.Module,
        feature_dim: int,
        default_representation: str = "final",
    ) -> None:
        super().__init__()
        self.default_representation = default_representation
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.head = head
        self.feature_dim = feature_dim
        self._representation_dims = {
            "stages": sum(stage_widths),
            "grid": 4 * stage_widths[-1],
            "stage3": stage_widths[2],
            "stage3-grid": 16 * stage_widths[2],
        }

    def _stage_outputs(self, x: Tensor) -> list[Tensor]:
        outputs = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self._stage_outputs(x)[-1])

    def _represent(self, x: Tensor, name: str) -> Tensor:
        outputs = self._stage_outputs(x)
        if name == "stages":
            return torch.cat([_gap(o) for o in outputs], dim=1)
        if name == "grid":
            return F.adaptive_avg_pool2d(outputs[-1], 2).flatten(1)
        if name == "stage3-grid":
            return F.adaptive_avg_pool2d(outputs[2], 4).flatten(1)
        return _gap(outputs[2])  # "stage3"


# --- registry -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    factory: EncoderFactory
    description: str


_REGISTRY: dict[str, _Entry] = {}


def register_encoder(name: str, description: str) -> Callable[[EncoderFactory], EncoderFactory]:
    """Decorator registering `factory(image_size, small_stem) -> Encoder` under `name`."""

    def decorator(factory: EncoderFactory) -> EncoderFactory:
        if name in _REGISTRY:
            raise ValueError(f"Encoder '{name}' is already registered.")
        _REGISTRY[name] = _Entry(factory, description)
        return factory

    return decorator


def list_encoders() -> list[str]:
    """Registered names in registration order (small and fast first), for CLI choices and GUI dropdowns."""
    return list(_REGISTRY)


def encoder_description(name: str) -> str:
    return _entry(name).description


def create_encoder(name: str, image_size: int = 32, small_stem: bool | None = None) -> Encoder:
    """Build the encoder `name` for square inputs of `image_size` pixels (randomly initialised, never downloaded)."""
    entry = _entry(name)
    if image_size < MIN_IMAGE_SIZE:
        raise ConfigError(f"Encoder '{name}' needs images of at least {MIN_IMAGE_SIZE} px, got {image_size}.")
    encoder = entry.factory(image_size, small_stem)
    encoder.image_size = image_size
    return encoder


def _entry(name: str) -> _Entry:
    if name not in _REGISTRY:
        raise ConfigError(f"Unknown encoder '{name}'; choose one of: {', '.join(_REGISTRY)}.")
    return _REGISTRY[name]


# --- plain CNNs -----------------------------------------------------------------------------------------------


def _flatten_fc(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(1), nn.Linear(in_dim, out_dim), nn.ReLU(inplace=True))


@register_encoder("seed-cnn", "The seed article's 4-conv network (no BN), fixed to accept any image size; 256-d.")
def seed_cnn(image_size: int, small_stem: bool | None = None) -> Encoder:
    """The seed's encoder (article section 5.3): conv 3->64->128->256->512 (3x3, ReLU, max-pool 2 each), fc1 -> 256.

    Fixes: the seed flattened 512*4*4, which only fits 64 px input; an adaptive average pool to 4x4 now makes
    that true at any size (>= 8 px, pooling with ceil_mode so 1x1 maps survive). The seed's fc2 (256 -> 128)
    is the projection head's job. `small_stem` is ignored.
    """
    widths = [64, 128, 256, 512]
    stages, c_in = [], 3
    for c_out in widths:
        stages.append(
            nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True))
        )
        c_in = c_out
    head = nn.Sequential(nn.AdaptiveAvgPool2d((4, 4)), _flatten_fc(512 * 4 * 4, 256))
    return StagedConvEncoder(nn.Identity(), stages, widths, head, feature_dim=256)


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


@register_encoder(
    "small-cnn",
    "A small, fast CNN with BatchNorm for 28-64 px images on a CPU; 256-d output, 2048-d representation "
    "(its pooled stage-3 grid, used by kNN, maps and exports).",
)
def small_cnn(image_size: int, small_stem: bool | None = None) -> Encoder:
    """Four stages of conv3x3-BN-ReLU (widths 32-64-128-256), max-pool 2 between stages, global average pool.

    About 15 M multiply-adds per 32 px image (resnet18 with a small stem: about 555 M), so a laptop CPU trains it
    for several epochs in minutes. Its default representation is "stage3-grid" (see StagedConvEncoder).
    `small_stem` is ignored.
    """
    widths = [32, 64, 128, 256]
    stages, c_in = [], 3
    for i, c_out in enumerate(widths):
        pool = [nn.MaxPool2d(2, ceil_mode=True)] if i > 0 else []
        stages.append(nn.Sequential(*pool, *_conv_bn_relu(c_in, c_out)))
        c_in = c_out
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
    return StagedConvEncoder(nn.Identity(), stages, widths, head, feature_dim=256, default_representation="stage3-grid")

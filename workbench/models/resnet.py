"""torchvision ResNets as encoders (randomly initialised: weights=None, nothing is ever downloaded).

The classifier (`fc`) is dropped; the forward output is the global-average-pooled last stage. For small
images the ImageNet stem (7x7 stride-2 conv + max-pool, a 4x downsampling) throws away most of the
picture, so the CIFAR variant of He et al. (2016) and SimCLR is used instead: one 3x3 stride-1 conv, no
max-pool.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torchvision.models import ResNet, resnet18, resnet34, resnet50

from workbench.models.encoders import Encoder, StagedConvEncoder, register_encoder

SMALL_STEM_MAX_SIZE = 64  # small_stem=None picks the 3x3 stem at or below this many pixels


def uses_small_stem(image_size: int, small_stem: bool | None) -> bool:
    return image_size <= SMALL_STEM_MAX_SIZE if small_stem is None else small_stem


def _from_torchvision(net: ResNet, small_stem: bool) -> Encoder:
    if small_stem:
        net.conv1 = nn.Conv2d(3, net.conv1.out_channels, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        net.maxpool = nn.Identity()
    stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    stages = [net.layer1, net.layer2, net.layer3, net.layer4]
    expansion = type(net.layer1[0]).expansion  # 1 for basic blocks (resnet18/34), 4 for bottlenecks (resnet50)
    widths = [w * expansion for w in (64, 128, 256, 512)]
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
    encoder = StagedConvEncoder(stem, stages, widths, head, feature_dim=widths[-1])
    encoder.small_stem = small_stem
    return encoder


def _register(name: str, builder: Callable[..., ResNet], feature_dim: int) -> None:
    @register_encoder(name, f"torchvision {name} (random init), 3x3 stem at <= 64 px; {feature_dim}-d.")
    def factory(image_size: int, small_stem: bool | None = None) -> Encoder:
        return _from_torchvision(builder(weights=None), uses_small_stem(image_size, small_stem))


_register("resnet18", resnet18, 512)
_register("resnet34", resnet34, 512)
_register("resnet50", resnet50, 2048)

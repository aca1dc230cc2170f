"""The augmentation spec: plain dataclasses (no torch), serialisable, with named presets.

One `ViewSpec` describes how one view is drawn; an `AugmentSpec` holds one `ViewSpec` per view, so
asymmetric recipes (BYOL) and multi-view methods (CMC) need nothing special. Every transform has an
`enabled` switch and a probability `p`, so the GUI can turn a transform off without losing its values.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from workbench.errors import ConfigError
from workbench.serial import from_plain

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)  # the seed article's Normalize values
CIFAR_STD = (0.2023, 0.1994, 0.2010)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class CropSpec:
    """RandomResizedCrop: a box of `scale` x the image area and aspect `ratio`, resized to the output."""

    enabled: bool = True
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)


@dataclass
class FlipSpec:
    enabled: bool = True
    p: float = 0.5


@dataclass
class RotationSpec:
    """Rotation by an angle drawn uniformly from [-degrees, degrees]."""

    enabled: bool = False
    p: float = 1.0
    degrees: float = 15.0


@dataclass
class ColorJitterSpec:
    """ColorJitter as in torchvision: factors drawn from [1-x, 1+x] (hue: [-hue, hue] turns)."""

    enabled: bool = True
    p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1


@dataclass
class GrayscaleSpec:
    enabled: bool = True
    p: float = 0.2


@dataclass
class BlurSpec:
    """Gaussian blur; the kernel side is `kernel_fraction` of the image side (SimCLR: 10%)."""

    enabled: bool = False
    p: float = 0.5
    sigma: tuple[float, float] = (0.1, 2.0)
    kernel_fraction: float = 0.1


@dataclass
class SolarizeSpec:
    """Invert pixels above `threshold` (a fraction of full scale)."""

    enabled: bool = False
    p: float = 0.2
    threshold: float = 0.5


@dataclass
class ViewSpec:
    """How one view is drawn. Order: crop, flips, rotation, colour jitter, grayscale, blur, solarize."""

    crop: CropSpec = field(default_factory=CropSpec)
    hflip: FlipSpec = field(default_factory=FlipSpec)
    vflip: FlipSpec = field(default_factory=lambda: FlipSpec(enabled=False))
    rotation: RotationSpec = field(default_factory=RotationSpec)
    color_jitter: ColorJitterSpec = field(default_factory=ColorJitterSpec)
    grayscale: GrayscaleSpec = field(default_factory=GrayscaleSpec)
    blur: BlurSpec = field(default_factory=BlurSpec)
    solarize: SolarizeSpec = field(default_factory=SolarizeSpec)


@dataclass
class AugmentSpec:
    """One ViewSpec per view, plus the output size and normalisation shared by all views."""

    name: str = "custom"
    views: list[ViewSpec] = field(default_factory=lambda: [ViewSpec(), ViewSpec()])
    output_size: int | None = None  # None: the cached image size (the training resolution)
    mean: tuple[float, float, float] = CIFAR_MEAN
    std: tuple[float, float, float] = CIFAR_STD

    @property
    def n_views(self) -> int:
        return len(self.views)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentSpec:
        spec = from_plain(cls, data, "augment")
        spec.validate()
        return spec

    def with_views(self, n: int) -> AugmentSpec:
        """A copy with `n` views, repeating the last view's recipe (multi-view methods)."""
        spec = copy.deepcopy(self)
        while len(spec.views) < n:
            spec.views.append(copy.deepcopy(spec.views[-1]))
        spec.views = spec.views[:n]
        return spec

    def validate(self) -> None:
        if not self.views:
            raise ConfigError("augment.views must hold at least one view.")
        if self.output_size is not None and not 8 <= self.output_size <= 1024:
            raise ConfigError(f"augment.output_size must be between 8 and 1024, got {self.output_size}.")
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) != 3:
                raise ConfigError(f"augment.{name} needs 3 values (R, G, B), got {len(values)}.")
        if min(self.std) <= 0:
            raise ConfigError(f"augment.std must be positive, got {self.std}.")
        for i, view in enumerate(self.views):
            _validate_view(view, f"augment.views[{i}]")


def _validate_view(view: ViewSpec, where: str) -> None:
    for f in fields(view):
        part = getattr(view, f.name)
        p = getattr(part, "p", None)
        if p is not None and not 0.0 <= p <= 1.0:
            raise ConfigError(f"{where}.{f.name}.p must be a probability in [0, 1], got {p}.")
    lo, hi = view.crop.scale
    if not 0.0 < lo <= hi <= 1.0:
        raise ConfigError(f"{where}.crop.scale must satisfy 0 < min <= max <= 1, got {view.crop.scale}.")
    lo, hi = view.crop.ratio
    if not 0.0 < lo <= hi:
        raise ConfigError(f"{where}.crop.ratio must satisfy 0 < min <= max, got {view.crop.ratio}.")
    jitter = view.color_jitter
    for name in ("brightness", "contrast", "saturation"):
        value = getattr(jitter, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{where}.color_jitter.{name} must be in [0, 1], got {value}.")
    if not 0.0 <= jitter.hue <= 0.5:
        raise ConfigError(f"{where}.color_jitter.hue must be in [0, 0.5], got {jitter.hue}.")
    lo, hi = view.blur.sigma
    if not 0.0 < lo <= hi:
        raise ConfigError(f"{where}.blur.sigma must satisfy 0 < min <= max, got {view.blur.sigma}.")
    if not 0.0 < view.blur.kernel_fraction <= 1.0:
        raise ConfigError(f"{where}.blur.kernel_fraction must be in (0, 1], got {view.blur.kernel_fraction}.")
    if not 0.0 <= view.solarize.threshold <= 1.0:
        raise ConfigError(f"{where}.solarize.threshold must be in [0, 1], got {view.solarize.threshold}.")
    if not 0.0 <= view.rotation.degrees <= 180.0:
        raise ConfigError(f"{where}.rotation.degrees must be in [0, 180], got {view.rotation.degrees}.")


# ---- presets -------------------------------------------------------------------------------------


def _seed() -> AugmentSpec:
    """Exactly the seed article's CIFAR pipeline (RandomResizedCrop(32), flip, jitter, grayscale)."""
    view = ViewSpec(
        crop=CropSpec(scale=(0.08, 1.0)),
        color_jitter=ColorJitterSpec(p=0.8, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1),
        grayscale=GrayscaleSpec(p=0.2),
    )
    return AugmentSpec("seed", [view, copy.deepcopy(view)], output_size=32, mean=CIFAR_MEAN, std=CIFAR_STD)


def _simclr() -> AugmentSpec:
    """SimCLR (Chen et al. 2020, appendix A): jitter strength 1.0 -> (0.8, 0.8, 0.8, 0.2), blur p=0.5."""
    view = ViewSpec(
        color_jitter=ColorJitterSpec(p=0.8, brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2),
        grayscale=GrayscaleSpec(p=0.2),
        blur=BlurSpec(enabled=True, p=0.5),
    )
    return AugmentSpec("simclr", [view, copy.deepcopy(view)], mean=IMAGENET_MEAN, std=IMAGENET_STD)


def _byol() -> AugmentSpec:
    """BYOL (Grill et al. 2020, table 6): blur 1.0 / 0.1 and solarize 0.0 / 0.2 in the two views."""
    first = ViewSpec(
        color_jitter=ColorJitterSpec(p=0.8, brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1),
        grayscale=GrayscaleSpec(p=0.2),
        blur=BlurSpec(enabled=True, p=1.0),
        solarize=SolarizeSpec(enabled=True, p=0.0),
    )
    second = copy.deepcopy(first)
    second.blur.p = 0.1
    second.solarize.p = 0.2
    return AugmentSpec("byol", [first, second], mean=IMAGENET_MEAN, std=IMAGENET_STD)


def _moco_v2() -> AugmentSpec:
    """MoCo v2 (Chen et al. 2020): crop scale (0.2, 1), jitter 0.4/0.1 p=0.8, grayscale 0.2, blur 0.5."""
    view = ViewSpec(
        crop=CropSpec(scale=(0.2, 1.0)),
        color_jitter=ColorJitterSpec(p=0.8, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1),
        grayscale=GrayscaleSpec(p=0.2),
        blur=BlurSpec(enabled=True, p=0.5),
    )
    return AugmentSpec("moco-v2", [view, copy.deepcopy(view)], mean=IMAGENET_MEAN, std=IMAGENET_STD)


def _light() -> AugmentSpec:
    """For small or grayscale images: gentle crops, flips, brightness/contrast only (no hue, no blur)."""
    view = ViewSpec(
        crop=CropSpec(scale=(0.3, 1.0)),
        color_jitter=ColorJitterSpec(p=0.8, brightness=0.4, contrast=0.4, saturation=0.0, hue=0.0),
        grayscale=GrayscaleSpec(enabled=False, p=0.0),
    )
    return AugmentSpec("light", [view, copy.deepcopy(view)], mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


PRESETS = {"seed": _seed, "simclr": _simclr, "byol": _byol, "moco-v2": _moco_v2, "light": _light}


def list_presets() -> list[str]:
    return list(PRESETS)


def preset(name: str) -> AugmentSpec:
    """A fresh copy of a named preset."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ConfigError(f"Unknown augmentation preset '{name}'; choose one of: {', '.join(PRESETS)}.") from None

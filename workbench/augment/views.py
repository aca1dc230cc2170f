"""(spec, images, seed) -> V augmented views: the one function training and the GUI preview both call.

The whole batch is augmented at once: every random parameter is drawn per sample on the CPU from one
generator (so a seed gives the same parameters on every device), moved to the images' device, and
applied by batched kernels (`ops.py`). Per view, in torchvision's order:
crop + flips + rotation (one fused affine resample straight to S x S), colour jitter (random order per
batch), grayscale, Gaussian blur, solarize, then normalisation with spec.mean/std.
A transform that is disabled or has p == 0 draws nothing and costs nothing.
"""

from __future__ import annotations

import math
import operator

import torch
import torch.nn.functional as F

from workbench.augment import ops
from workbench.augment.spec import AugmentSpec, ColorJitterSpec, CropSpec, ViewSpec

_TRIES = 10  # RandomResizedCrop's attempts before its central-crop fallback

# ColorJitter's four operations in torchvision's index order: (spec field, kernel, neutral value).
# Factors are drawn in [neutral - x, neutral + x]: around 1 for the blends, around 0 turns for hue.
_JITTER = (
    ("brightness", ops.adjust_brightness, 1.0),
    ("contrast", ops.adjust_contrast, 1.0),
    ("saturation", ops.adjust_saturation, 1.0),
    ("hue", ops.adjust_hue, 0.0),
)


def make_views(
    spec: AugmentSpec,
    images: torch.Tensor,
    generator: torch.Generator | int,
    *,
    sample_offset: int = 0,
    global_batch: int | None = None,
) -> list[torch.Tensor]:
    """Draw len(spec.views) augmented views of a batch.

    images: uint8 (B, 3, H, W) on any device. Returns one float32 (B, 3, S, S) tensor per view,
    S = spec.output_size or H, normalised with spec.mean/std, on images.device. `generator` is a CPU
    torch.Generator (advanced by the call) or an int seed for a fresh one: same seed, same views.

    Under torchrun a process holds rows [sample_offset, sample_offset + B) of a global batch of `global_batch`
    images: every parameter is then drawn for the whole global batch and cut to those rows, so each image gets the
    augmentation it would get in one process, whatever the number of processes.
    """
    _check_images(images)
    spec.validate()
    total = images.shape[0] if global_batch is None else global_batch
    if not 0 <= sample_offset <= total - images.shape[0]:
        raise ValueError(
            f"rows {sample_offset}..{sample_offset + images.shape[0]} do not fit in a global batch of {total}."
        )
    draws = _Draws(_cpu_generator(generator), slice(sample_offset, sample_offset + images.shape[0]), total)
    size = _output_size(spec, images)
    if images.shape[0] == 0:  # an empty batch (e.g. a filtered preview): nothing to draw
        return [torch.empty(0, 3, size, size, device=images.device) for _ in spec.views]
    x = images.float().div_(255.0)  # (B, 3, H, W) in [0, 1], shared by all views
    return [_normalize(spec, _draw_view(view, x, size, draws)) for view in spec.views]


def prepare(spec: AugmentSpec, images: torch.Tensor) -> torch.Tensor:
    """No augmentation: uint8 (B, 3, H, W) -> float32 (B, 3, S, S), resized (antialiased) and normalised."""
    _check_images(images)
    return _normalize(spec, _resize(images.float().div_(255.0), _output_size(spec, images)))


def denormalize(spec: AugmentSpec, views: torch.Tensor) -> torch.Tensor:
    """Undo the normalisation for display: float (B, 3, S, S) -> uint8 (B, 3, S, S)."""
    mean, std = _stats(spec, views)
    return (views * std + mean).mul_(255.0).round_().clamp_(0, 255).to(torch.uint8)


# ---- one view ------------------------------------------------------------------------------------


def _draw_view(view: ViewSpec, x: torch.Tensor, size: int, draws: _Draws) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> one augmented view (B, 3, size, size) in [0, 1]."""
    x = _geometry(view, x, size, draws)
    x = _color_jitter(view.color_jitter, x, draws)
    if _active(view.grayscale):
        pick = draws.coin(view.grayscale.p)
        if pick.any():
            x = _where(pick, ops.grayscale(x).expand_as(x), x)
    if _active(view.blur):
        x = _blur(view, x, draws)
    if _active(view.solarize):
        pick = draws.coin(view.solarize.p)
        if pick.any():
            x = _where(pick, ops.solarize(x, view.solarize.threshold), x)
    return x


def _geometry(view: ViewSpec, x: torch.Tensor, size: int, draws: _Draws) -> torch.Tensor:
    """Crop, flips and rotation as one affine resample per sample: (B, 3, H, W) -> (B, 3, size, size).

    Without crop or rotation nothing needs resampling: a plain resize (as in prepare) and exact flips.
    """
    bsz, _, height, width = x.shape
    if view.crop.enabled:
        box = _sample_crop(view.crop, height, width, draws)
    else:  # the whole image, resized (squashed if not square) like prepare()
        box = (torch.zeros(bsz), torch.zeros(bsz), torch.full((bsz,), float(height)), torch.full((bsz,), float(width)))
    no = torch.zeros(bsz, dtype=torch.bool)
    hflip = draws.coin(view.hflip.p) if _active(view.hflip) else no
    vflip = draws.coin(view.vflip.p) if _active(view.vflip) else no
    rotate = _active(view.rotation) and view.rotation.degrees > 0
    if not (view.crop.enabled or rotate):
        # Nothing to resample: the antialiased resize of prepare(), then exact flips.
        x = _resize(x, size)
        if hflip.any():
            x = _where(hflip, x.flip(-1), x)
        if vflip.any():
            x = _where(vflip, x.flip(-2), x)
        return x
    angle = torch.zeros(bsz)
    if rotate:
        pick = draws.coin(view.rotation.p)
        angle = torch.where(pick, draws.uniform(-view.rotation.degrees, view.rotation.degrees), angle)
    theta = ops.affine_theta(box, (height, width), hflip, vflip, angle).to(x.device, x.dtype)
    clip = ops.rotation_theta(angle).to(x.device, x.dtype) if rotate else None
    return ops.warp(x, theta, size, clip)


def _sample_crop(
    crop: CropSpec, height: int, width: int, draws: _Draws
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """torchvision's RandomResizedCrop.get_params for n samples at once -> (top, left, h, w), each (n,).

    All ten tries are drawn together as (n, 10) tables: area fraction uniform in `scale`, aspect ratio
    log-uniform in `ratio`; each sample keeps its first try that fits, else the central fallback crop.
    """
    f64 = torch.float64
    scale = draws.uniform(crop.scale[0], crop.scale[1], _TRIES, dtype=f64)
    aspect = torch.exp(draws.uniform(math.log(crop.ratio[0]), math.log(crop.ratio[1]), _TRIES, dtype=f64))
    area = height * width * scale
    w = torch.round(torch.sqrt(area * aspect))  # (n, 10) candidate sizes in pixels
    h = torch.round(torch.sqrt(area / aspect))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)  # index of the first fitting try
    found = fits.any(dim=1)
    fallback_h, fallback_w = _central_crop(crop, height, width)
    w = torch.where(found, w.gather(1, first).squeeze(1), float(fallback_w))
    h = torch.where(found, h.gather(1, first).squeeze(1), float(fallback_h))
    # a uniform integer offset in [0, H - h] (randint's range), centred for the fallback
    top = torch.floor(draws.rand(dtype=f64) * (height - h + 1))
    left = torch.floor(draws.rand(dtype=f64) * (width - w + 1))
    top = torch.where(found, top, torch.div(height - h, 2, rounding_mode="floor"))
    left = torch.where(found, left, torch.div(width - w, 2, rounding_mode="floor"))
    return top.float(), left.float(), h.float(), w.float()


def _central_crop(crop: CropSpec, height: int, width: int) -> tuple[int, int]:
    """RandomResizedCrop's fallback (h, w): the whole image, trimmed to the nearest allowed aspect ratio."""
    in_ratio = width / height
    if in_ratio < min(crop.ratio):
        return int(round(width / min(crop.ratio))), width
    if in_ratio > max(crop.ratio):
        return height, int(round(height * max(crop.ratio)))
    return height, width


def _color_jitter(jitter: ColorJitterSpec, x: torch.Tensor, draws: _Draws) -> torch.Tensor:
    """RandomApply(ColorJitter, p) per sample; the four operations run in one random order per batch.

    A sample that is not picked gets the neutral factor (1, or a hue shift of 0), which leaves it
    unchanged, so every kernel runs once on the whole batch with no per-sample select.
    """
    if not _active(jitter):
        return x
    pick = draws.coin(jitter.p)
    order = torch.randperm(len(_JITTER), generator=draws.gen).tolist()  # one order for the whole global batch
    factors = {}
    for name, _, neutral in _JITTER:  # drawn in a fixed order, whatever the order of application
        amount = getattr(jitter, name)
        if amount > 0:
            drawn = draws.uniform(neutral - amount, neutral + amount)
            factors[name] = torch.where(pick, drawn, neutral).to(x.device)
    if not pick.any():
        return x
    for index in order:
        name, kernel, _ = _JITTER[index]
        if name in factors:
            x = kernel(x, factors[name])  # each kernel clamps to [0, 1], like torchvision
    return x


def _blur(view: ViewSpec, x: torch.Tensor, draws: _Draws) -> torch.Tensor:
    """Gaussian blur on the picked samples only (blur is the costly kernel), sigma uniform per sample."""
    size = x.shape[-1]
    pick = draws.coin(view.blur.p)
    sigma = draws.uniform(view.blur.sigma[0], view.blur.sigma[1])
    if not pick.any():
        return x
    side = max(3, int(round(view.blur.kernel_fraction * size)))
    side += 1 - side % 2  # odd, so the kernel has a centre tap
    idx = pick.nonzero().squeeze(1)
    blurred = ops.gaussian_blur(x[idx.to(x.device)], sigma[idx].to(x.device), side)
    return x.index_copy(0, idx.to(x.device), blurred)


# ---- helpers -------------------------------------------------------------------------------------


def _active(part: object) -> bool:
    return bool(getattr(part, "enabled", True)) and getattr(part, "p", 1.0) > 0


class _Draws:
    """Per-sample random numbers for this batch's rows of a global batch of `total` samples, all from one CPU
    generator: each draw is made for the whole global batch and cut to `rows`, so a sample's parameters depend on
    its place in the global batch, never on how it is split across processes (with one process rows is all)."""

    def __init__(self, gen: torch.Generator, rows: slice, total: int):
        self.gen, self.rows, self.total = gen, rows, total

    def rand(self, *trailing: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Uniform [0, 1) of shape (B, *trailing) on the CPU."""
        return torch.rand((self.total, *trailing), generator=self.gen, dtype=dtype)[self.rows]

    def coin(self, p: float) -> torch.Tensor:
        """(B,) bool, each True with probability p."""
        return self.rand() < p

    def uniform(self, low: float, high: float, *trailing: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return low + (high - low) * self.rand(*trailing, dtype=dtype)


def _where(pick: torch.Tensor, changed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample choice: `changed` where pick (B,) is True, else x. Skips the select when all are picked."""
    if pick.all():
        return changed.contiguous() if changed.shape == x.shape else changed.expand_as(x).contiguous()
    return torch.where(pick.to(x.device).view(-1, 1, 1, 1), changed, x)


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def _stats(spec: AugmentSpec, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """spec.mean/std as (1, 3, 1, 1) tensors on `like`'s device."""
    mean = torch.tensor(spec.mean, dtype=torch.float32, device=like.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32, device=like.device).view(1, 3, 1, 1)
    return mean, std


def _normalize(spec: AugmentSpec, x: torch.Tensor) -> torch.Tensor:
    mean, std = _stats(spec, x)
    return (x - mean) / std


def _output_size(spec: AugmentSpec, images: torch.Tensor) -> int:
    return spec.output_size or images.shape[-2]


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a uint8 tensor of shape (B, 3, H, W), got {got}.")


def _cpu_generator(generator: torch.Generator | int) -> torch.Generator:
    """The CPU generator every parameter is drawn from; an int seeds a fresh one."""
    if isinstance(generator, torch.Generator):
        if generator.device.type != "cpu":
            raise ValueError(f"generator must be a CPU torch.Generator, got one on {generator.device}.")
        return generator
    if isinstance(generator, bool):
        raise ValueError(f"generator must be a torch.Generator or an int seed, got {generator!r}.")
    try:
        seed = operator.index(generator)
    except TypeError:
        raise ValueError(f"generator must be a torch.Generator or an int seed, got {generator!r}.") from None
    return torch.Generator().manual_seed(seed)

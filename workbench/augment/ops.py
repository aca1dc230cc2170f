"""Batched image kernels with per-sample parameters: no randomness here, only tensor algebra.

Every function takes float images in [0, 1] of shape (B, 3, H, W) and per-sample parameters of shape
(B,) on the same device, and returns a new (B, 3, H', W') tensor. The colour kernels follow
torchvision.transforms.v2.functional (same grayscale weights, same blend-then-clamp), so a sample
with a fixed factor matches torchvision to float precision. `views.py` draws the parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# ITU-R 601-2 luma, the weights torchvision's rgb_to_grayscale uses.
_LUMA = (0.2989, 0.587, 0.114)


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, 1, 1), to broadcast one value per image over channels and pixels."""
    return values.view(-1, 1, 1, 1)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma of (B, 3, H, W) images -> (B, 1, H, W)."""
    r, g, b = x.unbind(dim=1)
    return (r * _LUMA[0] + g * _LUMA[1] + b * _LUMA[2]).unsqueeze(1)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """factor * x + (1 - factor) * other, clamped to [0, 1]; factor (B,) is one blend weight per image."""
    return torch.lerp(other, x, _per_sample(factor)).clamp_(0.0, 1.0)  # other + f * (x - other)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Multiply each image by its factor (B,): a blend with black."""
    return (x * _per_sample(factor)).clamp_(0.0, 1.0)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each image with the mean of its own grayscale (a (B, 1, 1, 1) constant image)."""
    mean = grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean, factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each image with its grayscale version ((B, 1, H, W), broadcast over channels)."""
    return _blend(x, grayscale(x), factor)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of each image by `shift` (B,) turns, keeping HSV saturation and value.

    An exact HSV round trip without building the HSV image: with V = max(R, G, B) and chroma
    C = V - min(R, G, B), the hue h6 in [0, 6) follows from the dominant channel; each channel of the
    shifted hue is then V - C * clamp(min(k, 4 - k), 0, 1) with k = (n + h6) mod 6 and n = 5, 3, 1 for
    R, G, B (the "alternative" HSV -> RGB formula). Greys (C = 0) come back unchanged. Works plane by
    plane on (B, H, W) tensors, which is several times faster on the CPU than broadcasting over channels.
    """
    r, g, b = x.unbind(dim=1)  # each (B, H, W)
    value = torch.maximum(torch.maximum(r, g), b)
    chroma = value - torch.minimum(torch.minimum(r, g), b)
    inv = 1.0 / chroma.clamp(min=1e-12)  # where C == 0 the hue is irrelevant (times C below)
    h6 = torch.where(
        r == value,
        (g - b) * inv,  # red dominant: hue in [-1, 1]; ties with green or blue give the same hue
        torch.where(g == value, 2.0 + (b - r) * inv, 4.0 + (r - g) * inv),
    )
    h6 = h6 + 6.0 * shift.view(-1, 1, 1)  # the rotation; the mod 6 below wraps it
    planes = []
    for n in (5.0, 3.0, 1.0):
        k = (h6 + n).remainder(6.0)
        planes.append(value - chroma * torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0))
    return torch.stack(planes, dim=1).clamp_(0.0, 1.0)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Blur each image with its own Gaussian (sigma (B,), odd `kernel_size`), reflect padding.

    Separable and depthwise: the batch is folded into channels, (B, 3, H, W) -> (1, B*3, H, W), so one
    grouped conv with B*3 one-channel kernels blurs every image with its own sigma in a single call.
    """
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}.")
    bsz, channels, height, width = x.shape
    half = (kernel_size - 1) // 2
    taps = torch.linspace(-half, half, kernel_size, device=x.device, dtype=x.dtype)  # (k,)
    kernel = torch.exp(-0.5 * (taps / sigma.view(-1, 1)) ** 2)  # (B, k)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(channels, dim=0)  # (B*3, k)
    y = x.reshape(1, bsz * channels, height, width)
    y = F.pad(y, (half, half, half, half), mode="reflect")
    y = F.conv2d(y, kernel.view(-1, 1, 1, kernel_size), groups=bsz * channels)  # along rows
    y = F.conv2d(y, kernel.view(-1, 1, kernel_size, 1), groups=bsz * channels)  # along columns
    return y.view(bsz, channels, height, width)


def solarize(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """Invert pixels at or above `threshold`: x >= t -> 1 - x (torchvision's rule)."""
    return torch.where(x >= threshold, 1.0 - x, x)


def affine_theta(
    box: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    image_size: tuple[int, int],
    hflip: torch.Tensor,
    vflip: torch.Tensor,
    angle: torch.Tensor,
) -> torch.Tensor:
    """One affine map per sample fusing crop, flips and rotation, for `warp` -> theta (B, 2, 3).

    box = (top, left, h, w) in pixels of an image of image_size = (H, W); hflip/vflip (B,) bool;
    angle (B,) degrees, counter-clockwise like torchvision's rotate. Read right to left, an output
    coordinate q (normalised, the S x S view) is rotated back (R^T), flipped (D), then placed in the crop
    box (scale s, centre c):  p = diag(s) @ D @ R^T @ q + c.  Rotating the square output, not the crop,
    matches torchvision's order: crop, resize, flip, rotate.
    """
    top, left, h, w = box
    height, width = image_size
    rad = torch.deg2rad(angle)
    cos, sin = torch.cos(rad), torch.sin(rad)
    sx = (w / width) * (1.0 - 2.0 * hflip.to(w.dtype))  # crop half-width, negated by a flip
    sy = (h / height) * (1.0 - 2.0 * vflip.to(h.dtype))
    cx = (2.0 * left + w) / width - 1.0  # crop centre in [-1, 1]
    cy = (2.0 * top + h) / height - 1.0
    row_x = torch.stack([sx * cos, -sx * sin, cx], dim=1)
    row_y = torch.stack([sy * sin, sy * cos, cy], dim=1)
    return torch.stack([row_x, row_y], dim=1)


def rotation_theta(angle: torch.Tensor) -> torch.Tensor:
    """(B,) degrees -> (B, 2, 3): output coordinates into the rotated crop's frame (R^T, no shift)."""
    rad = torch.deg2rad(angle)
    cos, sin = torch.cos(rad), torch.sin(rad)
    zero = torch.zeros_like(rad)
    return torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], dim=1)


def warp(x: torch.Tensor, theta: torch.Tensor, size: int, clip_theta: torch.Tensor | None = None) -> torch.Tensor:
    """Resample (B, 3, H, W) through per-sample affine maps theta (B, 2, 3) into (B, 3, size, size).

    theta maps output coordinates to input coordinates, both normalised to [-1, 1] with
    align_corners=False (pixel edges at +-1), as F.affine_grid expects. Samples clamp to the image border
    (no dark rim from zero padding). `clip_theta` (B, 2, 3), if given, maps output coordinates into the
    crop's own frame; pixels it sends outside [-1, 1] are filled with black, like torchvision's rotate.
    """
    shape = [x.shape[0], x.shape[1], size, size]
    grid = F.affine_grid(theta, shape, align_corners=False)  # (B, size, size, 2)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if clip_theta is not None:
        frame = F.affine_grid(clip_theta, shape, align_corners=False)
        inside = (frame.abs() <= 1.0).all(dim=-1).unsqueeze(1)  # (B, 1, size, size)
        out = out * inside
    return out

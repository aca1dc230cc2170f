"""The batched kernels against torchvision.transforms.v2.functional, one image and one factor at a time."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.v2.functional as TF

from workbench.augment import ops


def _batch(n: int = 4, size: int = 16) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))


def _per_image(reference, x: torch.Tensor, values: list[float]) -> torch.Tensor:
    return torch.stack([reference(img, v) for img, v in zip(x, values, strict=True)])


@pytest.mark.parametrize(
    ("kernel", "reference", "values"),
    [
        (ops.adjust_brightness, TF.adjust_brightness, [0.0, 0.6, 1.0, 1.8]),
        (ops.adjust_contrast, TF.adjust_contrast, [0.0, 0.6, 1.0, 1.8]),
        (ops.adjust_saturation, TF.adjust_saturation, [0.0, 0.6, 1.0, 1.8]),
        (ops.adjust_hue, TF.adjust_hue, [-0.5, -0.13, 0.2, 0.45]),
    ],
)
def test_colour_kernels_match_torchvision(kernel, reference, values):
    x = _batch()
    out = kernel(x, torch.tensor(values))
    torch.testing.assert_close(out, _per_image(reference, x, values), atol=1e-5, rtol=0)


def test_brightness_extremes():
    x = _batch()
    assert torch.equal(ops.adjust_brightness(x, torch.zeros(4)), torch.zeros_like(x))
    assert torch.equal(ops.adjust_brightness(x, torch.full((4,), 2.0)), (2 * x).clamp(max=1.0))  # saturates at white


def test_hue_zero_is_identity_and_half_turn_makes_red_cyan():
    x = _batch()
    torch.testing.assert_close(ops.adjust_hue(x, torch.zeros(4)), x, atol=1e-6, rtol=0)
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0
    cyan = 1.0 - red
    torch.testing.assert_close(ops.adjust_hue(red, torch.tensor([0.5])), cyan)
    grey = torch.full((1, 3, 2, 2), 0.3)
    torch.testing.assert_close(ops.adjust_hue(grey, torch.tensor([0.25])), grey)


def test_grayscale_matches_torchvision():
    x = _batch()
    torch.testing.assert_close(ops.grayscale(x), TF.rgb_to_grayscale(x), atol=1e-6, rtol=0)


def test_blur_matches_torchvision_per_sample_sigma():
    x = _batch(3, 20)
    sigmas = [0.3, 1.0, 2.5]
    out = ops.gaussian_blur(x, torch.tensor(sigmas), 7)
    expected = torch.stack([TF.gaussian_blur(img, [7, 7], [s, s]) for img, s in zip(x, sigmas, strict=True)])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="odd"):
        ops.gaussian_blur(x, torch.tensor(sigmas), 4)


def test_solarize_inverts_at_and_above_threshold():
    x = torch.tensor([0.1, 0.5, 0.9]).view(1, 3, 1, 1)
    assert torch.allclose(ops.solarize(x, 0.5).flatten(), torch.tensor([0.1, 0.5, 0.1]))


def _warp(x: torch.Tensor, *, angle: float = 0.0, hflip: bool = False) -> torch.Tensor:
    n, _, height, width = x.shape
    box = (torch.zeros(n), torch.zeros(n), torch.full((n,), float(height)), torch.full((n,), float(width)))
    angles = torch.full((n,), angle)
    theta = ops.affine_theta(box, (height, width), torch.full((n,), hflip), torch.zeros(n, dtype=torch.bool), angles)
    return ops.warp(x, theta, height, ops.rotation_theta(angles))


def test_rotation_turns_counter_clockwise_like_torchvision():
    x = _batch(2, 8)
    torch.testing.assert_close(_warp(x, angle=90.0), TF.rotate(x, 90.0), atol=1e-5, rtol=0)


def test_rotation_fills_uncovered_corners_with_black():
    x = torch.ones(1, 3, 32, 32)
    out = _warp(x, angle=45.0)
    assert out[0, :, 0, 0].abs().max() == 0 and out[0, :, 16, 16].min() == 1.0


def test_crop_box_selects_the_region():
    # a box over the right half, resized to the full side: column j of the output samples column 16 + j / 2
    x = torch.arange(32.0).expand(1, 3, 32, 32).contiguous()
    box = (torch.zeros(1), torch.full((1,), 16.0), torch.full((1,), 32.0), torch.full((1,), 16.0))
    no = torch.zeros(1, dtype=torch.bool)
    out = ops.warp(x, ops.affine_theta(box, (32, 32), no, no, torch.zeros(1)), 32)
    expected = (16 + (torch.arange(32) + 0.5) / 2 - 0.5).clamp(max=31)
    torch.testing.assert_close(out[0, 0, 0], expected, atol=1e-4, rtol=0)

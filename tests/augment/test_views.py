"""make_views / prepare / denormalize: the views training and the preview see."""

from __future__ import annotations

import copy

import pytest
import torch

from workbench.augment.spec import PRESETS, AugmentSpec, CropSpec, ViewSpec, preset
from workbench.augment.views import _Draws, _sample_crop, denormalize, make_views, prepare
from workbench.errors import ConfigError


def _images(n: int = 8, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _plain_view() -> ViewSpec:
    """A view with every transform switched off (crop too): only resize + normalise remain."""
    view = ViewSpec()
    view.crop.enabled = False
    for part in (view.hflip, view.vflip, view.rotation, view.color_jitter, view.grayscale, view.blur, view.solarize):
        part.enabled = False
    return view


def _spec(view: ViewSpec, n_views: int = 1, output_size: int | None = None) -> AugmentSpec:
    return AugmentSpec("test", [copy.deepcopy(view) for _ in range(n_views)], output_size=output_size)


def _unit(spec: AugmentSpec, views: torch.Tensor) -> torch.Tensor:
    """Normalised views back to [0, 1] floats, for checks in image space."""
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return views * std + mean


def test_shapes_dtype_device_and_output_size():
    spec = preset("simclr").with_views(3)
    spec.output_size = 24
    views = make_views(spec, _images(5, 32), 0)
    assert len(views) == 3
    for v in views:
        assert v.shape == (5, 3, 24, 24) and v.dtype == torch.float32 and v.device.type == "cpu"
        assert torch.isfinite(v).all()
    spec.output_size = None  # None: the image size
    assert make_views(spec, _images(2, 40), 0)[0].shape == (2, 3, 40, 40)


def test_same_seed_same_views_other_seed_other_views():
    spec, x = preset("seed"), _images()
    a, b, c = make_views(spec, x, 7), make_views(spec, x, 7), make_views(spec, x, 8)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.allclose(a[0], c[0])
    gen = torch.Generator().manual_seed(7)
    first = make_views(spec, x, gen)
    assert all(torch.equal(u, v) for u, v in zip(first, a, strict=True))  # int seed == fresh generator
    assert not torch.allclose(make_views(spec, x, gen)[0], first[0])  # the generator advanced


@pytest.mark.parametrize("output_size", [None, 16, 48])
def test_everything_disabled_equals_prepare(output_size):
    spec, x = _spec(_plain_view(), n_views=2, output_size=output_size), _images()
    expected = prepare(spec, x)
    assert expected.shape[-1] == (output_size or 32)
    for v in make_views(spec, x, 3):
        assert torch.equal(v, expected)


def test_full_crop_without_flips_is_identity():
    view = _plain_view()
    view.crop = CropSpec(enabled=True, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    spec, x = _spec(view), _images()
    torch.testing.assert_close(make_views(spec, x, 0)[0], prepare(spec, x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("crop", [False, True])
def test_flips_with_p_one_match_torch_flip(crop):
    view = _plain_view()
    view.crop = CropSpec(enabled=crop, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    view.hflip.enabled, view.hflip.p = True, 1.0
    spec, x = _spec(view), _images()
    base = prepare(spec, x)
    torch.testing.assert_close(make_views(spec, x, 0)[0], base.flip(-1), atol=1e-5, rtol=0)
    view.vflip.enabled, view.vflip.p = True, 1.0
    torch.testing.assert_close(make_views(_spec(view), x, 0)[0], base.flip(-1).flip(-2), atol=1e-5, rtol=0)


def test_grayscale_p_one_gives_equal_channels():
    view = _plain_view()
    view.grayscale.enabled, view.grayscale.p = True, 1.0
    spec = _spec(view)
    out = _unit(spec, make_views(spec, _images(), 0)[0])
    torch.testing.assert_close(out[:, 0], out[:, 1], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:, 0], out[:, 2], atol=1e-5, rtol=0)


def test_solarize_threshold_zero_inverts_everything():
    view = _plain_view()
    view.solarize.enabled, view.solarize.p, view.solarize.threshold = True, 1.0, 0.0
    spec, x = _spec(view), _images()
    out = _unit(spec, make_views(spec, x, 0)[0])
    torch.testing.assert_close(out, 1.0 - x.float() / 255, atol=1e-5, rtol=0)


def test_brightness_scales_each_image_by_one_factor_in_range():
    view = _plain_view()
    jitter = view.color_jitter
    jitter.enabled, jitter.p, jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue = True, 1.0, 1, 0, 0, 0
    spec = _spec(view)
    x = torch.full((16, 3, 8, 8), 100, dtype=torch.uint8)  # 0.39: never clamped for factors up to 2.55
    out = _unit(spec, make_views(spec, x, 0)[0])
    factor = out / (100 / 255)
    per_image = factor.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1], atol=1e-4)  # one factor per image
    assert per_image.min() >= 0.0 and per_image.max() <= 2.0 + 1e-4  # drawn from [1 - 1, 1 + 1]
    assert per_image[:, 0].std() > 0.1  # and they differ across the batch


def test_jitter_with_p_zero_and_hue_zero_changes_nothing():
    view = _plain_view()
    view.color_jitter.enabled, view.color_jitter.p = True, 0.0
    spec, x = _spec(view), _images()
    assert torch.equal(make_views(spec, x, 0)[0], prepare(spec, x))


def test_blur_reduces_checkerboard_variance():
    view = _plain_view()
    view.blur.enabled, view.blur.p, view.blur.sigma = True, 1.0, (1.0, 2.0)
    spec = _spec(view)
    board = ((torch.arange(32).view(-1, 1) + torch.arange(32)) % 2 * 255).to(torch.uint8)
    x = board.expand(4, 3, 32, 32).contiguous()
    out = _unit(spec, make_views(spec, x, 0)[0])
    assert out.var() < 0.1 * (x.float() / 255).var()


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_runs(name):
    spec = preset(name)
    views = make_views(spec, _images(4, 32), 0)
    size = spec.output_size or 32
    assert len(views) == spec.n_views
    assert all(v.shape == (4, 3, size, size) and torch.isfinite(v).all() for v in views)


def test_parameters_differ_across_the_batch():
    x = _images(1).expand(8, 3, 32, 32).contiguous()  # 8 copies of one image
    for v in make_views(preset("seed"), x, 0):
        distinct = {tuple(v[i].flatten()[:64].tolist()) for i in range(8)}
        assert len(distinct) == 8


def test_byol_views_use_their_own_blur_probabilities():
    views = []
    for byol_view in preset("byol").views:  # keep only each view's blur (p = 1.0 and 0.1)
        view = _plain_view()
        view.blur = copy.deepcopy(byol_view.blur)
        view.blur.sigma = (1.0, 2.0)  # sigma near 0.1 barely changes a pixel; make every blur visible
        views.append(view)
    spec = AugmentSpec("byol-blur", views)
    board = ((torch.arange(32).view(-1, 1) + torch.arange(32)) % 2 * 255).to(torch.uint8)
    x = board.expand(64, 3, 32, 32).contiguous()
    sharp = prepare(spec, x)
    blurred = [int((~torch.isclose(v, sharp).flatten(1).all(dim=1)).sum()) for v in make_views(spec, x, 0)]
    assert blurred[0] == 64
    assert 1 <= blurred[1] <= 20  # about 10% of 64


def test_rotation_turns_each_sample_its_own_angle_with_black_corners():
    view = _plain_view()
    view.rotation.enabled, view.rotation.p, view.rotation.degrees = True, 1.0, 180.0
    spec = _spec(view)
    x = torch.full((8, 3, 32, 32), 255, dtype=torch.uint8)
    out = _unit(spec, make_views(spec, x, 0)[0])
    black = (out.amax(dim=1) < 0.5).flatten(1).float().mean(dim=1)  # uncovered fraction per sample
    assert (black < 0.45).all() and len({round(v, 4) for v in black.tolist()}) > 4
    assert (out[:, :, 16, 16] > 0.99).all()  # the centre stays in the image whatever the angle


def test_crop_sampling_follows_scale_and_ratio():
    crop = CropSpec(scale=(0.2, 0.5), ratio=(0.5, 2.0))
    top, left, h, w = _sample_crop(crop, 64, 64, _Draws(torch.Generator().manual_seed(0), slice(0, 2000), 2000))
    area = h * w / 64**2
    assert area.min() > 0.15 and area.max() < 0.56  # the rounding to whole pixels widens the range a little
    assert (w / h).min() > 0.45 and (w / h).max() < 2.2
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 64).all() and (left + w <= 64).all()
    assert len(set(top.tolist())) > 20  # positions spread over the image


def test_crop_falls_back_to_a_central_crop():
    # a 4:1 box of at least 90% of a square image never fits: torchvision then takes the central crop
    crop = CropSpec(scale=(0.9, 1.0), ratio=(4.0, 5.0))
    top, left, h, w = _sample_crop(crop, 32, 32, _Draws(torch.Generator().manual_seed(0), slice(0, 16), 16))
    assert torch.equal(w, torch.full((16,), 32.0)) and torch.equal(h, torch.full((16,), 8.0))
    assert torch.equal(top, torch.full((16,), 12.0)) and torch.equal(left, torch.zeros(16))


@pytest.mark.parametrize("name", ["simclr", "byol", "light"])
@pytest.mark.parametrize("parts", [2, 3])
def test_a_slice_of_a_global_batch_gets_exactly_its_rows_views(name, parts):
    """Under torchrun each process augments its rows of the global batch; together they are the one-process views."""
    spec, x = preset(name), _images(12)
    whole = make_views(spec, x, 7)
    size = len(x) // parts
    sliced = [
        make_views(spec, x[r * size : (r + 1) * size], 7, sample_offset=r * size, global_batch=len(x))
        for r in range(parts)
    ]
    for v, view in enumerate(whole):
        assert torch.equal(torch.cat([s[v] for s in sliced]), view)
    other_seed = make_views(spec, x[:size], 8, sample_offset=0, global_batch=len(x))
    assert not torch.equal(other_seed[0], whole[0][:size])
    with pytest.raises(ValueError, match="do not fit in a global batch"):
        make_views(spec, x[:size], 7, sample_offset=len(x) - 1, global_batch=len(x))


def test_denormalize_inverts_prepare():
    spec, x = preset("simclr"), _images()
    assert torch.equal(denormalize(spec, prepare(spec, x)), x)
    back = denormalize(spec, make_views(spec, x, 0)[0])
    assert back.dtype == torch.uint8 and back.shape == x.shape


def test_bad_inputs_are_rejected():
    spec = preset("seed")
    with pytest.raises(ValueError, match="uint8"):
        make_views(spec, torch.rand(2, 3, 32, 32), 0)
    with pytest.raises(ValueError, match="uint8"):
        prepare(spec, _images()[:, :1])
    with pytest.raises(ValueError, match="generator"):
        make_views(spec, _images(), "seed")
    spec.views[0].grayscale.p = 2.0
    with pytest.raises(ConfigError, match="grayscale.p"):
        make_views(spec, _images(), 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_views_match_cpu_views():
    spec, x = preset("simclr"), _images(16, 32)
    cpu = make_views(spec, x, 5)
    gpu = make_views(spec, x.cuda(), 5)
    for a, b in zip(cpu, gpu, strict=True):
        assert b.device.type == "cuda"
        torch.testing.assert_close(b.cpu(), a, atol=1e-3, rtol=0)

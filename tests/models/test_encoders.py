"""One smoke test over every registered encoder (timm's tests/test_models.py style), plus the fixes to the seed."""

from __future__ import annotations

import pytest
import torch

from workbench.errors import ConfigError
from workbench.models import Encoder, create_encoder, encoder_description, list_encoders, register_encoder

EXPECTED = {"seed-cnn", "small-cnn", "resnet18", "resnet34", "resnet50", "vit-tiny"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_registry_lists_every_encoder_with_a_description() -> None:
    assert EXPECTED <= set(list_encoders())
    for name in list_encoders():
        assert encoder_description(name).strip()


@pytest.mark.parametrize("name", list_encoders())
def test_forward_and_every_representation_at_32px(name: str) -> None:
    torch.manual_seed(0)
    encoder = create_encoder(name, image_size=32)
    assert isinstance(encoder, Encoder)
    assert encoder.representations[0] == "final"
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = encoder(x)
        assert out.shape == (2, encoder.feature_dim)
        assert torch.isfinite(out).all()
        for rep in encoder.representations:
            features = encoder.represent(x, rep)
            assert features.shape == (2, encoder.representation_dim(rep)), rep
        assert torch.equal(encoder.represent(x, "final"), out)
        # channels_last inputs (used on CUDA) must work: nothing may .view a non-contiguous tensor.
        for rep in encoder.representations:
            encoder.represent(x.contiguous(memory_format=torch.channels_last), rep)


@pytest.mark.parametrize("name", ["seed-cnn", "vit-tiny"])
def test_unknown_representation_is_a_config_error(name: str) -> None:
    encoder = create_encoder(name, image_size=32)
    with pytest.raises(ConfigError, match="choose one of: final"):
        encoder.represent(torch.randn(2, 3, 32, 32), "nope")
    with pytest.raises(ConfigError, match="'nope'"):
        encoder.representation_dim("nope")


@pytest.mark.parametrize("size", [8, 28, 32, 64, 96])
def test_seed_cnn_accepts_any_size(size: int) -> None:
    encoder = create_encoder("seed-cnn", image_size=size)
    with torch.no_grad():
        assert encoder(torch.randn(2, 3, size, size)).shape == (2, 256)
    # Still the seed's network: four convs 3->64->128->256->512, no BatchNorm, fc1 from 512*4*4 to 256.
    convs = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 64), (64, 128), (128, 256), (256, 512)]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in encoder.modules())
    fc = [m for m in encoder.modules() if isinstance(m, torch.nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fc] == [(512 * 4 * 4, 256)]


def test_small_cnn_has_batch_norm_and_works_at_28px() -> None:
    encoder = create_encoder("small-cnn", image_size=28)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in encoder.modules())
    assert encoder(torch.randn(2, 3, 28, 28)).shape == (2, 256)


def _stem_conv(encoder: Encoder) -> torch.nn.Conv2d:
    return next(m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d))


@pytest.mark.parametrize(
    ("size", "small_stem", "expect_small"),
    [(32, None, True), (64, None, True), (96, None, False), (32, False, False), (96, True, True)],
)
def test_resnet_stem_choice(size: int, small_stem: bool | None, expect_small: bool) -> None:
    encoder = create_encoder("resnet18", image_size=size, small_stem=small_stem)
    conv = _stem_conv(encoder)
    assert conv.kernel_size == ((3, 3) if expect_small else (7, 7))
    assert conv.stride == ((1, 1) if expect_small else (2, 2))
    has_maxpool = any(isinstance(m, torch.nn.MaxPool2d) for m in encoder.modules())
    assert has_maxpool is not expect_small


def test_resnet_never_downloads_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_download(*args, **kwargs):
        raise AssertionError("an encoder tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    create_encoder("resnet18", image_size=32)


def test_vit_patch_size_follows_image_size() -> None:
    from workbench.models.vit import choose_patch_size

    assert choose_patch_size(32) == 4
    assert choose_patch_size(64) == 4
    assert choose_patch_size(224) == 16
    assert choose_patch_size(30) in (3, 5)  # 4 does not divide 30: the closest divisor
    with pytest.raises(ConfigError, match="97 px"):
        create_encoder("vit-tiny", image_size=97)
    encoder = create_encoder("vit-tiny", image_size=32)
    with pytest.raises(ValueError, match="built for 32 px"):
        encoder(torch.randn(1, 3, 48, 48))


def test_unknown_encoder_is_a_config_error_listing_choices() -> None:
    with pytest.raises(ConfigError, match="Unknown encoder 'x'; choose one of: .*seed-cnn"):
        create_encoder("x")
    with pytest.raises(ConfigError):
        encoder_description("x")


def test_too_small_images_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="at least 8 px"):
        create_encoder("seed-cnn", image_size=4)


def test_duplicate_registration_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_encoder("seed-cnn", "again")(lambda size, stem: None)


def test_auto_representation_is_each_encoders_measured_default():
    small = create_encoder("small-cnn", image_size=32)
    assert small.resolve_representation("auto") == "stage3-grid"
    x = torch.randn(2, 3, 32, 32)
    assert small.represent(x, "auto").shape == (2, small.representation_dim("stage3-grid")) == (2, 16 * 128)
    assert create_encoder("resnet18", image_size=32).resolve_representation("auto") == "final"

"""decode: every odd-but-valid image becomes the RGB picture a user would see; every broken one a reason."""

from __future__ import annotations

import os
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hostile_folder import BLUE, GREEN, RED, exif_rotated_jpeg, noise, png_bytes
from PIL import Image, ImageFile

from workbench.data import DecodeError, decode_image, open_image
from workbench.data.decode import decode_with_info


def rgb_at(path: Path) -> np.ndarray:
    return np.asarray(open_image(path)).astype(int)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    exif_rotated_jpeg(tmp_path / "r.jpg")  # stored 40x20, left red / right blue, orientation 6
    im = open_image(tmp_path / "r.jpg")
    assert im.size == (20, 40)  # displayed portrait
    a = np.asarray(im).astype(int)
    assert np.abs(a[:18] - RED).max() < 40  # rotated 90° clockwise: the left (red) half is now on top
    assert np.abs(a[22:] - BLUE).max() < 40
    info = decode_with_info(tmp_path / "r.jpg", 8)
    assert (info.width, info.height) == (20, 40)  # original size reported after orientation


def test_16_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    a = np.array([[0, 32768, 65535, 1000]], dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / "g.png")
    assert Image.open(tmp_path / "g.png").mode == "I;16"
    got = rgb_at(tmp_path / "g.png")[0, :, 0]
    assert list(got) == [0, 128, 255, 4]  # 1000/65535*255 = 3.9: clipping would give 255


def test_float_and_int32_tiffs(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32)).save(tmp_path / "unit.tif")
    assert list(rgb_at(tmp_path / "unit.tif")[0, :, 1]) == [0, 128, 255]  # 0..1 floats map to 0..255
    Image.fromarray(np.array([[-2.0, 0.0, 2.0, np.nan]], np.float32)).save(tmp_path / "wide.tif")
    assert list(rgb_at(tmp_path / "wide.tif")[0, :, 0]) == [0, 128, 255, 128]  # min..max; NaN -> 0 -> mid
    Image.fromarray(np.array([[0, 65535]], np.int32)).save(tmp_path / "i.tif")
    assert Image.open(tmp_path / "i.tif").mode == "I"
    assert list(rgb_at(tmp_path / "i.tif")[0, :, 2]) == [0, 255]


def test_cmyk_palette_alpha_and_grayscale(tmp_path: Path) -> None:
    Image.new("CMYK", (8, 8), (0, 255, 0, 0)).save(tmp_path / "c.jpg")
    assert np.abs(rgb_at(tmp_path / "c.jpg") - (255, 0, 255)).max() < 8  # magenta

    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.paste(0, (0, 0, 4, 8))
    pal.save(tmp_path / "p.png", transparency=0)
    a = rgb_at(tmp_path / "p.png")
    assert (a[:, :4] == 255).all() and (a[:, 4:] == RED).all()  # transparent black -> white background

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, 4:] = (0, 0, 255, 255)
    rgba[:, :4] = (0, 0, 0, 0)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    a = rgb_at(tmp_path / "a.png")
    assert (a[:, :4] == 255).all() and (a[:, 4:] == BLUE).all()

    Image.new("LA", (4, 4), (10, 255)).save(tmp_path / "la.png")
    assert (rgb_at(tmp_path / "la.png") == 10).all()
    Image.new("L", (4, 4), 77).save(tmp_path / "l.png")
    assert (rgb_at(tmp_path / "l.png") == 77).all()
    Image.new("1", (4, 4), 1).save(tmp_path / "b.bmp")
    assert (rgb_at(tmp_path / "b.bmp") == 255).all()


def test_animated_gif_gives_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), GREEN), Image.new("RGB", (8, 8), BLUE)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=50)
    assert (rgb_at(tmp_path / "a.gif") == GREEN).all()


def test_decode_image_resizes_shorter_side_and_centre_crops(tmp_path: Path) -> None:
    a = np.zeros((30, 90, 3), np.uint8)
    a[:, :30], a[:, 30:60], a[:, 60:] = RED, GREEN, BLUE
    Image.fromarray(a).save(tmp_path / "wide.png")
    out = decode_image(tmp_path / "wide.png", 12)
    assert out.shape == (12, 12, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.abs(out[:, 1:-1].astype(int) - GREEN).max() <= 2  # only the centre third survives the crop

    Image.new("RGB", (1, 1), (10, 20, 30)).save(tmp_path / "one.png")
    tiny = decode_image(tmp_path / "one.png", 7)
    assert tiny.shape == (7, 7, 3) and (tiny == (10, 20, 30)).all()


def test_downscaling_is_antialiased(tmp_path: Path) -> None:
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::2] = 255  # 1-px stripes: a point-sampled resize would alias to all black or all white
    Image.fromarray(stripes).save(tmp_path / "s.png")
    out = decode_image(tmp_path / "s.png", 8)
    assert np.abs(out.astype(int) - 127).max() < 20


def test_large_jpeg_draft_decode_matches_full_decode(tmp_path: Path) -> None:
    big = Image.fromarray(np.kron(np.asarray(noise(16)), np.ones((32, 32, 1), np.uint8)))  # 512 px blocks
    big.save(tmp_path / "big.jpg", quality=95)
    fast = decode_image(tmp_path / "big.jpg", 16).astype(int)
    full = np.asarray(open_image(tmp_path / "big.jpg").resize((16, 16), Image.Resampling.BICUBIC)).astype(int)
    assert np.abs(fast - full).mean() < 6
    assert decode_with_info(tmp_path / "big.jpg", 16).width == 512  # original size, not the draft size


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.png", b"", "empty file (0 bytes)"),
        ("text.png", b"hello, I am text\n", "not an image (cannot identify format)"),
        ("half.png", png_bytes(noise())[:400], "truncated image file"),
        ("half.jpg", png_bytes(noise(), "JPEG")[:800], "truncated image file"),
    ],
)
def test_broken_files_raise_a_reason(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(DecodeError) as e:
        decode_image(tmp_path / name, 8)
    assert str(e.value) == reason
    assert not ImageFile.LOAD_TRUNCATED_IMAGES  # never flipped globally


@pytest.mark.parametrize("side", [12, 20])  # 144 px: Pillow only warns (1x-2x the limit); 400 px: it raises
def test_decompression_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: int) -> None:
    noise(side).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(DecodeError, match="too large"):
        decode_image(tmp_path / "bomb.png", 8)


def test_png_header_claiming_a_huge_size_is_refused(tmp_path: Path) -> None:
    data = bytearray(png_bytes(noise(4)))
    data[16:24] = (100_000).to_bytes(4, "big") * 2  # IHDR width and height: 10^10 pixels
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # keep the IHDR checksum valid
    (tmp_path / "huge.png").write_bytes(bytes(data))
    with pytest.raises(DecodeError, match="too large"):
        decode_image(tmp_path / "huge.png", 8)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="needs POSIX permissions, not root")
def test_unreadable_file(tmp_path: Path) -> None:
    noise(4).save(tmp_path / "locked.png")
    (tmp_path / "locked.png").chmod(0)
    try:
        with pytest.raises(DecodeError, match="permission denied"):
            decode_image(tmp_path / "locked.png", 8)
    finally:
        (tmp_path / "locked.png").chmod(0o644)


def test_permission_denied_is_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    noise(4).save(tmp_path / "locked.png")

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("workbench.data.decode.open", denied, raising=False)  # works even when run as root
    with pytest.raises(DecodeError, match=r"^unreadable \(permission denied\)$"):
        decode_image(tmp_path / "locked.png", 8)


def test_bad_size_is_a_value_error(tmp_path: Path) -> None:
    noise(4).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="size must be >= 1, got 0"):
        decode_image(tmp_path / "a.png", 0)

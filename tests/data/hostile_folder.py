"""Test helper (not a test module): a hostile image folder with every kind of file a real folder throws at us."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def png_bytes(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def noise(size: int = 64, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


def exif_rotated_jpeg(path: Path) -> None:
    """A 40x20 JPEG, left half red and right half blue, tagged orientation 6 (display rotated 90° clockwise)."""
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = RED
    a[:, 20:] = BLUE
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(a).save(path, quality=95, exif=exif.tobytes())


def can_symlink(tmp: Path) -> bool:
    try:
        (tmp / ".probe").symlink_to(tmp)
    except (OSError, NotImplementedError):
        return False
    (tmp / ".probe").unlink()
    return True


# name -> expected reason fragment (None: must decode)
HOSTILE_BAD = {
    "truncated.png": "truncated",
    "truncated.jpg": "truncated",
    "empty.png": "empty file",
    "text.png": "not an image",
}
HOSTILE_GOOD = [
    "cmyk.jpg",
    "exif6.jpg",
    "float.tif",
    "gray16.png",
    "int32.tif",
    "one.png",
    "palette.png",
    "rgba.png",
    "sub/anim.gif",
    "sub/good.PNG",
]


def make_hostile_folder(root: Path) -> Path:
    """Write the hostile folder; HOSTILE_GOOD decode, HOSTILE_BAD are skipped, hidden and loops are ignored."""
    root.mkdir(parents=True)
    (root / "sub").mkdir()
    full = png_bytes(noise())
    (root / "truncated.png").write_bytes(full[: len(full) // 2])
    jpeg = png_bytes(noise(), "JPEG")
    (root / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "empty.png").write_bytes(b"")
    (root / "text.png").write_text("this is not an image\n")
    Image.fromarray((np.arange(16 * 16).reshape(16, 16) * 256).astype(np.uint16)).save(root / "gray16.png")
    Image.new("CMYK", (16, 16), (0, 255, 0, 0)).save(root / "cmyk.jpg")
    pal = Image.new("P", (16, 16), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.paste(0, (0, 0, 8, 16))
    pal.save(root / "palette.png", transparency=0)  # left half transparent, right half red
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[:, 8:] = (0, 0, 255, 255)
    Image.fromarray(rgba).save(root / "rgba.png")  # left half fully transparent, right half blue
    exif_rotated_jpeg(root / "exif6.jpg")
    Image.new("RGB", (1, 1), GREEN).save(root / "one.png")
    Image.fromarray(np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)).save(root / "float.tif")
    Image.fromarray(np.arange(256, dtype=np.int32).reshape(16, 16) * 256).save(root / "int32.tif")
    frames = [Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), BLUE)]
    frames[0].save(root / "sub" / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    noise(16).save(root / "sub" / "good.PNG")
    noise(16).save(root / ".hidden.png")
    (root / ".thumbs").mkdir()
    noise(16).save(root / ".thumbs" / "t.png")
    (root / "notes.txt").write_text("not an image extension: ignored")
    if can_symlink(root.parent):
        (root / "sub" / "loop").symlink_to("..", target_is_directory=True)
    return root


def folder_fingerprint(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of content (or link target) for everything under root, links not followed."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out
